"""``python -m webpy --reload``: a changed application is served, a broken one is not.

The application is a file the test writes; the test waits for the reloader's
own lines ("Reloaded", "Not reloading") before it asks again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

REPOSITORY = str(Path(__file__).resolve().parents[2])
TIMEOUT = 20.0


def app(text: str) -> str:
    return ("import webpy as web\n\n"
            "class Hello(web.HTTPHandler):\n"
            "    def do_get(self):\n"
            f"        return 200, {text!r}\n\n"
            "routes = {'/': Hello}\n")


class Reloading:
    def __init__(self, path: Path, *arguments: str) -> None:
        paths = [REPOSITORY, *filter(None, [os.environ.get("PYTHONPATH")])]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webpy", "--app", f"{path}:routes", "--reload", "-b",
             "127.0.0.1", "-p", "0", *arguments],
            cwd=path.parent, env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        banner = self.wait_for(" on http://")
        host_port = banner.split(" on http://")[1].split("/")[0]
        self.url = f"http://{host_port}/"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def wait_for(self, text: str, count: int = 1) -> str:
        with self.changed:
            found = self.changed.wait_for(
                lambda: sum(text in line for line in self.lines) >= count, TIMEOUT)
            assert found, f"no {text!r} in {self.lines}"
            return [line for line in self.lines if text in line][count - 1]

    def get(self) -> str:
        return httpx.get(self.url, timeout=TIMEOUT).text

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def test_a_changed_application_is_served_and_a_broken_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "myapp.py"
    path.write_text(app("one"))
    server = Reloading(path)
    try:
        assert server.get() == "one"
        path.write_text(app("two"))
        server.wait_for("Reloaded after a change to myapp.py")
        assert server.get() == "two"
        path.write_text(app("three").replace("def do_get(self):", "def do_get(self)"))
        server.wait_for("Not reloading: syntax error in")
        assert server.get() == "two"  # the old server runs on
        path.write_text(app("four").replace("import webpy", "import no_such_module_here"))
        server.wait_for("Not reloading: the changed application did not start")
        assert server.get() == "two"
        path.write_text(app("five"))
        server.wait_for("Reloaded after a change to myapp.py", count=2)
        assert server.get() == "five"
    finally:
        assert server.stop() == 0


def test_excluded_files_do_not_reload(tmp_path: Path) -> None:
    path = tmp_path / "myapp.py"
    path.write_text(app("one"))
    server = Reloading(path, "--reload-exclude", "scratch_*.py")
    try:
        (tmp_path / "scratch_notes.py").write_text("x = 1\n")
        (tmp_path / "helper.py").write_text("y = 2\n")  # watched: reloads
        line = server.wait_for("Reloaded after a change to")
        assert "helper.py" in line and "scratch" not in line
    finally:
        assert server.stop() == 0
    assert not any("scratch_notes" in line for line in server.lines)
