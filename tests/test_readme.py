"""Every Python block in README.md runs as written; its command-line options are --help's.

How a README block is run
-------------------------
Each ```python block is saved to a file and run with ``python`` in a
subprocess (current directory: a fresh temporary one; the checkout on
PYTHONPATH, so ``from examples.keyvalue import routes`` works), with two
changes a reader would make too:

- the ports 8000 and 8080 become 0, so the system picks a free port;
- ``socket.listen`` is wrapped to report each listening address to the
  test, which is how it knows a server is ready (no sleeping, no polling).

A block that exits must exit with status 0 and no traceback. A block that
starts a server must answer a ``GET /`` with any HTTP status below 500,
then stop on Ctrl-C (SIGINT) with status 0 and no traceback: that is what a
user trying the snippet sees.

Conventions for README authors
------------------------------
An HTML comment on the line just before the opening fence (invisible on
GitHub) changes how a block is run:

``<!-- readme-test: continues -->``
    The block is a fragment of the previous Python block: it runs after it,
    as one program (the previous block then does not run on its own).
``<!-- readme-test: requires MODULE[, MODULE...] -->``
    The block needs optional modules (an extra, a tool); without them the
    test skips, naming them. Under CI a skip fails, so add the package to
    the ``test`` extra in pyproject.toml.
``<!-- readme-test: not run: REASON -->``
    The block is not a program (a signature, a file of the user's own that
    imports modules of theirs); REASON says why, and is required.

Prefer a block that runs: define the handler it uses, serve it at the end.
The "Options:" paragraph of "The command line" section must list every
long option of ``python -m webpy --help`` (and nothing else): add new
options there.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from webpy.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: Bounds that turn a hang into a failure; never reached when things work.
TIMEOUT = 30.0

#: Runs a block with `socket.listen` reporting each listening address on a pipe.
RUNNER = """
import os, runpy, socket, sys
ready = int(os.environ.pop("README_TEST_READY_FD"))
listen = socket.socket.listen
def announcing_listen(self, *args):
    listen(self, *args)
    host, port = self.getsockname()[:2]
    os.write(ready, f"{host} {port}\\n".encode())
socket.socket.listen = announcing_listen
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

MARKER = re.compile(r"<!--\s*readme-test:\s*(?P<spec>.*?)\s*-->")


@dataclass(frozen=True, slots=True)
class Block:
    """A runnable program made of one README block, or several joined by ``continues``."""

    name: str
    code: str
    requires: tuple[str, ...] = ()


def readme_blocks() -> tuple[list[Block], list[tuple[str, str]]]:
    """The README's Python programs, and the (name, reason) of blocks marked not run."""
    lines = README.read_text(encoding="utf-8").splitlines()
    programs: list[Block] = []
    not_run: list[tuple[str, str]] = []
    section = "top"
    index = 0
    while index < len(lines):
        line = lines[index]
        if index + 1 < len(lines) and re.fullmatch(r"-{3,}|={3,}", lines[index + 1]):
            section = line.strip()
        if line.strip() != "```python":
            index += 1
            continue
        end = lines.index("```", index + 1)
        code = "\n".join(lines[index + 1:end]) + "\n"
        marker = MARKER.fullmatch(lines[index - 1].strip()) if index else None
        spec = marker.group("spec") if marker else ""
        name = f"{section} (line {index + 1})"
        if spec == "continues":
            assert programs, f"{name}: 'continues' but no Python block before it"
            previous = programs.pop()
            programs.append(Block(f"{previous.name} + line {index + 1}",
                                  previous.code + code, previous.requires))
        elif spec.startswith("requires "):
            modules = tuple(module.strip() for module in spec[len("requires "):].split(","))
            programs.append(Block(name, code, modules))
        elif spec.startswith("not run:"):
            reason = spec[len("not run:"):].strip()
            assert reason, f"{name}: 'not run' needs a reason"
            not_run.append((name, reason))
        else:
            assert not spec, f"{name}: unknown readme-test marker {spec!r}"
            programs.append(Block(name, code))
        index = end + 1
    return programs, not_run


PROGRAMS, NOT_RUN = readme_blocks()


def free_ports(code: str) -> str:
    return re.sub(r"\b(8000|8080)\b", "0", code)


@pytest.mark.parametrize("block", PROGRAMS, ids=[block.name for block in PROGRAMS])
def test_readme_block_runs(block: Block, tmp_path: Path) -> None:
    for module in block.requires:
        pytest.importorskip(module, reason=f"the README block needs {module}")
    program = tmp_path / "snippet.py"
    program.write_text(free_ports(block.code), encoding="utf-8")
    ready_read, ready_write = os.pipe()
    environment = {**os.environ, "README_TEST_READY_FD": str(ready_write),
                   "PYTHONPATH": os.pathsep.join(
                       [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen([sys.executable, "-c", RUNNER, str(program)], cwd=tmp_path,
                               env=environment, pass_fds=[ready_write],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(ready_write)
    try:
        # Either a listening address, or end-of-file: the program exited without serving.
        readable, _, _ = select.select([ready_read], [], [], TIMEOUT)
        assert readable, f"the block neither served nor exited within {TIMEOUT} s"
        announced = os.read(ready_read, 4096).decode()
        if announced:
            host, port = announced.split("\n", 1)[0].split()
            host = f"[{host}]" if ":" in host else host
            try:
                response = httpx.get(f"http://{host}:{port}/", timeout=TIMEOUT)
            except httpx.TransportError:
                # Only a block that served briefly and closed by itself (a `with` block)
                # may refuse: it must have ended, and is judged by its exit below.
                assert process.wait(timeout=TIMEOUT) is not None
            else:
                assert response.status_code < 500, response.text
                process.send_signal(signal.SIGINT)
        output, errors = process.communicate(timeout=TIMEOUT)
    finally:
        os.close(ready_read)
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, f"{output}\n{errors}"
    assert "Traceback" not in errors, errors


def test_blocks_not_run_say_why() -> None:
    for name, reason in NOT_RUN:
        assert len(reason) > 10, (name, reason)


def section(title: str) -> str:
    """The README's text under the heading `title`, up to the next heading."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(title) + 2
    end = next((index - 1 for index in range(start + 1, len(lines))
                if re.fullmatch(r"-{3,}|={3,}", lines[index])), len(lines))
    return "\n".join(lines[start:end])


def test_the_readme_lists_every_command_line_option_and_no_other() -> None:
    paragraph = section("The command line").split("\nOptions:", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", paragraph))
    parser_options = {flag for action in build_parser()._actions
                      for flag in action.option_strings if flag.startswith("--")}
    assert listed == parser_options, (
        f"in --help but not in the README's command-line options: "
        f"{sorted(parser_options - listed)}; in the README only: {sorted(listed - parser_options)}")
