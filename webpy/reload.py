"""``python -m webpy --reload``: serve, and serve again when the application's files change.

Theory of operation
-------------------
This process (the reloader) serves nothing: it binds the listening socket
once and runs the ordinary command line as a child process serving that
socket (``--fd``). When a watched file changes, it first compiles the
changed Python files: a syntax error is printed and the running server is
left alone. Otherwise it starts a new child on the same socket and waits
for its "Serving" line; only then does it stop the old child (SIGTERM, a
graceful stop). Connections arriving meanwhile wait in the socket's queue,
which the reloader holds, so none is refused; and an application that fails
to start (an import error) leaves the old server serving, its error printed.

Watching uses `watchfiles` when it is installed (``pip install
'webpy[reload]'``), else a stat of every watched file a few times a second.
What is watched: files under the application's directory matching
``--reload-include`` patterns (default ``*.py``) and none of
``--reload-exclude`` (matched on file names and on paths relative to it).
"""

from __future__ import annotations

import fnmatch
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

#: The reloader's own options, not passed on to the serving child.
_OWN_FLAGS = {"--reload": 0, "--reload-include": 1, "--reload-exclude": 1, "--uds": 1,
              "--uds-mode": 1}
#: How often the stat watcher looks, in seconds.
POLL_INTERVAL = 0.25
_SKIPPED_DIRECTORIES = {".git", "__pycache__", ".venv", "venv", "node_modules", ".tox"}


def child_arguments(argv: Sequence[str], fd: int) -> list[str]:
    """`argv` without the reloader's options, serving the inherited descriptor `fd`."""
    kept: list[str] = []
    skip = 0
    for argument in argv:
        if skip:
            skip -= 1
            continue
        name = argument.split("=", 1)[0]
        if name in _OWN_FLAGS:
            skip = _OWN_FLAGS[name] if "=" not in argument else 0
            continue
        kept.append(argument)
    return [*kept, "--fd", str(fd)]


class Watched:
    """Which files under `root` are the application's: `include` and not `exclude` patterns."""

    def __init__(self, root: str, include: Sequence[str], exclude: Sequence[str]) -> None:
        self.root = Path(root).resolve()
        self.include = list(include) or ["*.py"]
        self.exclude = list(exclude)

    def matches(self, path: Path) -> bool:
        relative = str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)
        names = (path.name, relative)
        return (any(fnmatch.fnmatch(name, pattern) for pattern in self.include for name in names)
                and not any(fnmatch.fnmatch(name, pattern)
                            for pattern in self.exclude for name in names))

    def files(self) -> Iterator[Path]:
        for directory, subdirectories, names in os.walk(self.root):
            subdirectories[:] = [name for name in subdirectories
                                 if name not in _SKIPPED_DIRECTORIES]
            for name in names:
                path = Path(directory, name)
                if self.matches(path):
                    yield path


def watch(watched: Watched, changed: Callable[[list[Path]], None], stop: threading.Event,
          ready: threading.Event) -> None:
    """Call `changed(paths)` for each batch of changes until `stop` is set (blocks).

    `ready` is set once changes are being watched: a change made after it is seen.
    """
    try:
        import watchfiles  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        _poll(watched, changed, stop, ready)
        return
    # An empty batch every rust_timeout ms: the first one says the watch is set up.
    for changes in watchfiles.watch(watched.root, stop_event=stop, yield_on_timeout=True,
                                    rust_timeout=500,
                                    watch_filter=lambda _, path: watched.matches(Path(path))):
        ready.set()
        if changes:
            changed(sorted(Path(path) for _, path in changes))


def _poll(watched: Watched, changed: Callable[[list[Path]], None],
          stop: threading.Event, ready: threading.Event) -> None:
    def snapshot() -> dict[Path, tuple[int, int]]:
        seen = {}
        for path in watched.files():
            try:
                status = path.stat()
            except OSError:
                continue
            seen[path] = (status.st_mtime_ns, status.st_size)
        return seen

    before = snapshot()
    ready.set()
    while not stop.wait(POLL_INTERVAL):
        now = snapshot()
        different = sorted(path for path in before.keys() | now.keys()
                           if before.get(path) != now.get(path))
        before = now
        if different:
            changed(different)


def syntax_error(paths: Sequence[Path]) -> str | None:
    """The first syntax error among the Python files `paths`, as one line; None if none."""
    for path in paths:
        if path.suffix != ".py" or not path.exists():
            continue
        try:
            compile(path.read_bytes(), str(path), "exec")
        except SyntaxError as error:
            return f"{error.filename}, line {error.lineno}: {error.msg}"
    return None


class Reloader:
    """The serving child and its replacement; see the module docstring."""

    def __init__(self, argv: Sequence[str], listener: Any) -> None:
        self.arguments = child_arguments(argv, listener.fileno())
        self.listener = listener
        self.child: subprocess.Popen[str] | None = None
        self.lock = threading.Lock()
        #: The serving child's "Serving ... on ..." line.
        self.banner = ""

    def start(self) -> bool:
        """Start a new child and, once it serves, stop the old one; False if it failed."""
        child = subprocess.Popen([sys.executable, "-m", "webpy", *self.arguments],
                                 stdout=subprocess.PIPE, text=True,
                                 pass_fds=(self.listener.fileno(),))
        assert child.stdout is not None
        banner = child.stdout.readline()
        if " on " not in banner:
            child.wait()
            return False
        old, self.child = self.child, child
        threading.Thread(target=_copy, args=(child.stdout,), daemon=True).start()
        self.banner = banner.rstrip("\n").replace("(Ctrl-C", "with --reload (Ctrl-C")
        if old is not None:
            _stop(old)
        return True

    def changed(self, paths: list[Path]) -> None:
        names = ", ".join(path.name for path in paths[:3]) + (" ..." if len(paths) > 3 else "")
        error = syntax_error(paths)
        with self.lock:
            if error is not None:
                print(f"Not reloading: syntax error in {error}; the server runs on",
                      file=sys.stderr, flush=True)
            elif self.start():
                print(f"Reloaded after a change to {names}", flush=True)
            else:
                print(f"Not reloading: the changed application did not start ({names}); "
                      f"the server runs on", file=sys.stderr, flush=True)

    def stop(self) -> None:
        with self.lock:
            if self.child is not None:
                _stop(self.child)


def _copy(stream: Any) -> None:
    for line in stream:
        print(line, end="", flush=True)


def _stop(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGTERM)
    child.wait()
