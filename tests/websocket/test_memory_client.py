"""The in-memory Client opens WebSockets: the real handshake and frames, no socket."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from webpy.app.websocket import WebSocketHandler
from webpy.transports.memory import Client
from webpy.transports.memory_websocket import MemoryWebSocketClosed, WebSocketRejected

closed: list[tuple[int, str]] = []


class Echo(WebSocketHandler):
    subprotocols = ("echo.v1",)
    max_message_bytes = 100
    ping_interval = 5.0

    def on_connect(self) -> None:
        self.send("hello")

    def on_message(self, message: str | bytes) -> None:
        if message == "leave":
            self.close(4000, "as asked")
        else:
            self.send(message)

    def on_close(self, code: int, reason: str) -> None:
        closed.append((code, reason))


ROUTES: dict[str, Any] = {"/ws": Echo}


@pytest.fixture(autouse=True)
def fresh() -> None:
    closed.clear()


def test_messages_are_exchanged_in_memory() -> None:
    with Client(ROUTES).websocket("/ws", subprotocols=["echo.v1"]) as ws:
        assert ws.subprotocol == "echo.v1"
        assert ws.receive() == "hello"
        ws.send("text")
        assert ws.receive() == "text"
        ws.send(b"\x00bytes")
        assert ws.receive() == b"\x00bytes"
        with pytest.raises(LookupError):
            ws.receive()  # nothing more is waiting
    assert closed == [(1000, "")]


def test_the_server_closing_is_seen_with_its_code() -> None:
    ws = Client(ROUTES).websocket("/ws")
    ws.receive()
    ws.send("leave")
    with pytest.raises(MemoryWebSocketClosed) as ended:
        ws.receive()
    assert (ended.value.code, ended.value.reason) == (4000, "as asked")
    assert closed == [(4000, "as asked")]


def test_an_oversized_message_is_closed_with_1009() -> None:
    ws = Client(ROUTES).websocket("/ws")
    ws.receive()
    ws.send("x" * 101)
    with pytest.raises(MemoryWebSocketClosed) as ended:
        ws.receive()
    assert ended.value.code == 1009


def test_silence_brings_a_ping_that_the_client_answers() -> None:
    ws = Client(ROUTES).websocket("/ws")
    ws.receive()
    ws.connection.time_out()  # the keep-alive wait expires: the server pings
    with pytest.raises(LookupError):
        ws.receive()
    ws.connection.time_out()  # answered, so this is a new interval: another ping, still open
    ws.send("still here")
    assert ws.receive() == "still here"


def test_a_refused_handshake_raises_with_its_status() -> None:
    client = Client(ROUTES)
    with pytest.raises(WebSocketRejected) as refused:
        client.websocket("/ws", headers={"Origin": "https://elsewhere.example"})
    assert refused.value.status == 403
    assert client.get("/ws").status == 426


def test_without_wsproto_the_server_runs_and_a_websocket_route_answers_501() -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["wsproto"] = None  # as if it were not installed
        from webpy.app.websocket import WebSocketHandler
        from webpy.transports.memory import Client

        class Ws(WebSocketHandler):
            pass

        class Page(WebSocketHandler.__mro__[1]):
            def do_get(self):
                return 200, "fine"

        client = Client({"/ws": Ws, "/": Page})
        assert client.get("/").status == 200
        handshake = (b"GET /ws HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\n"
                     b"Connection: Upgrade\\r\\nSec-WebSocket-Version: 13\\r\\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n")
        print(client.raw(handshake).split(b"\\r\\n")[0].decode())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "HTTP/1.1 501 Not Implemented"
