"""WebSockets without I/O: a handshake vetted from a request head, then bytes in, messages out.

Theory of operation
-------------------
The HTTP layer (h11, `ServerConnection`) parses the upgrade request like any
other, so routing, `prepare` and every limit apply before a WebSocket exists.
This module then does three things, none of which touches a socket or a
clock:

1. `read_handshake` vets the request head against RFC 6455 section 4.2.1 and
   says, with a status code, what is wrong: 426 with ``Upgrade: websocket``
   for a client that did not ask to upgrade (or asked for a version we do
   not speak, with ``Sec-WebSocket-Version: 13``), 400 for a malformed
   request.
2. `Handshake.accept` builds the ``101 Switching Protocols`` fields
   (accept token, subprotocol, extensions) with wsproto's own helpers.
3. `WebSocketSession` runs the framing over wsproto's `Connection`. It is
   created with the bytes that arrived after the handshake in the same read,
   so nothing the client pipelined is lost. It assembles fragmented messages
   (bounded by `SessionPolicy.max_message_bytes`: an oversized one is
   refused with close code 1009 as soon as the bound is crossed, not after
   it is buffered), answers pings, and runs the close handshake.

Time is data here. `read_timeout` says how long the next read may wait, and
`timed_out()` says what happens when it did not get bytes in time, from one
table (`_ON_TIMEOUT`): an open session sends a ping and waits
`ping_timeout` for any sign of life; a session that already pinged, or that
sent its close frame and waits for the client's, gives up (close code 1006,
never sent on the wire). The transport only compares the deadline with its
own clock.

permessage-deflate is off unless the application asks for it: a compressed
frame can inflate far beyond its size on the wire, and the size limit is
checked after inflation.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Ping,
    TextMessage,
)
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.handshake import server_extensions_handshake
from wsproto.utilities import LocalProtocolError, generate_accept_token, split_comma_header

from . import writer
from .events import NEED_DATA, Wait

#: The only version of the protocol there is (RFC 6455).
WEBSOCKET_VERSION = "13"

# Close codes (RFC 6455 section 7.4.1) the server itself uses.
NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
ABNORMAL_CLOSURE = 1006  # never sent: the connection ended without a close frame
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013

#: Codes an endpoint may put in a close frame: RFC 6455 7.4.1 (minus the reserved
#: 1004-1006 and 1015), and 3000-4999 for libraries and applications.
_SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                             1013, 1014}) | frozenset(range(3000, 5000))


class HandshakeError(Exception):
    """The request is not a WebSocket handshake we accept; answer `status_code` with `headers`."""

    def __init__(self, status_code: int, detail: str,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


class SessionClosed(Exception):
    """A message or close was sent on a WebSocket that is already closing or closed."""


_UPGRADE_REQUIRED = (("Upgrade", "websocket"), ("Connection", "Upgrade"))


@dataclass(frozen=True, slots=True)
class Handshake:
    """A vetted opening handshake: what the client offered."""

    key: str
    subprotocols: tuple[str, ...]
    extensions: tuple[str, ...]
    origin: str | None
    host: str | None

    def accept(self, subprotocol: str | None = None, *, compression: bool = False
               ) -> tuple[list[tuple[bytes, bytes]], list[Extension]]:
        """The fields of the 101 response, and the extensions the session then uses.

        `subprotocol` must be one the client offered (ValueError otherwise).
        With `compression`, permessage-deflate is used if the client offered it.
        """
        fields = [
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", generate_accept_token(self.key.encode("ascii"))),
        ]
        if subprotocol is not None:
            if subprotocol not in self.subprotocols:
                raise ValueError(f"the client did not offer subprotocol {subprotocol!r}")
            fields.append((b"Sec-WebSocket-Protocol", subprotocol.encode("ascii")))
        extensions: list[Extension] = []
        if compression and self.extensions:
            deflate = PerMessageDeflate()
            accepted = server_extensions_handshake(self.extensions, [deflate])
            if accepted:
                fields.append((b"Sec-WebSocket-Extensions", accepted))
                extensions.append(deflate)
        return fields, extensions


def read_handshake(method: str, http_version: str, headers: Iterable[tuple[str, str]]
                   ) -> Handshake:
    """Vet an upgrade request's head; raises `HandshakeError` with the status to answer."""
    upgrade: list[str] = []
    connection: list[str] = []
    subprotocols: list[str] = []
    extensions: list[str] = []
    keys: list[str] = []
    versions: list[str] = []
    origin = host = None
    has_body = False
    for name, value in headers:
        name = name.lower()
        if name == "upgrade":
            upgrade += (token.lower() for token in split_comma_header(value.encode("latin-1")))
        elif name == "connection":
            connection += (token.lower() for token in split_comma_header(value.encode("latin-1")))
        elif name == "sec-websocket-key":
            keys.append(value.strip())
        elif name == "sec-websocket-version":
            versions.append(value.strip())
        elif name == "sec-websocket-protocol":
            subprotocols += split_comma_header(value.encode("latin-1"))
        elif name == "sec-websocket-extensions":
            extensions += split_comma_header(value.encode("latin-1"))
        elif name == "origin":
            origin = value
        elif name == "host":
            host = value
        elif name == "transfer-encoding" or (name == "content-length" and value.strip() != "0"):
            has_body = True
    if "websocket" not in upgrade:
        raise HandshakeError(426, "This resource is a WebSocket: upgrade to it.",
                             _UPGRADE_REQUIRED)
    if method != "GET" or http_version != "1.1":
        raise HandshakeError(400, "A WebSocket handshake is a GET request over HTTP/1.1.")
    if "upgrade" not in connection:
        raise HandshakeError(400, "A WebSocket handshake needs 'Connection: Upgrade'.")
    if versions != [WEBSOCKET_VERSION]:
        raise HandshakeError(426, "Only WebSocket version 13 is supported.",
                             (("Sec-WebSocket-Version", WEBSOCKET_VERSION), *_UPGRADE_REQUIRED))
    if len(keys) != 1 or not _valid_key(keys[0]):
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 bytes in base64.")
    if has_body:
        raise HandshakeError(400, "A WebSocket handshake has no body.")
    return Handshake(keys[0], tuple(subprotocols), tuple(extensions), origin, host)


def switching_protocols(fields: list[tuple[bytes, bytes]]) -> bytes:
    """The bytes of a ``101 Switching Protocols`` head with `fields`.

    On a server connection `ServerConnection.switch_protocols` writes it (and
    hands over the bytes that followed); this is for a session on its own.
    """
    return writer.write_informational(101, fields)


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


# -- the session ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Bounds of one WebSocket session; sizes in bytes, times in seconds."""

    #: Largest message, all its fragments together -> close 1009.
    max_message_bytes: int = 1024 * 1024
    #: Silence after which the server pings the client.
    ping_interval: float = 20.0
    #: How long a ping may go unanswered (by anything) before the connection is dropped.
    ping_timeout: float = 20.0
    #: How long to wait for the client's close frame after sending ours.
    close_timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"SessionPolicy.{name} must be positive")


@dataclass(frozen=True, slots=True)
class Message:
    """A whole message from the client: str for a text message, bytes for a binary one."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over: write what `data_to_send` holds, then close the connection.

    `code` is the client's close code, ours if we closed first, or 1006 if the
    connection ended without a close handshake.
    """

    code: int
    reason: str = ""


class _State(enum.Enum):
    OPEN = "open"          # messages flow; a read timeout means: ping
    PINGING = "pinging"    # a ping is out; a read timeout means: the client is gone
    CLOSING = "closing"    # our close frame is out; waiting for the client's
    CLOSED = "closed"      # over: `Closed` was reported


#: Read timeout per state, by `SessionPolicy` field name.
_READ_TIMEOUT = {
    _State.OPEN: "ping_interval",
    _State.PINGING: "ping_timeout",
    _State.CLOSING: "close_timeout",
}
#: What a read that timed out does, per state: ping, or give up.
_ON_TIMEOUT = {
    _State.OPEN: "ping",
    _State.PINGING: "abandon",
    _State.CLOSING: "abandon",
}


class WebSocketSession:
    """One open WebSocket, server side: `receive_data`, `next_event`, `send`, `close`.

    `trailing` are bytes that arrived after the handshake in the same read.
    Whatever the session wants written accumulates in `data_to_send()`. Not
    thread-safe: a caller sharing it between threads holds a lock around it.
    """

    __slots__ = ("_closed", "_fragments", "_fragments_size", "_outgoing", "_policy", "_state",
                 "_text", "_ws")

    def __init__(self, policy: SessionPolicy | None = None,
                 extensions: list[Extension] | None = None, trailing: bytes = b"") -> None:
        self._policy = policy or SessionPolicy()
        self._ws = Connection(ConnectionType.SERVER, extensions)
        self._state = _State.OPEN
        self._outgoing = bytearray()
        self._fragments: list[str | bytes] = []
        self._fragments_size = 0
        self._text = False
        self._closed: Closed | None = None
        if trailing:
            self.receive_data(trailing)

    # -- incoming ------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; ``b""`` means it closed the connection."""
        if self._state is _State.CLOSED or self._ws.state is ConnectionState.CLOSED:
            return
        if self._state is _State.PINGING:
            self._state = _State.OPEN  # any bytes prove the client is there
        self._ws.receive_data(data or None)

    def next_event(self) -> Message | Closed | Wait:
        """The next whole message, `Closed` once, then `Closed` again; or NEED_DATA."""
        if self._closed is not None:
            return self._closed
        for event in self._ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                message = self._assemble(event)
                if message is not None:
                    return message
            elif isinstance(event, Ping):
                self._outgoing += self._ws.send(event.response())
            elif isinstance(event, CloseConnection):
                return self._closed_by_client(event)
            # Pong: its arrival already counted as a sign of life.
            if self._closed is not None:
                return self._closed
        return NEED_DATA

    @property
    def read_timeout(self) -> float:
        """How long the next read may wait, in seconds, before `timed_out()` is due."""
        field = _READ_TIMEOUT.get(self._state)
        return getattr(self._policy, field) if field else 0.0

    def timed_out(self) -> None:
        """No bytes came within `read_timeout`: ping, or give the connection up."""
        action = _ON_TIMEOUT.get(self._state)
        if action == "ping":
            self._outgoing += self._ws.send(Ping(b"webpy"))
            self._state = _State.PINGING
        elif action == "abandon":
            reason = ("no reply to the close frame" if self._state is _State.CLOSING
                      else "no reply to a ping")
            self._finish(Closed(ABNORMAL_CLOSURE, reason))

    # -- outgoing ------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether messages may still be sent."""
        return self._state is _State.OPEN or self._state is _State.PINGING

    def send(self, message: str | bytes) -> None:
        """Queue a text (str) or binary (bytes) message; raises `SessionClosed` once closing."""
        if not self.is_open:
            raise SessionClosed("the WebSocket is closed; nothing more can be sent")
        if not isinstance(message, str | bytes | bytearray | memoryview):
            raise TypeError(f"a WebSocket message is str or bytes, not {type(message).__name__}")
        event = (TextMessage(data=message) if isinstance(message, str)
                 else BytesMessage(data=bytes(message)))
        self._outgoing += self._ws.send(event)

    def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the close handshake; the session ends when the client answers (or not)."""
        if code not in _SENDABLE_CODES:
            raise ValueError(f"{code} is not a close code that may be sent")
        if not self.is_open:
            return
        self._outgoing += self._ws.send(CloseConnection(code=code, reason=reason or None))
        self._state = _State.CLOSING

    @property
    def has_data_to_send(self) -> bool:
        return bool(self._outgoing)

    def data_to_send(self) -> bytes:
        """Everything the session wants written since the last call (maybe ``b""``)."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    @property
    def closed(self) -> Closed | None:
        """How the session ended, once it has."""
        return self._closed

    # -- private -------------------------------------------------------------------------

    def _assemble(self, event: TextMessage | BytesMessage) -> Message | None:
        if self._state is _State.CLOSING:
            return None  # a message after our close frame is dropped, as RFC 6455 allows
        if not self._fragments:
            self._text = type(event) is TextMessage
        data = event.data if isinstance(event.data, str) else bytes(event.data)
        self._fragments_size += len(data.encode("utf-8")) if isinstance(data, str) else len(data)
        if self._fragments_size > self._policy.max_message_bytes:
            self._fragments.clear()
            self._fragments_size = 0
            self.close(MESSAGE_TOO_BIG, "message too big")
            return None
        self._fragments.append(data)
        if not event.message_finished:
            return None
        whole: str | bytes = ("".join(self._fragments) if self._text  # type: ignore[arg-type]
                              else b"".join(self._fragments))  # type: ignore[arg-type]
        self._fragments.clear()
        self._fragments_size = 0
        return Message(whole)

    def _closed_by_client(self, event: CloseConnection) -> Closed:
        if self._ws.state is ConnectionState.REMOTE_CLOSING:  # the client's close frame
            self._outgoing += self._ws.send(event.response())
        elif self._ws.state is ConnectionState.OPEN:  # a framing error wsproto reported
            try:
                self._outgoing += self._ws.send(CloseConnection(code=event.code,
                                                                reason=event.reason))
            except LocalProtocolError:
                pass
        # LOCAL_CLOSING -> CLOSED: the answer to our own close; nothing more to send.
        return self._finish(Closed(int(event.code), event.reason or ""))

    def _finish(self, closed: Closed) -> Closed:
        self._state = _State.CLOSED
        self._closed = closed
        return closed
