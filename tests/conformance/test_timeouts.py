"""Timeouts and the connection bound answer the same on every transport.

In memory a wait expires when the test says so (`receive_until_closed` makes
the pending read time out); over sockets it expires for real, so the
timeouts here are a fraction of a second. No test measures how long anything
took: each only waits, with a generous client timeout, for the answer.
"""

from __future__ import annotations

import logging
import socket
import threading

import httpx
import pytest
from harness import CLIENT_TIMEOUT, HARNESSES, Harness, ResponseReader

import webpy as web
from conformance.support import Endless

SHORT = 0.3


class Hello(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, "hello"


class Upload(web.HTTPHandler):
    def do_put(self) -> tuple[int, str]:
        return 200, str(len(self.request.body))


class StreamedUpload(web.HTTPHandler):
    stream_request_body = True

    def do_put(self) -> tuple[int, str]:
        assert self.request.stream is not None
        return 200, str(len(self.request.stream.read()))


ROUTES = {"/": Hello, "/upload": Upload, "/streamed": StreamedUpload, "/endless": Endless}


def test_slow_head_gets_408_then_the_connection_closes(harness: Harness) -> None:
    with harness.serve(ROUTES, head_timeout=SHORT, drain_timeout=SHORT) as server:
        connection = server.connect()
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        assert connection.receive_until_closed().startswith(b"HTTP/1.1 408 ")


def test_idle_keep_alive_connection_is_closed_silently(harness: Harness) -> None:
    with harness.serve(ROUTES, keepalive_timeout=SHORT) as server:
        connection = server.connect()
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = ResponseReader(connection).read()
        assert response is not None and response.body == b"hello"
        assert connection.receive_until_closed() == b""


@pytest.mark.parametrize("target", ["/upload", "/streamed"])
def test_stalled_request_body_gets_408(harness: Harness, target: str) -> None:
    with harness.serve(ROUTES, body_timeout=SHORT, drain_timeout=SHORT) as server:
        connection = server.connect()
        connection.send(f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
                        "abc".encode())
        assert connection.receive_until_closed().startswith(b"HTTP/1.1 408 ")


@pytest.fixture(params=["threaded", "trio"])
def socket_harness(request: pytest.FixtureRequest) -> Harness:
    """The transports that accept connections themselves, and so bound and time them."""
    return HARNESSES[request.param]()  # type: ignore[no-any-return]


def test_connections_beyond_the_limit_get_503_with_retry_after(socket_harness: Harness) -> None:
    with socket_harness.serve(ROUTES, max_connections=2) as server:
        held = [server.connect() for _ in range(2)]
        for connection in held:  # make sure the server has accepted both
            connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert ResponseReader(connection).read() is not None
        extra = server.connect()
        extra.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # read and discarded: no reset
        response = ResponseReader(extra).read()
        assert response is not None and response.status == 503
        assert response.headers["retry-after"] == "1"
        for connection in [*held, extra]:
            connection.close()


class _DropSeen(logging.Handler):
    """Sets `seen` when the server logs that it gave up on a client that stopped reading."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "lost" in message and ("TimeoutError" in message or "TooSlowError" in message):
            self.seen.set()


def test_client_that_stops_reading_is_dropped_while_others_are_served(
        socket_harness: Harness) -> None:
    logger, watcher = logging.getLogger("webpy"), _DropSeen()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(watcher)
    try:
        with socket_harness.serve(ROUTES, write_timeout=SHORT) as server:
            stalled = server.connect()
            stalled.sock.setsockopt(  # type: ignore[attr-defined]
                socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.send(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            url = "http://{}:{}/".format(*server.address)  # type: ignore[attr-defined]
            assert httpx.get(url, timeout=CLIENT_TIMEOUT).text == "hello"
            assert watcher.seen.wait(CLIENT_TIMEOUT), "the stalled client was never dropped"
            stalled.close()
    finally:
        logger.removeHandler(watcher)
        logger.setLevel(level)
