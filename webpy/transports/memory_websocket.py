"""A WebSocket client for the in-memory `Client`: the real handshake and frames, no socket.

`Client.websocket(target)` sends a real opening handshake (wsproto's client
side) through the same request cycle a socket would, and returns a
`MemoryWebSocket` whose `send` and `receive` exchange real frames with the
handler. In memory the server runs whenever bytes arrive, so by the time
`send` returns, whatever the handler answered is there for `receive`.
A message pushed from another thread reaches the client at its next event
(memory has no wake-up); `connection.time_out()` makes the server's keep-alive
wait expire (the server then pings).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..app import Headers

if TYPE_CHECKING:
    from .memory import MemoryConnection


class WebSocketRejected(Exception):
    """The server refused the handshake: `status` and `body` are its response's."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"WebSocket refused with {status}")
        self.status = status
        self.body = body


class MemoryWebSocketClosed(Exception):
    """`receive` on a WebSocket the server closed; `code` and `reason` are its close frame's."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"WebSocket closed with {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class MemoryWebSocket:
    """The client end of a WebSocket opened in memory; see the module docstring."""

    def __init__(self, connection: MemoryConnection, target: str, host: str, headers: Headers,
                 subprotocols: Sequence[str] = ()) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request

        self.connection = connection
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._messages: deque[str | bytes] = deque()
        self._parts: list[Any] = []
        self._rejected: tuple[int, bytearray] | None = None
        self.subprotocol: str | None = None
        #: The close code and reason the server sent, once it closed.
        self.close_code: int | None = None
        self.close_reason = ""
        extra = [(name.encode("latin-1"), value.encode("latin-1"))
                 for name, value in headers.items()]
        self._exchange(self._ws.send(Request(host=host, target=target, extra_headers=extra,
                                             subprotocols=list(subprotocols))))
        if self._rejected is not None:
            status, body = self._rejected
            raise WebSocketRejected(status, bytes(body))

    def send(self, message: str | bytes) -> None:
        """Send a text (str) or binary (bytes) message."""
        from wsproto.events import BytesMessage, TextMessage

        event = TextMessage(data=message) if isinstance(message, str) else BytesMessage(
            data=bytes(message))
        self._exchange(self._ws.send(event))

    def receive(self) -> str | bytes:
        """The next whole message from the server.

        Raises `MemoryWebSocketClosed` once the server closed and every message
        was read, and LookupError if none is waiting (in memory, nothing more
        can come until the client does something).
        """
        self._exchange(b"")
        if self._messages:
            return self._messages.popleft()
        if self.close_code is not None:
            raise MemoryWebSocketClosed(self.close_code, self.close_reason)
        raise LookupError("no message from the server is waiting")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake; the server answers at once."""
        from wsproto.connection import ConnectionState
        from wsproto.events import CloseConnection

        if self._ws.state is ConnectionState.OPEN:
            self._exchange(self._ws.send(CloseConnection(code=code, reason=reason or None)))
        self.connection.close()

    def __enter__(self) -> MemoryWebSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _exchange(self, data: bytes) -> None:
        """Send `data`, then take in what the server wrote (answering pings and closes)."""
        from wsproto.connection import ConnectionState
        from wsproto.events import (
            AcceptConnection,
            CloseConnection,
            Message,
            Ping,
            RejectConnection,
            RejectData,
        )

        if data and not self.connection.closed:
            self.connection.send(data)
        output = self.connection.receive()
        if not output:
            return
        self._ws.receive_data(output)
        for event in self._ws.events():
            if isinstance(event, AcceptConnection):
                self.subprotocol = event.subprotocol
            elif isinstance(event, RejectConnection):
                self._rejected = (event.status_code, bytearray())
            elif isinstance(event, RejectData):
                assert self._rejected is not None
                self._rejected[1].extend(event.data)
            elif isinstance(event, Message):
                self._parts.append(event.data)
                if event.message_finished:
                    parts, self._parts = self._parts, []
                    self._messages.append("".join(parts) if isinstance(parts[0], str)
                                          else b"".join(parts))
            elif isinstance(event, Ping):
                self.connection.send(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code, self.close_reason = int(event.code), event.reason or ""
                if self._ws.state is ConnectionState.REMOTE_CLOSING:
                    self.connection.send(self._ws.send(event.response()))
