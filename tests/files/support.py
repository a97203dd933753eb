"""What the static-file tests share besides fixtures."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from webpy.transports.memory import Client

#: Deterministic, not compressible, not text: catches any byte the server mangles.
BINARY = bytes((n * 7919 + n // 256) % 256 for n in range(300_000))
SECRET = b"the secret outside the root\n"

ClientFactory = Callable[..., Client]

#: The checkout under test, so ``python -m webpy`` runs this code from any directory.
REPOSITORY = str(Path(__file__).resolve().parents[2])
#: How long a signalled server may take to exit before the test calls it a hang.
CLI_EXIT_TIMEOUT = 10.0


def leftovers(directory: Path) -> list[str]:
    """Temporary upload files left in `directory` (there should be none)."""
    return [name for name in os.listdir(directory) if name.endswith(".part")]


def parse_byteranges(content_type: str, body: bytes) -> list[tuple[str, str, bytes]]:
    """The parts of a multipart/byteranges body: (Content-Type, Content-Range, data) each.

    Parsed by hand, strictly, so that a framing mistake (a missing CRLF, a
    wrong boundary) fails the test instead of being forgiven.
    """
    match = re.fullmatch(r"multipart/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})",
                         content_type)
    assert match, content_type
    delimiter = b"--" + match.group(1).encode()
    assert body.startswith(delimiter + b"\r\n")
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n")
    inner = body[len(delimiter) + 2: -len(delimiter) - 6]
    parts = []
    for chunk in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, separator, data = chunk.partition(b"\r\n\r\n")
        assert separator, chunk[:200]
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
        parts.append((fields[b"Content-Type"].decode(), fields[b"Content-Range"].decode(), data))
    return parts


class CommandLineServer:
    """``python -m webpy ...`` running in a subprocess, serving on `url` (no trailing slash).

    Readiness comes from the process itself: it prints its URL once its socket
    is listening, so the first line of its output is the signal to go.
    """

    def __init__(self, arguments: list[str | Path], cwd: Path, log: Path) -> None:
        self._log = open(log, "wb")  # noqa: SIM115 -- closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webpy", *map(str, arguments)],
            cwd=cwd, stdout=subprocess.PIPE, stderr=self._log,
            env={**os.environ, "PYTHONPATH": REPOSITORY + os.pathsep
                 + os.environ.get("PYTHONPATH", "")},
        )
        assert self.process.stdout is not None
        self.banner = self.process.stdout.readline().decode()
        match = re.search(r" on (https?://\S+?)/? ", self.banner)
        if match is None:
            self.stop()
            raise RuntimeError(f"the server did not start: {self.banner!r}, "
                               f"{log.read_text(errors='replace')!r}")
        self.url = match.group(1)

    def memory_kib(self, field: str) -> int:
        """A memory figure of the server process from /proc, e.g. VmRSS or VmHWM, in KiB."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Signal the server and return its exit status (it must exit within the timeout)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signum)
            return self.process.wait(timeout=CLI_EXIT_TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self._log.close()


@contextlib.contextmanager
def command_line_server(*arguments: str | Path, cwd: Path, log: Path
                        ) -> Iterator[CommandLineServer]:
    """Run ``python -m webpy --bind 127.0.0.1 --port 0 ARGUMENTS`` for the block."""
    server = CommandLineServer(["--bind", "127.0.0.1", "--port", "0", *arguments], cwd, log)
    try:
        yield server
    finally:
        server.stop()
