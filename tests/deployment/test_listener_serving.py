"""Servers on sockets made elsewhere (`sockets=`): unix sockets, several listeners at once."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness_trio import running_in_thread

import webpy as web
from webpy.transports import listeners
from webpy.transports.trio import serve as trio_serve

TIMEOUT = 10.0


class WhoAmI(web.HTTPHandler):
    def do_get(self):  # type: ignore[no-untyped-def]
        return 200, f"pid={os.getpid()} client={self.request.client}"


ROUTES = {"/": WhoAmI}


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="webpy-"))  # unix paths: at most 107 bytes
    yield directory
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()


@contextlib.contextmanager
def serving(transport: str, sockets: list[socket.socket], **options: object) -> Iterator[str]:
    """Serve ROUTES on `sockets` with `transport`; yields the server's URL."""
    if transport == "threaded":
        with web.HTTPServer(None, ROUTES, sockets=sockets, threads=4, **options) as server:
            yield server.url
        return
    start = functools.partial(trio_serve, ROUTES, None, 0, sockets=sockets, grace_period=1.0,
                              **options)
    with running_in_thread(start) as (addresses, _):
        yield str(addresses)


def get_unix(path: Path) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=TIMEOUT) as client:
        return client.get("http://localhost/")


@pytest.mark.parametrize("transport", ["threaded", "trio"])
def test_server_on_a_unix_socket(transport: str, short_tmp: Path) -> None:
    path = short_tmp / "web.sock"
    with serving(transport, [listeners.unix(str(path), mode=0o660)]) as url:
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        response = get_unix(path)
        response_again = get_unix(path)
    assert response.status_code == response_again.status_code == 200
    assert response.text == f"pid={os.getpid()} client=None"
    if transport == "threaded":
        assert url == "http+unix://" + str(path).replace("/", "%2F") + "/"


@pytest.mark.parametrize("transport", ["threaded", "trio"])
def test_one_server_on_a_tcp_and_a_unix_socket(transport: str, short_tmp: Path) -> None:
    path = short_tmp / "web.sock"
    tcp = listeners.tcp("127.0.0.1", 0)
    port = tcp.getsockname()[1]
    with serving(transport, [tcp, listeners.unix(str(path))]):
        over_unix = get_unix(path)
        over_tcp = httpx.get(f"http://127.0.0.1:{port}/", timeout=TIMEOUT)
    assert over_unix.status_code == over_tcp.status_code == 200
    assert over_tcp.text.startswith(f"pid={os.getpid()} client=('127.0.0.1', ")


def test_worker_processes_share_a_unix_socket(short_tmp: Path) -> None:
    path = short_tmp / "web.sock"
    with serving("threaded", [listeners.unix(str(path))], processes=2):
        answers = {get_unix(path).text for _ in range(20)}
    assert all(answer.startswith("pid=") for answer in answers)
    assert f"pid={os.getpid()} client=None" not in answers  # the workers serve, not the parent


def test_proxy_protocol_on_a_unix_socket(short_tmp: Path) -> None:
    path = short_tmp / "web.sock"
    with serving("threaded", [listeners.unix(str(path))], proxy_protocol=True), \
            socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(str(path))
        sock.sendall(b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 80\r\n"
                     b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.endswith(b"client=('203.0.113.7', 51234)")


@pytest.mark.parametrize("transport", ["threaded", "trio"])
def test_connection_waiting_before_the_server_starts_is_served(transport: str) -> None:
    # Socket activation starts the server for a connection that is already waiting.
    listener = listeners.tcp("127.0.0.1", 0)
    with socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as early:
        early.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with serving(transport, [listener]):
            data = b""
            while chunk := early.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("transport", ["threaded", "trio"])
def test_proxy_protocol_on_one_listener_only(transport: str) -> None:
    # The load balancer's port speaks PROXY; the port for internal checks does not.
    balanced, internal = listeners.tcp("127.0.0.1", 0), listeners.tcp("127.0.0.1", 0)
    with serving(transport, [balanced, internal], proxy_protocol=[balanced]):
        via_balancer = raw(balanced.getsockname(), b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 80\r\n")
        direct = raw(internal.getsockname(), b"")
        refused = raw(balanced.getsockname(), b"")
    assert via_balancer.endswith(b"client=('203.0.113.7', 51234)")
    assert direct.startswith(b"HTTP/1.1 200 ") and b"client=('127.0.0.1', " in direct
    assert refused == b""


def test_proxy_protocol_on_a_socket_not_served_is_an_error() -> None:
    served, other = listeners.tcp("127.0.0.1", 0), listeners.tcp("127.0.0.1", 0)
    with served, other, pytest.raises(ValueError, match="does not listen on"):
        web.HTTPServer(None, ROUTES, sockets=[served], proxy_protocol=[other])


def raw(address: tuple[str, int], preamble: bytes) -> bytes:
    """A GET after `preamble`; all the server sends, ``b""`` if it reset the connection."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(preamble + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            return b""
        return data
