"""SIGHUP starts workers that run the application's code as it is on disk now.

The application here is two modules in a directory of their own: `app.py`
and the `version.py` it imports. A roll after `version.py` changed serves the
new version; a roll while `app.py` has a syntax error is not done, says why,
and leaves the workers serving the version they have.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from harness import CLIENT_TIMEOUT

from .server import Workers

APP = '''
import os

import webpy as web
from version import VERSION


class Version(web.HTTPHandler):
    def do_get(self):
        return 200, f"{VERSION} {os.getpid()}"


routes = {"/": Version}
'''


def versions_served(workers: Workers, requests: int = 20) -> dict[int, str]:
    """pid -> version, from requests each on a new connection (spread over the workers)."""
    url = f"http://{workers.address[0]}:{workers.address[1]}/"
    served = {}
    for _ in range(requests):
        with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
            version, pid = client.get(url).text.split()
        served[int(pid)] = version
    return served


def test_sighup_serves_the_code_now_on_disk_and_keeps_serving_if_it_does_not_load(
        tmp_path: Path, transport: str) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "version.py").write_text('VERSION = "first"\n')
    workers = Workers(tmp_path / "record", transport, "--processes", "2", "--threads", "2",
                      app=f"{tmp_path / 'app.py'}:routes")
    try:
        assert set(versions_served(workers).values()) == {"first"}

        (tmp_path / "version.py").write_text('VERSION = "second-version"\n')
        workers.signal(signal.SIGHUP)
        workers.wait_for("restart done: worker processes")
        after_roll = versions_served(workers)
        assert set(after_roll.values()) == {"second-version"}

        (tmp_path / "app.py").write_text(APP + "def broken(:\n")
        workers.signal(signal.SIGHUP)
        [line] = workers.wait_for("restart not done")
        assert "syntax error" in line and "app.py" in line
        after_failure = versions_served(workers)
        assert set(after_failure.values()) == {"second-version"}
        assert set(after_failure) <= set(after_roll)  # the same workers, none replaced
    finally:
        assert workers.stop() == 0
    assert workers.lines_with("restart done") and len(workers.lines_with("replaces")) == 2
