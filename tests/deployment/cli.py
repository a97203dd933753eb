"""``python -m webpy`` with deployment options, as a subprocess a test starts and stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPOSITORY = str(Path(__file__).resolve().parents[2])
APP = f"{Path(__file__).with_name('whoami_app.py')}:routes"
TIMEOUT = 20.0


def environment(**extra: str) -> dict[str, str]:
    paths = [REPOSITORY, *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


def command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "webpy", "--app", APP, *arguments]


class CLI:
    """The command line serving; ready once it prints its "Serving ... on ..." line."""

    def __init__(self, *arguments: str, prefix: tuple[str, ...] = (),
                 pass_fds: tuple[int, ...] = (), env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [*prefix, *command(*arguments)], cwd=REPOSITORY, env=env or environment(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=pass_fds)
        assert self.process.stdout is not None
        self.banner = self.process.stdout.readline()
        if " on " not in self.banner:
            _, errors = self.process.communicate(timeout=TIMEOUT)
            raise AssertionError(f"the server did not start: {self.banner!r} {errors}")
        self.errors = ""

    def stop(self) -> int:
        """SIGTERM; the exit status once stopped (stderr, the log, in `errors`)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            _, self.errors = self.process.communicate(timeout=TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
        return self.process.returncode

    def __enter__(self) -> CLI:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The command line run to completion (for mistakes, which exit at once)."""
    return subprocess.run(command(*arguments), cwd=REPOSITORY, env=environment(),
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
