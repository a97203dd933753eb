"""Starting, stopping and running the threaded server as a program."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from harness import CLIENT_TIMEOUT

import webpy as web

ServerFactory = Callable[..., web.HTTPServer]


def test_graceful_stop_lets_a_request_in_flight_finish() -> None:
    entered, release = threading.Event(), threading.Event()

    class Slow(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            entered.set()
            release.wait(CLIENT_TIMEOUT)
            return 200, "finished"

    server = web.HTTPServer(("127.0.0.1", 0), {"/": Slow}, threads=2)
    server.start()
    results: list[httpx.Response] = []
    client = threading.Thread(target=lambda: results.append(
        httpx.get(server.url, timeout=CLIENT_TIMEOUT)))
    client.start()
    assert entered.wait(CLIENT_TIMEOUT)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": CLIENT_TIMEOUT})
    stopper.start()
    assert _refused_within(server.server_address, attempts=1000)  # no longer accepting ...
    release.set()  # ... but the request in flight completes
    client.join(CLIENT_TIMEOUT)
    stopper.join(CLIENT_TIMEOUT)
    assert [response.text for response in results] == ["finished"]
    assert not stopper.is_alive()


class Hello(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, "hello"


def _stop_in_background(server: web.HTTPServer, **options: bool) -> threading.Thread:
    """Begin `server.stop`; returns once the server no longer accepts connections."""
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": CLIENT_TIMEOUT, **options})
    stopper.start()
    assert _refused_within(server.server_address, attempts=1000)
    return stopper


def _answer(sock: socket.socket) -> bytes:
    """All the server sends until it closes the connection."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_graceful_stop_serves_a_request_whose_head_is_still_arriving() -> None:
    server = web.HTTPServer(("127.0.0.1", 0), {"/": Hello}, threads=2)
    server.start()
    with socket.create_connection(server.server_address, timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t")
        # Connections are accepted in order: once a later one is answered, this one is in.
        assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).status_code == 200
        stopper = _stop_in_background(server)
        sock.sendall(b"est\r\n\r\n")
        answer = _answer(sock)
    stopper.join(CLIENT_TIMEOUT)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"\r\nconnection: close\r\n" in answer.lower()


@pytest.mark.parametrize("handing_over", [True, False])
def test_stop_closes_a_new_silent_connection_unless_another_process_takes_over(
        handing_over: bool) -> None:
    """A worker replaced in a roll (`handing_over`) still answers a client it accepted
    whose request had not arrived yet; a plain stop closes such a connection at once."""
    server = web.HTTPServer(("127.0.0.1", 0), {"/": Hello}, threads=2)
    server.start()
    with socket.create_connection(server.server_address, timeout=CLIENT_TIMEOUT) as silent:
        # Connections are accepted in order: once a later one is answered, this one is in.
        assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).status_code == 200
        stopper = _stop_in_background(server, handing_over=handing_over)
        try:
            silent.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _answer(silent)
    stopper.join(CLIENT_TIMEOUT)
    assert not stopper.is_alive()
    if handing_over:
        assert answer.startswith(b"HTTP/1.1 200 ") and b"connection: close" in answer.lower()
    else:
        assert answer == b""


def _refused_within(address: tuple[str, int], attempts: int) -> bool:
    for _ in range(attempts):
        try:
            socket.create_connection(address, timeout=CLIENT_TIMEOUT).close()
        except ConnectionRefusedError:
            return True
        except ConnectionResetError:
            continue  # caught in the backlog as the listener closed
    return False


def test_server_works_as_a_context_manager_and_frees_its_port() -> None:
    class Hello(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 200, "hi"

    with web.HTTPServer(("127.0.0.1", 0), {"/": Hello}) as server:
        address = server.server_address
        assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).text == "hi"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=CLIENT_TIMEOUT)


def test_worker_processes_share_the_port_and_a_dead_one_is_replaced() -> None:
    class Pid(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 200, str(os.getpid())

    server = web.HTTPServer(("127.0.0.1", 0), {"/": Pid}, processes=2)
    server.start()
    try:
        children = server._children
        assert children is not None and len(children.pids) == 2
        assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).text in map(str, children.pids)
        victim = children.pids[0]
        os.kill(victim, signal.SIGKILL)
        for _ in range(500):  # the supervisor notices within its poll interval
            pids = children.pids
            if victim not in pids and len(pids) == 2:
                break
            threading.Event().wait(0.02)
        assert victim not in children.pids and len(children.pids) == 2
        for _ in range(10):
            assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).text in map(str, children.pids)
        survivors = children.pids
    finally:
        server.stop()
    for pid in survivors:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


APP_MODULE = '''
import webpy as web

class Hello(web.HTTPHandler):
    def do_get(self):
        return 200, "hello from the app"

routes = {"/": Hello}
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_an_app_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    (tmp_path / "myapp.py").write_text(APP_MODULE)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "webpy", "--app", "myapp:routes", "--bind", "127.0.0.1",
         "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # printed once the socket is bound
        assert f"http://127.0.0.1:{port}/" in banner
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=CLIENT_TIMEOUT)
        assert response.text == "hello from the app"
        process.send_signal(stop_signal)
        code = process.wait(CLIENT_TIMEOUT)
        log = process.stderr.read()  # type: ignore[union-attr]
        assert code == 0, log
        assert '"GET / HTTP/1.1" 200 18' in log
    finally:
        process.kill()
        process.wait()
