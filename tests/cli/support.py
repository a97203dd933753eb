"""Running ``python -m webpy`` as a user would: a subprocess, its output, its exit status."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

#: The checkout under test, put on PYTHONPATH so the subprocess runs this code.
REPOSITORY = str(Path(__file__).resolve().parents[2])
#: Generous bounds that turn a hang into a failure; never reached when things work.
TIMEOUT = 20.0


def environment(**extra: str) -> dict[str, str]:
    paths = [REPOSITORY, *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


def run_cli(*arguments: str | Path,
            cwd: Path | str = REPOSITORY) -> subprocess.CompletedProcess[str]:
    """Run ``python -m webpy ARGUMENTS`` to completion (for commands that fail or exit)."""
    return subprocess.run([sys.executable, "-m", "webpy", *map(str, arguments)], cwd=cwd,
                          env=environment(), capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *culprits: str) -> str:
    """The command failed with status 2 and one line on stderr naming every culprit."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    [line] = lines
    assert line.startswith("webpy: error: "), line
    for culprit in culprits:
        assert culprit in line, (culprit, line)
    assert result.stdout == ""
    return line


def free_port() -> int:
    """A port nothing listens on right now (for commands that take no port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """``python -m webpy ARGUMENTS`` serving in the background.

    Ready once it prints its "Serving ... on URL" line: the process prints
    it only after its socket listens. `stop()` signals it and collects the
    rest of its output.
    """

    def __init__(self, *arguments: str | Path, cwd: Path | str = REPOSITORY,
                 env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webpy", *map(str, arguments)], cwd=cwd,
            env=env or environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        assert self.process.stdout is not None
        self.banner = self.process.stdout.readline()
        match = re.search(r" on (https?://\S+?)/?[ ,]", self.banner)
        if match is None:
            _, errors = self.process.communicate(timeout=TIMEOUT)
            raise AssertionError(f"the server did not start: {self.banner!r} {errors}")
        self.url = match.group(1)
        self.output = ""
        self.errors = ""
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send `signum`; wait for the exit; return the status (output in `output`, `errors`)."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        try:
            if self.process.poll() is None:
                self.process.send_signal(signum)
            self.output, self.errors = self.process.communicate(timeout=TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
        return self.process.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
