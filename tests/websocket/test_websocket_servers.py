"""WebSockets end to end: the `websockets` client and raw sockets, threaded and trio, TLS too."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from wsproto.events import CloseConnection, Ping, TextMessage

import webpy as web
from webpy.app.auth import BasicAuthHandler
from webpy.app.websocket import WebSocketHandler

from .wsclient import ByteClient, masked_frame

#: Turns a hang into a failure; never a measure of speed.
HANG = 10.0

class Events:
    """What the handlers saw, handed to the test thread as it happens."""

    def __init__(self) -> None:
        self.connected: queue.Queue[WebSocketHandler] = queue.Queue()
        self.closed: queue.Queue[tuple[int, str]] = queue.Queue()

    def next_connected(self) -> WebSocketHandler:
        return self.connected.get(timeout=HANG)

    def next_closed(self) -> tuple[int, str]:
        return self.closed.get(timeout=HANG)


def make_routes(events: Events) -> dict[str, Any]:
    class Echo(WebSocketHandler):
        subprotocols = ("echo.v1",)
        max_message_bytes = 64 * 1024

        def on_connect(self) -> None:
            events.connected.put(self)

        def on_message(self, message: str | bytes) -> None:
            self.send(message)

        def on_close(self, code: int, reason: str) -> None:
            events.closed.put((code, reason))

    class Private(BasicAuthHandler, Echo):
        users: ClassVar[dict[str, str]] = {"alice": "secret"}

    class Pinging(Echo):
        ping_interval = 0.1
        ping_timeout = 0.2

    class Hello(web.HTTPHandler):
        def do_get(self) -> Any:
            return 200, "hello"

    return {"/ws": Echo, "/private": Private, "/pinging": Pinging, "/hello": Hello}


@contextlib.contextmanager
def threaded(routes: dict[str, Any], ssl_context: ssl.SSLContext | None = None,
             threads: int = 4) -> Iterator[tuple[str, int]]:
    server = web.HTTPServer(("127.0.0.1", 0), routes, threads=threads, ssl_context=ssl_context)
    server.start()
    try:
        yield server.server_address
    finally:
        server.stop(timeout=1.0)


@contextlib.contextmanager
def on_trio(routes: dict[str, Any], ssl_context: ssl.SSLContext | None = None,
            threads: int = 4) -> Iterator[tuple[str, int]]:
    from harness_trio import running_in_thread

    from webpy.transports.trio import serve

    start = functools.partial(serve, routes, "127.0.0.1", 0, ssl_context=ssl_context,
                              thread_limit=threads, grace_period=1.0)
    with running_in_thread(start) as (addresses, _):
        yield addresses[0][:2]


SERVERS = {"threaded": threaded, "trio": on_trio}


@pytest.fixture(params=sorted(SERVERS))
def serving(request: pytest.FixtureRequest) -> Any:
    return SERVERS[request.param]


def raw_socket(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=HANG)


def receive(sock: socket.socket) -> bytes:
    """The next bytes from the server, which must not have closed the connection."""
    data = sock.recv(65536)
    assert data, "the server closed the connection"
    return data


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return data


def upgrade(sock: socket.socket, client: ByteClient, after: bytes = b"") -> None:
    """Send the client's handshake (and `after` in the same packet); the 101 must come back."""
    sock.sendall(client.handshake("x") + after)
    data = read_until(sock, b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 101 "), data[:60]
    client.feed(data)
    assert client.accepted


# -- with the websockets client ---------------------------------------------------------


def test_text_and_binary_messages_echo(serving: Any) -> None:
    events = Events()
    with serving(make_routes(events)) as (host, port), \
            connect(f"ws://{host}:{port}/ws", open_timeout=HANG) as ws:
        ws.send("hello")
        assert ws.recv(HANG) == "hello"
        ws.send(b"\x00\x01\x02")
        assert ws.recv(HANG) == b"\x00\x01\x02"
        ws.send(["frag", "mented"])  # a fragmented message
        assert ws.recv(HANG) == "fragmented"
    assert events.next_closed()[0] == 1000


def test_over_tls(serving: Any, server_ssl_context: ssl.SSLContext,
                  client_ssl_context: ssl.SSLContext) -> None:
    with serving(make_routes(Events()), server_ssl_context) as (_, port), \
            connect(f"wss://localhost:{port}/ws", ssl=client_ssl_context,
                    open_timeout=HANG) as ws:
        ws.send("secret")
        assert ws.recv(HANG) == "secret"


def test_the_subprotocol_the_handler_speaks_is_agreed(serving: Any) -> None:
    with serving(make_routes(Events())) as (host, port), \
            connect(f"ws://{host}:{port}/ws", subprotocols=["other", "echo.v1"],
                    open_timeout=HANG) as ws:
        assert ws.subprotocol == "echo.v1"


def test_authentication_in_prepare_refuses_the_upgrade_with_401(serving: Any) -> None:
    with serving(make_routes(Events())) as (host, port):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://{host}:{port}/private", open_timeout=HANG)
        assert refused.value.response.status_code == 401
        token = base64.b64encode(b"alice:secret").decode()
        with connect(f"ws://{host}:{port}/private", open_timeout=HANG,
                     additional_headers={"Authorization": f"Basic {token}"}) as ws:
            ws.send("in")
            assert ws.recv(HANG) == "in"


def test_a_page_from_another_origin_is_refused_403(serving: Any) -> None:
    with serving(make_routes(Events())) as (host, port), pytest.raises(InvalidStatus) as refused:
        connect(f"ws://{host}:{port}/ws", origin="https://evil.example", open_timeout=HANG)
    assert refused.value.response.status_code == 403


def test_an_oversized_message_is_closed_with_1009(serving: Any) -> None:
    events = Events()
    with serving(make_routes(events)) as (host, port), \
            connect(f"ws://{host}:{port}/ws", open_timeout=HANG, max_size=None) as ws:
        ws.send(b"x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(HANG)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert events.next_closed()[0] == 1009


def test_a_push_from_another_thread_reaches_an_idle_client(serving: Any) -> None:
    events = Events()
    with serving(make_routes(events)) as (host, port), \
            connect(f"ws://{host}:{port}/ws", open_timeout=HANG) as ws:
        handler = events.next_connected()
        threading.Thread(target=handler.send, args=("pushed",)).start()
        assert ws.recv(HANG) == "pushed"  # the client sent nothing: the server woke by itself


def test_the_client_closing_with_a_code_reaches_on_close(serving: Any) -> None:
    events = Events()
    with serving(make_routes(events)) as (host, port), \
            connect(f"ws://{host}:{port}/ws", open_timeout=HANG) as ws:
        ws.close(4001, "bye")
        assert events.next_closed() == (4001, "bye")


def test_a_graceful_stop_closes_open_websockets_with_1001(serving: Any) -> None:
    events = Events()
    with contextlib.ExitStack() as stack:
        with serving(make_routes(events)) as (host, port):
            ws = stack.enter_context(connect(f"ws://{host}:{port}/ws", open_timeout=HANG))
            ws.send("before the stop")
            assert ws.recv(HANG) == "before the stop"
        # Leaving the block stopped the server: the socket was closed with Going Away.
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(HANG)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert events.next_closed()[0] == 1001


def test_open_websockets_hold_no_worker_thread(serving: Any) -> None:
    # Two threads, one of them kept in reserve: if an open socket held a thread,
    # the second socket or the plain request would get 503.
    with serving(make_routes(Events()), threads=2) as (host, port), \
            contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(connect(f"ws://{host}:{port}/ws", open_timeout=HANG))
                   for _ in range(20)]
        for number, ws in enumerate(sockets):
            ws.send(f"socket {number}")
            assert ws.recv(HANG) == f"socket {number}"
        plain = http.client.HTTPConnection(host, port, timeout=HANG)
        plain.request("GET", "/hello")
        assert plain.getresponse().status == 200
        plain.close()


# -- byte level ---------------------------------------------------------------------------


def test_a_plain_get_is_told_to_upgrade_with_426(serving: Any) -> None:
    with serving(make_routes(Events())) as address, raw_socket(address) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        head = read_until(sock, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 426 ")
        assert b"\r\nUpgrade: websocket\r\n" in head


def test_a_malformed_key_gets_400(serving: Any) -> None:
    with serving(make_routes(Events())) as address, raw_socket(address) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: short\r\n\r\n")
        assert read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_a_frame_in_the_same_packet_as_the_handshake_is_not_lost(serving: Any) -> None:
    client = ByteClient()
    with serving(make_routes(Events())) as address, raw_socket(address) as sock:
        upgrade(sock, client, masked_frame(0x1, b"right behind"))
        while client.messages() != ["right behind"]:
            client.feed(receive(sock))


def test_an_unanswered_ping_drops_the_client(serving: Any) -> None:
    events = Events()
    client = ByteClient("/pinging")
    with serving(make_routes(events)) as address, raw_socket(address) as sock:
        upgrade(sock, client)
        # Answer the first ping: the socket stays open and is pinged again.
        while len(client.pings()) < 1:
            client.feed(receive(sock))
        sock.sendall(client.send(client.pings()[0].response()))
        while len(client.pings()) < 2:
            client.feed(receive(sock))
        # Answer no more: the server gives up and closes the connection.
        while sock.recv(65536):
            pass
        assert events.next_closed() == (1006, "no reply to a ping")


def test_client_pings_are_answered(serving: Any) -> None:
    client = ByteClient()
    with serving(make_routes(Events())) as address, raw_socket(address) as sock:
        upgrade(sock, client)
        sock.sendall(client.send(Ping(b"still there?")) + client.send(TextMessage(data="after")))
        while client.messages() != ["after"]:
            client.feed(receive(sock))
        assert any(getattr(event, "payload", None) == b"still there?" for event in client.events)
        sock.sendall(client.send(CloseConnection(code=1000)))
        while data := sock.recv(65536):
            client.feed(data)
        assert client.close_event() == CloseConnection(code=1000, reason="")
