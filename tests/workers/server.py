"""``python -m webpy --processes N`` as a subprocess, its log read as it is written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPOSITORY = str(Path(__file__).resolve().parents[2])
APP = f"{Path(__file__).with_name('recording_app.py')}:routes"
TIMEOUT = 20.0


class Workers:
    """The command line serving the recording app; `log` collects its stderr lines."""

    def __init__(self, record: Path, transport: str, *arguments: str, app: str = APP) -> None:
        self.record = record
        paths = [REPOSITORY, *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths),
               "WEBPY_TEST_RECORD": str(record)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webpy", "--app", app, "-p", "0", "-b", "127.0.0.1",
             "--log-level", "info", "--transport", transport, *arguments],
            cwd=REPOSITORY, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        assert self.process.stdout is not None
        banner = self.process.stdout.readline()
        if " on http" not in banner:
            self.process.kill()
            raise AssertionError(f"the server did not start: {banner!r} {self.log}")
        host, _, port = banner.split("://")[1].split("/")[0].rpartition(":")
        self.address = (host, int(port))

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.log.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.log.append("")  # end of the log
            self._changed.notify_all()

    def lines_with(self, text: str) -> list[str]:
        with self._changed:
            return [line for line in self.log if text in line]

    def wait_for(self, text: str, count: int = 1) -> list[str]:
        """The log's lines containing `text`, once there are `count` of them."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: len([line for line in self.log if text in line]) >= count
                or self.process.poll() is not None, TIMEOUT)
            lines = [line for line in self.log if text in line]
        assert found and len(lines) >= count, f"no {count} lines with {text!r}: {self.log[-20:]}"
        return lines

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> int:
        """SIGTERM; the exit status."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            self.process.wait(TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(TIMEOUT)
        return self.process.returncode

    def handled(self) -> list[tuple[str, int]]:
        """Every request a worker handled, as (id, pid), in the order they were recorded."""
        if not self.record.exists():
            return []
        return [(tag, int(pid)) for tag, pid in
                (line.split() for line in self.record.read_text().splitlines())]
