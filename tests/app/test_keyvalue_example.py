"""examples/keyvalue.py, the original README's example, works as written.

Driven twice: its routes through the memory client (the example is run with
`HTTPServer` replaced, so it binds nothing), and the script itself as a
process, stopped with Ctrl-C. The process binds a free port instead of 8080
(the only change made to it), so the test runs wherever 8080 is taken.
"""

from __future__ import annotations

import os
import runpy
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

import webpy
from webpy.transports.memory import Client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keyvalue.py"
#: Bounds on waiting for the process; only reached if it hangs.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 30.0  # a hang, not a slow stop: stop() itself waits at most ~6 s


class RecordingServer:
    """Stands in for `HTTPServer`: keeps what the example passes, serves nothing."""

    created: ClassVar[list[RecordingServer]] = []

    def __init__(self, address: tuple[str, int], routes: Any, *args: Any, **kwargs: Any) -> None:
        self.address = address
        self.routes = routes
        self.started = False
        RecordingServer.created.append(self)

    def start(self) -> None:
        self.started = True


@pytest.fixture
def example_routes(monkeypatch: pytest.MonkeyPatch) -> Any:
    RecordingServer.created = []
    monkeypatch.setattr(webpy, "HTTPServer", RecordingServer)
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    [server] = RecordingServer.created
    assert server.address == ("localhost", 8080)
    assert server.started
    return server.routes


def test_importing_the_example_starts_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # What `python -m webpy --app examples.keyvalue:routes` and the README's client do.
    RecordingServer.created = []
    monkeypatch.setattr(webpy, "HTTPServer", RecordingServer)
    example = runpy.run_path(str(EXAMPLE), run_name="keyvalue")
    assert RecordingServer.created == []
    assert Client(example["routes"]).put("/k", b"v").text == "Accepted"


def test_example_stores_returns_and_deletes_values(example_routes: Any) -> None:
    client = Client(example_routes)
    assert client.get("/greeting").status == 404
    stored = client.put("/greeting", b"hello there")
    assert (stored.status, stored.text) == (200, "Accepted")
    fetched = client.get("/greeting")
    assert (fetched.status, fetched.body) == (200, b"hello there")
    assert client.head("/greeting").headers["Content-Length"] == "11"
    deleted = client.delete("/greeting")
    assert (deleted.status, deleted.text) == (200, "Deleted")
    assert client.get("/greeting").status == 404
    assert client.delete("/greeting").status == 404


def test_example_keys_are_whole_decoded_paths(example_routes: Any) -> None:
    client = Client(example_routes)
    client.put("/a/b%20c", b"nested")
    assert client.get("/a/b%20%63").body == b"nested"  # the same key, spelled otherwise
    assert client.get("/a").status == 404
    assert client.options("/a").headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PUT"
    assert client.post("/a", b"x").status == 405


#: Runs the example as a script, with only its port changed to a free one (0): the
#: server it builds prints the bound port, so the test never depends on 8080 being free.
LAUNCHER = """
import runpy, sys, webpy

class AnyFreePort(webpy.HTTPServer):
    def __init__(self, address, *args, **kwargs):
        super().__init__((address[0], 0), *args, **kwargs)
        print(self.server_address[1], flush=True)

webpy.HTTPServer = AnyFreePort
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def _wait_for_port(process: subprocess.Popen[bytes]) -> int:
    """The port the example bound, or fail if it exits or prints nothing in time."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
    line = process.stdout.readline() if ready else b""
    if not line.strip().isdigit():
        process.kill()
        _, errors = process.communicate()
        pytest.fail(f"the example did not report its port ({process.returncode}): "
                    f"{errors.decode()}")
    return int(line)


def test_example_runs_as_a_script_and_stops_cleanly_on_ctrl_c() -> None:
    environment = dict(os.environ)
    root = str(EXAMPLE.parents[1])
    environment["PYTHONPATH"] = os.pathsep.join(
        [root, *filter(None, [environment.get("PYTHONPATH")])])
    process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(EXAMPLE)], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = _wait_for_port(process)
        with httpx.Client(base_url=f"http://localhost:{port}", timeout=10.0) as http:
            assert http.put("/key", content=b"value").text == "Accepted"
            assert http.get("/key").content == b"value"
            assert http.delete("/key").text == "Deleted"
            assert http.get("/key").status_code == 404
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=STOP_TIMEOUT)
        assert process.returncode == 0, errors.decode()
        assert b"Traceback" not in errors
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
