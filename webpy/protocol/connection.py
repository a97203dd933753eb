"""The server side of one HTTP/1.1 connection: bytes in, events out; responses in, bytes out.

Theory of operation
-------------------
`ServerConnection` is the protocol layer's one public object. Three rules
keep it honest:

1. It does no I/O and keeps no time. It never imports sockets, threads,
   trio or clocks; the caller feeds it bytes (`receive_data`), asks for
   events (`next_event`), and writes whatever bytes the response methods
   return. A `Date` value is passed in by the caller for the same reason.
2. Where the connection is in its cycle is one `State`, changed only through
   `_TRANSITIONS`: a table of (state, what happened) -> next state. A
   method that is not allowed in the current state finds no row and raises.
   What a state allows is read from the state, never from flags.
3. Each byte is handled once. The connection's buffer holds what the client
   sent and not yet consumed, pipelined requests included. A request head
   is found and size-checked in it, vetted, then parsed by a fresh
   `h11.Connection` that sees that head and nothing else (`_head`): h11
   is the parser of request heads, and no response is ever fed to it. The
   body is cut from the same buffer: by its Content-Length, or by the
   strict chunked reader (`_chunked`). A response is serialised by
   `writer`, whose table makes every framing decision.

The request cycle is: `RequestHead`, `BodyChunk`..., `RequestEnd`, then the
response (`start_response`, `send_body`..., `end_response`) and the next
request. A response may start before the body is read (a refusal, or a
handler that ignores the body); the rest of the body is then read, and
discarded by the caller, before the next head. When the client has broken
the protocol or a limit, `next_event` raises `ProtocolError` carrying the
status code to answer with; the caller sends that response (it always
says ``Connection: close``) and closes the connection.

=================  ==================================================
state              what it allows
=================  ==================================================
AWAIT_HEAD         reading a head; an error response (e.g. 408)
BODY               reading the body; any response
REQUEST_DONE       the response (`next_event` says PAUSED)
RESPONDING         the response's body and end
RESPONDING_EARLY   the response's body and end, and reading the body
DISCARDING         reading the rest of a body already answered
BROKEN             only the error response, then closing
CLOSED             nothing: `next_event` says ConnectionClosed
=================  ==================================================
"""

from __future__ import annotations

import enum

from . import writer
from ._chunked import ChunkedReader
from ._head import HeadScanner, check_head_bytes, read_request, vet_request
from .errors import InvalidResponse, ProtocolError
from .events import (
    CONNECTION_CLOSED,
    NEED_DATA,
    PAUSED,
    REQUEST_END,
    BodyChunk,
    Event,
    RequestEnd,
    Wait,
)
from .limits import Limits
from .writer import CONTINUE_RESPONSE, REASON_PHRASES, Framing, Peer

__all__ = ["CONTINUE_RESPONSE", "REASON_PHRASES", "ServerConnection", "State"]


class State(enum.Enum):
    """Where a connection is in its request cycle; see the module docstring."""

    AWAIT_HEAD = "waiting for a request head"
    BODY = "reading the request body, no response yet"
    REQUEST_DONE = "request read, waiting for its response"
    RESPONDING = "sending the response, request read"
    RESPONDING_EARLY = "sending the response, request body not all read"
    DISCARDING = "response sent, reading the rest of the request body"
    BROKEN = "the client broke the protocol: only an error response is left"
    CLOSED = "nothing more on this connection"

    __hash__ = object.__hash__  # a C-level hash: the table is read on every request


class _Happened(enum.Enum):
    """What moves a connection from one state to the next."""

    HEAD = "a request head was read"
    BODY_END = "the request body ended"
    RESPONSE_START = "a response head was written"
    RESPONSE_END = "a response ended, keeping the connection"
    RESPONSE_END_CLOSE = "a response ended, closing the connection"
    RESPONSE_FAILED = "a response could not be completed"
    SWITCH = "a 101 handed the connection to another protocol"
    CLIENT_CLOSED = "the client closed between requests"
    ERROR = "the client broke the protocol or a limit"

    __hash__ = object.__hash__


_S, _H = State, _Happened
_TRANSITIONS: dict[tuple[State, _Happened], State] = {
    (_S.AWAIT_HEAD, _H.HEAD): _S.BODY,
    (_S.AWAIT_HEAD, _H.CLIENT_CLOSED): _S.CLOSED,
    (_S.AWAIT_HEAD, _H.RESPONSE_START): _S.RESPONDING,  # 408 or 503 before any request
    (_S.AWAIT_HEAD, _H.ERROR): _S.BROKEN,
    (_S.BODY, _H.BODY_END): _S.REQUEST_DONE,
    (_S.BODY, _H.RESPONSE_START): _S.RESPONDING_EARLY,
    (_S.BODY, _H.ERROR): _S.BROKEN,
    (_S.REQUEST_DONE, _H.RESPONSE_START): _S.RESPONDING,
    (_S.REQUEST_DONE, _H.SWITCH): _S.CLOSED,  # what follows is no longer HTTP
    (_S.RESPONDING, _H.RESPONSE_END): _S.AWAIT_HEAD,
    (_S.RESPONDING, _H.RESPONSE_END_CLOSE): _S.CLOSED,
    (_S.RESPONDING, _H.RESPONSE_FAILED): _S.CLOSED,
    (_S.RESPONDING_EARLY, _H.BODY_END): _S.RESPONDING,
    (_S.RESPONDING_EARLY, _H.RESPONSE_END): _S.DISCARDING,
    (_S.RESPONDING_EARLY, _H.RESPONSE_END_CLOSE): _S.CLOSED,
    (_S.RESPONDING_EARLY, _H.RESPONSE_FAILED): _S.CLOSED,
    (_S.RESPONDING_EARLY, _H.ERROR): _S.CLOSED,
    (_S.DISCARDING, _H.BODY_END): _S.AWAIT_HEAD,
    (_S.DISCARDING, _H.ERROR): _S.CLOSED,
    (_S.BROKEN, _H.RESPONSE_START): _S.RESPONDING,  # the error response; it closes
    (_S.BROKEN, _H.ERROR): _S.BROKEN,
}

#: States in which no response head has been written for the current request.
_CAN_RESPOND = frozenset((_S.AWAIT_HEAD, _S.BODY, _S.REQUEST_DONE, _S.BROKEN))
#: States in which the request body is being read.
_READING_BODY = frozenset((_S.BODY, _S.RESPONDING_EARLY, _S.DISCARDING))

#: Every combination of what the writer needs to know of a request, made once.
_PEERS = {(head, http_11, keep_alive): Peer(head, http_11, keep_alive)
          for head in (False, True) for http_11 in (False, True) for keep_alive in (False, True)}


class ServerConnection:
    """One client connection's HTTP/1.1 state, without any I/O.

    `server_header` is sent as the `Server` field of every response.
    """

    __slots__ = (
        "_body_remaining",
        "_buffer",
        "_chunked",
        "_content_length",
        "_continue",
        "_eof",
        "_error",
        "_framing",
        "_head_scanner",
        "_keep_alive",
        "_length_left",
        "_limits",
        "_max_body",
        "_peer",
        "_server_header",
        "_state",
    )

    def __init__(self, limits: Limits | None = None, *, server_header: bytes = b"webpy") -> None:
        self._limits = limits = limits or Limits()
        self._server_header = server_header
        if not writer.is_field_value(server_header):
            raise ValueError(f"invalid Server header value {server_header!r}")
        self._state = State.AWAIT_HEAD
        self._buffer = bytearray()
        self._eof = False
        self._error: ProtocolError | None = None
        self._head_scanner = HeadScanner(limits)
        # The request being read.
        self._peer = writer.UNKNOWN_PEER
        self._keep_alive = False
        self._content_length = 0  # declared; 0 for a chunked body
        self._body_remaining = 0
        self._chunked: ChunkedReader | None = None
        self._max_body = limits.max_body_bytes
        self._continue = b""  # the 100 Continue owed to a client that waits for it
        # The response being written.
        self._framing = Framing.LENGTH
        self._length_left = 0

    @property
    def state(self) -> State:
        """Where the connection is in its request cycle."""
        return self._state

    # -- receiving -----------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the client; `b""` means the client closed its side."""
        if data:
            self._buffer += data
        else:
            self._eof = True

    @property
    def buffered(self) -> bool:
        """Whether bytes are waiting that may make `next_event` return more."""
        return bool(self._buffer) or self._eof

    def next_event(self) -> Event | Wait:
        """Return the next event, `NEED_DATA`, or `PAUSED` until the response is sent.

        Raises `ProtocolError` if the client broke the protocol or a limit;
        the connection is then unusable except to send the error response.
        """
        state = self._state
        try:
            if state is State.AWAIT_HEAD:
                return self._next_head()
            if state in _READING_BODY:
                return self._next_body_event()
        except ProtocolError as error:
            self._fail(error)
            raise
        if state is State.CLOSED:
            if self._error is not None:
                raise self._error
            return CONNECTION_CLOSED
        if state is State.BROKEN:
            assert self._error is not None
            raise self._error
        return PAUSED

    def accept_body(self, max_body: int | None = None) -> bytes:
        """Start reading the request body; return bytes to send first (maybe a 100 Continue).

        Call this when the application asks for the body. `max_body` overrides
        the connection's limit for this request. Raises `ProtocolError(413)`
        at once if the declared Content-Length is over the limit, in which case
        no 100 Continue is sent and the client never sends the body.
        """
        if max_body is not None:
            self._max_body = max_body
            if self._chunked is not None:
                self._chunked.set_max_body(max_body)
        if self._state in _READING_BODY and self._content_length > self._max_body:
            error = ProtocolError(413, "request body too large")
            self._fail(error)
            raise error
        interim, self._continue = self._continue, b""
        return interim

    @property
    def expects_continue(self) -> bool:
        """The client is waiting for a 100 Continue before it sends the body."""
        return bool(self._continue)

    @property
    def request_complete(self) -> bool:
        """The current request's body has been read to its end."""
        return self._state not in _READING_BODY

    # -- sending -------------------------------------------------------------

    def start_response(
        self,
        status_code: int,
        headers: list[tuple[bytes, bytes]],
        date: bytes,
        *,
        reason: bytes | None = None,
        content_length: int | None = None,
        close: bool = False,
    ) -> bytes:
        """Return the bytes of a response head.

        `content_length` frames the body; without it the body is chunked (or,
        for an HTTP/1.0 client, delimited by closing the connection), unless
        `headers` carries a valid Content-Length of its own. Other framing
        headers in `headers` are replaced by the ones the writer chooses.
        `close=True` ends the connection after this response. Raises
        `InvalidResponse` if a header name or value is not allowed on the wire
        (CR, LF, NUL...); nothing has been sent then.
        """
        state = self._state
        if state not in _CAN_RESPOND:
            raise RuntimeError(f"a response was already started ({state.value})")
        head = writer.write_head(
            status_code, headers, date, self._server_header, self._peer, reason=reason,
            content_length=content_length, close=close or state is State.BROKEN)
        self._move(_Happened.RESPONSE_START)
        self._continue = b""
        self._keep_alive = head.keep_alive
        self._framing = head.framing
        self._length_left = head.length or 0
        return head.data

    def send_body(self, data: bytes) -> list[bytes]:
        """Return the bytes that carry `data` as (part of) the response body.

        The list holds `data` itself, uncopied, with any chunk framing around
        it; for a response without a body (HEAD, 204, 304) it is empty.
        Raises `InvalidResponse` past the declared Content-Length.
        """
        framing = self._framing
        if framing is Framing.LENGTH:
            self._count(len(data))
            return [data] if data else []
        if framing is Framing.CHUNKED:
            return writer.chunk(data)
        if framing is Framing.UNTIL_CLOSE and data:
            return [data]
        return []

    def send_file_body(self, count: int) -> tuple[bytes, bytes]:
        """Account for `count` body bytes the caller writes itself (e.g. with sendfile).

        Returns the framing to write before and after those bytes.
        """
        framing = self._framing
        if framing is Framing.LENGTH:
            self._count(count)
        elif framing is Framing.CHUNKED and count:
            return writer.chunk_around(count)
        return b"", b""

    def end_response(self) -> bytes:
        """Return the bytes that end the response (the last chunk, if chunked).

        Raises `InvalidResponse` if the body was shorter than its Content-Length.
        """
        if self._framing is Framing.LENGTH and self._length_left:
            self._move(_Happened.RESPONSE_FAILED)
            raise InvalidResponse(
                f"response body {self._length_left} bytes shorter than its Content-Length")
        self._end()
        return writer.END_OF_BODY[self._framing]

    def respond(
        self,
        status_code: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        date: bytes,
        *,
        reason: bytes | None = None,
        close: bool = False,
    ) -> bytes:
        """Return a whole response with a body of known length, in one piece."""
        head = self.start_response(
            status_code, headers, date, reason=reason, content_length=len(body), close=close
        )
        self._end()
        if body and self._framing is Framing.LENGTH:
            return head + body
        return head

    def switch_protocols(self, headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
        """Answer the request with 101 Switching Protocols, once it has been read whole.

        Returns the 101's bytes and the bytes received after the request: they
        belong to the new protocol (a WebSocket client may send its first frame
        in the same packet as its handshake). The connection is done with HTTP.
        Raises `InvalidResponse` for a field that may not be sent.
        """
        head = writer.write_informational(101, [(b"Server", self._server_header), *headers])
        self._move(_Happened.SWITCH)
        trailing = bytes(self._buffer)
        self._buffer.clear()
        return head, trailing

    @property
    def can_respond(self) -> bool:
        """No response head has been sent for the current request yet."""
        return self._state in _CAN_RESPOND

    @property
    def response_has_body(self) -> bool:
        """The response being sent carries a body (not HEAD, 204 or 304)."""
        return self._framing is not Framing.NONE

    @property
    def will_close(self) -> bool:
        """The connection must be closed once the current response is sent."""
        return not self._keep_alive or self._state is State.BROKEN or self._state is State.CLOSED

    # -- private ---------------------------------------------------------------

    def _move(self, happened: _Happened) -> None:
        try:
            self._state = _TRANSITIONS[self._state, happened]
        except KeyError:
            raise RuntimeError(
                f"{happened.value} is not allowed when {self._state.value}") from None

    def _fail(self, error: ProtocolError) -> None:
        self._error = error
        self._move(_Happened.ERROR)

    def _next_head(self) -> Event | Wait:
        buffer = self._buffer
        while buffer.startswith(b"\r\n"):
            del buffer[:2]
        end = self._head_scanner.find_end(buffer) if buffer else -1
        if end < 0:
            if self._eof:
                if buffer:
                    raise ProtocolError(400, "connection closed inside the request head")
                self._move(_Happened.CLIENT_CLOSED)
                return CONNECTION_CLOSED
            return NEED_DATA
        if end == len(buffer):
            head = bytes(buffer)
            buffer.clear()
        else:
            head = bytes(buffer[:end])
            del buffer[:end]
        self._head_scanner.reset()
        field_lines = check_head_bytes(head)
        request = read_request(head)
        version_11 = request.http_version == b"1.1"
        # A refusal from here on answers this request: no body if it is a HEAD.
        self._peer = _PEERS[request.method == b"HEAD", version_11, False]
        event, chunked = vet_request(request, head, field_lines)
        self._peer = _PEERS[request.method == b"HEAD", version_11, event.keep_alive]
        self._keep_alive = event.keep_alive
        self._max_body = self._limits.max_body_bytes
        self._continue = CONTINUE_RESPONSE if event.expects_continue else b""
        if chunked:
            self._chunked = ChunkedReader(self._limits, self._max_body)
            self._content_length = self._body_remaining = 0
        else:
            self._chunked = None
            self._content_length = self._body_remaining = event.content_length or 0
        self._move(_Happened.HEAD)
        return event

    def _next_body_event(self) -> Event | Wait:
        buffer = self._buffer
        reader = self._chunked
        if reader is None:
            remaining = self._body_remaining
            if not remaining:
                return self._body_end()
            if self._content_length > self._max_body:
                raise ProtocolError(413, "request body too large")
            if not buffer:
                if self._eof:
                    raise ProtocolError(400, "connection closed inside the request body")
                return NEED_DATA
            if remaining >= len(buffer):
                data = bytes(buffer)
                buffer.clear()
            else:
                data = bytes(buffer[:remaining])
                del buffer[:remaining]
            self._body_remaining = remaining - len(data)
        else:
            data, used = reader.read(buffer)
            if used:
                del buffer[:used]
            if not data:
                if reader.done:
                    return self._body_end()
                if self._eof:
                    raise ProtocolError(400, "connection closed inside the request body")
                return NEED_DATA
        self._continue = b""  # the client sent its body without waiting
        return BodyChunk(data)

    def _body_end(self) -> RequestEnd:
        self._continue = b""
        self._move(_Happened.BODY_END)
        if self._state is State.AWAIT_HEAD:  # the body of a request already answered
            self._peer = writer.UNKNOWN_PEER
        return REQUEST_END

    def _end(self) -> None:
        if self._keep_alive:
            self._move(_Happened.RESPONSE_END)
            if self._state is State.AWAIT_HEAD:
                self._peer = writer.UNKNOWN_PEER
        else:
            self._move(_Happened.RESPONSE_END_CLOSE)

    def _count(self, count: int) -> None:
        """Count `count` body bytes against the declared Content-Length."""
        self._length_left -= count
        if self._length_left < 0:
            self._move(_Happened.RESPONSE_FAILED)
            raise InvalidResponse("response body longer than its Content-Length")
