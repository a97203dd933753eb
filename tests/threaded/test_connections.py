"""The threaded server over real sockets: connection handling, timeouts, limits."""

from __future__ import annotations

import logging
import resource
import socket
import threading
from collections.abc import Callable

import httpx
import pytest
from conformance.support import Endless
from harness import CLIENT_TIMEOUT, ResponseReader, SocketRawConnection

import webpy as web

ServerFactory = Callable[..., web.HTTPServer]


class Hello(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, "hello"


class WhoAmI(web.HTTPHandler):
    """Answers with the client's port, which is the same for every request on one connection."""

    def do_get(self) -> tuple[int, str]:
        assert self.request.client is not None
        return 200, str(self.request.client[1])


class Upload(web.HTTPHandler):
    def do_post(self) -> tuple[int, str]:
        return 200, str(len(self.request.body))


class Broken(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        raise RuntimeError("handler bug")


ROUTES = {"/": Hello, "/whoami": WhoAmI, "/upload": Upload, "/broken": Broken,
          "/endless": Endless}


def connect(server: web.HTTPServer) -> SocketRawConnection:
    return SocketRawConnection(server.server_address)


def test_100_continue_is_sent_before_the_body_over_the_wire(start_server: ServerFactory) -> None:
    server = start_server(ROUTES)
    connection = connect(server)
    connection.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    b"Expect: 100-continue\r\n\r\n")
    assert connection.receive().startswith(b"HTTP/1.1 100 Continue\r\n")
    connection.send(b"12345")
    response = ResponseReader(connection).read("POST")
    assert response is not None and response.status == 200 and response.body == b"5"


def test_oversized_upload_is_refused_without_100_continue(start_server: ServerFactory) -> None:
    server = start_server(ROUTES, max_body_bytes=1000)
    connection = connect(server)
    connection.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                    b"Expect: 100-continue\r\n\r\n")
    reader = ResponseReader(connection)
    response = reader.read("POST")
    assert response is not None and response.status == 413 and response.interim == ()
    assert reader.at_eof()


def test_413_reaches_a_client_that_sends_its_whole_body_anyway(start_server: ServerFactory) -> None:
    server = start_server(ROUTES, max_body_bytes=1000)
    connection = connect(server)
    body = b"x" * (2 * 1024 * 1024)
    sender = threading.Thread(target=lambda: _send_ignoring_reset(connection, body))
    connection.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
    sender.start()
    response = ResponseReader(connection).read("POST")
    sender.join(CLIENT_TIMEOUT)
    assert response is not None and response.status == 413


def _send_ignoring_reset(connection: SocketRawConnection, data: bytes) -> None:
    try:
        connection.send(data)
    except OSError:
        pass  # the server may stop reading once it has drained enough


def test_trickled_head_cannot_extend_its_deadline(start_server: ServerFactory) -> None:
    server = start_server(ROUTES, head_timeout=0.5)
    slow = connect(server)
    slow.send(b"GET / HTTP/1.1\r\n")
    received = b""
    for _ in range(200):  # keep trickling header bytes until the server answers
        try:
            slow.send(b"X-Trickle: 1\r\n")
        except OSError:
            break
        slow.sock.settimeout(0.05)
        try:
            received += slow.sock.recv(65536)
        except TimeoutError:
            continue
        if received:
            break
    assert received.startswith(b"HTTP/1.1 408 ")


def test_idle_and_half_sent_connections_do_not_hold_workers(start_server: ServerFactory) -> None:
    threads = 2
    server = start_server(ROUTES, threads=threads)
    idle = [connect(server) for _ in range(threads * 2)]
    for connection in idle[:threads]:  # idle after a completed request
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert ResponseReader(connection).read() is not None
    half_sent = [connect(server) for _ in range(threads * 2)]
    for connection in half_sent:
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: ")
    assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).text == "hello"
    for connection in idle + half_sent:
        connection.close()


def test_many_idle_connections_do_not_starve_a_new_client(start_server: ServerFactory) -> None:
    count = 5000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * count + 100:
        pytest.skip(f"needs {2 * count + 100} file descriptors, the limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * count)), hard))
    idle = []
    try:
        server = start_server(ROUTES, max_connections=count + 100, backlog=4096)
        for _ in range(count):
            idle.append(socket.create_connection(server.server_address, timeout=CLIENT_TIMEOUT))
        assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).text == "hello"
        idle[0].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle[0].recv(65536).startswith(b"HTTP/1.1 200 OK")
    finally:
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))  # as the rest of the run had it


def test_handler_exception_is_a_logged_500_and_the_worker_survives(
        start_server: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    server = start_server(ROUTES, threads=1)
    with caplog.at_level(logging.ERROR, logger="webpy"), \
            httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as client:
        assert client.get("/broken").status_code == 500
        assert client.get("/broken").status_code == 500
        assert client.get("/").text == "hello"
    assert sum("handler bug" in (record.exc_text or "") for record in caplog.records) == 2


def test_client_vanishing_mid_response_costs_nothing(start_server: ServerFactory) -> None:
    server = start_server(ROUTES, threads=1)
    for _ in range(3):
        connection = connect(server)
        connection.send(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.receive()
        connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        connection.close()  # reset, mid-body
    assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).text == "hello"


def test_client_vanishing_mid_request_costs_nothing(start_server: ServerFactory) -> None:
    server = start_server(ROUTES, threads=1)
    for _ in range(3):
        connection = connect(server)
        connection.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        connection.close()
    assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).text == "hello"


def test_ipv6_loopback_is_served(start_server: ServerFactory) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = web.HTTPServer(("::1", 0), ROUTES)
    except OSError as error:
        pytest.skip(f"IPv6 loopback unavailable: {error}")
    with server:
        assert server.url.startswith("http://[::1]:")
        assert httpx.get(server.url, timeout=CLIENT_TIMEOUT).text == "hello"


def blocking_routes(entered: threading.Event, release: threading.Event
                    ) -> dict[str, type[web.HTTPHandler]]:
    class Blocking(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            entered.set()
            release.wait(CLIENT_TIMEOUT)
            return 200, "released"

    return {"/": Hello, "/block": Blocking}


def test_a_blocked_handler_does_not_delay_other_clients(start_server: ServerFactory) -> None:
    entered, release = threading.Event(), threading.Event()
    server = start_server(blocking_routes(entered, release), threads=4)
    results: list[str] = []
    blocked = threading.Thread(target=lambda: results.append(
        httpx.get(server.url + "block", timeout=CLIENT_TIMEOUT).text))
    blocked.start()
    try:
        assert entered.wait(CLIENT_TIMEOUT)
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as client:
            assert [client.get("/").text for _ in range(20)] == ["hello"] * 20
    finally:
        release.set()
        blocked.join(CLIENT_TIMEOUT)
    assert results == ["released"]


def test_last_free_thread_answers_503_instead_of_running_a_handler(
        start_server: ServerFactory) -> None:
    entered, release = threading.Event(), threading.Event()
    server = start_server(blocking_routes(entered, release), threads=2)
    blocked = threading.Thread(target=lambda: httpx.get(server.url + "block",
                                                        timeout=CLIENT_TIMEOUT))
    blocked.start()
    try:
        assert entered.wait(CLIENT_TIMEOUT)
        response = httpx.get(server.url, timeout=CLIENT_TIMEOUT)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
    finally:
        release.set()
        blocked.join(CLIENT_TIMEOUT)
    # Once the blocked handler has returned, its thread is free again; it rejoins
    # the pool just after sending its response, so allow a few 503s meanwhile.
    statuses = []
    for _ in range(200):
        statuses.append(httpx.get(server.url, timeout=CLIENT_TIMEOUT).status_code)
        if statuses[-1] == 200:
            break
    assert statuses[-1] == 200
