"""A WebSocket client at the byte level (wsproto), for tests that need exact frames."""

from __future__ import annotations

from typing import Any

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from webpy.protocol.websocket import (
    Handshake,
    WebSocketSession,
    read_handshake,
    switching_protocols,
)


class ByteClient:
    """The client end of one WebSocket: `handshake()` bytes, then frames in and out."""

    def __init__(self, target: str = "/ws", *, subprotocols: tuple[str, ...] = (),
                 compression: bool = False, extra_headers: list[tuple[bytes, bytes]] | None = None
                 ) -> None:
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.target = target
        self.subprotocols = list(subprotocols)
        self.extensions = [PerMessageDeflate()] if compression else []
        self.extra_headers = extra_headers or []
        self.events: list[Event] = []

    def handshake(self, host: str = "localhost") -> bytes:
        return self.ws.send(Request(host=host, target=self.target,
                                    subprotocols=self.subprotocols,
                                    extensions=self.extensions,
                                    extra_headers=self.extra_headers))

    def feed(self, data: bytes | None) -> list[Event]:
        """Give the client bytes from the server; return (and keep) the events they made."""
        self.ws.receive_data(data)
        new = list(self.ws.events())
        self.events += new
        return new

    def send(self, event: Any) -> bytes:
        return self.ws.send(event)

    @property
    def accepted(self) -> bool:
        return any(isinstance(event, AcceptConnection) for event in self.events)

    @property
    def subprotocol(self) -> str | None:
        for event in self.events:
            if isinstance(event, AcceptConnection):
                return event.subprotocol
        return None

    @property
    def rejection(self) -> RejectConnection | None:
        for event in self.events:
            if isinstance(event, RejectConnection):
                return event
        return None

    def messages(self) -> list[str | bytes]:
        """Whole messages received so far (fragments joined)."""
        out: list[str | bytes] = []
        parts: list[Any] = []
        for event in self.events:
            if isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    out.append("".join(parts) if isinstance(event, TextMessage)
                               else b"".join(parts))
                    parts = []
        return out

    def close_event(self) -> CloseConnection | None:
        for event in self.events:
            if isinstance(event, CloseConnection):
                return event
        return None

    def pings(self) -> list[Ping]:
        return [event for event in self.events if isinstance(event, Ping)]


def parse_request_head(data: bytes) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Method, HTTP version, headers and the bytes after the head, parsed by h11."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(data)
    event = server.next_event()
    assert isinstance(event, h11.Request), event
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers.raw_items()]
    end = data.index(b"\r\n\r\n") + 4
    return event.method.decode(), event.http_version.decode(), headers, data[end:]


def open_pair(client: ByteClient, *, after: bytes = b"", compression: bool = False,
              subprotocol: str | None = None, **policy: Any) -> WebSocketSession:
    """Handshake `client` with a server session, in memory; `after` rides with the handshake."""
    from webpy.protocol.websocket import SessionPolicy

    method, version, headers, trailing = parse_request_head(client.handshake() + after)
    handshake: Handshake = read_handshake(method, version, headers)
    fields, extensions = handshake.accept(subprotocol, compression=compression)
    client.feed(switching_protocols(fields))
    assert client.accepted
    return WebSocketSession(SessionPolicy(**policy), extensions, trailing)


__all__ = [
    "ByteClient",
    "BytesMessage",
    "CloseConnection",
    "Connection",
    "RejectData",
    "TextMessage",
    "open_pair",
    "parse_request_head",
]


def masked_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """One client frame built by hand (masked, short payload), for frames wsproto will not send."""
    assert len(payload) < 126
    mask = b"\x01\x02\x03\x04"
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([(0x80 if fin else 0) | (rsv << 4) | opcode, 0x80 | len(payload)]) + mask + masked
