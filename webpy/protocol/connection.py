"""The server side of one HTTP/1.1 connection: bytes in, events out; responses in, bytes out.

Theory of operation
-------------------
`ServerConnection` wraps an `h11.Connection` and adds what a hardened server
needs on top of it. Two rules keep it honest:

1. This module does no I/O and keeps no time. It never imports sockets,
   threads, trio or clocks; the caller feeds it bytes (`receive_data`), asks
   for events (`next_event`), and writes whatever bytes the response methods
   return. A `Date` value is passed in by the caller for the same reason.
2. h11 only ever sees bytes that belong to the current request. A request head
   is held back in our buffer until it is complete and has passed the checks
   h11 lacks (`_head`); a body is fed to h11 only up to its declared length,
   or to the end of its chunked framing (`_chunked`). So limits do not depend
   on how the network split the bytes, and a pipelined next request waits in
   our buffer, where it is scanned like any other head.

The request cycle is h11's: `RequestHead`, `BodyChunk`..., `RequestEnd`, then
the response (`start_response`, `send_body`..., `end_response`) and the next
request. When the client has broken the protocol or a limit, `next_event`
raises `ProtocolError` carrying the status code to answer with; the caller
sends that response with `close=True` and closes the connection.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import h11

from ._chunked import ChunkedScanner
from ._head import HeadScanner, check_head_bytes
from .errors import InvalidResponse, ProtocolError
from .events import (
    CONNECTION_CLOSED,
    NEED_DATA,
    PAUSED,
    REQUEST_END,
    BodyChunk,
    Event,
    RequestHead,
    Wait,
)
from .limits import Limits

REASON_PHRASES = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}
CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"

_ABSOLUTE_TARGET = re.compile(rb"https?://", re.IGNORECASE)
_FRAMING_HEADERS = (b"content-length", b"transfer-encoding")
_CHUNKING_HEADER = (b"transfer-encoding",)

_AWAIT_HEAD, _BODY, _REQUEST_DONE, _BROKEN = range(4)


class ServerConnection:
    """One client connection's HTTP/1.1 state, without any I/O.

    `server_header` is sent as the `Server` field of every response.
    """

    __slots__ = (
        "_body_checked",
        "_body_remaining",
        "_buffer",
        "_chunked",
        "_content_length",
        "_eof",
        "_error",
        "_h11",
        "_head_scanner",
        "_keep_alive",
        "_limits",
        "_max_body",
        "_method",
        "_no_body",
        "_request_done",
        "_server_header",
        "_stage",
    )

    def __init__(self, limits: Limits | None = None, *, server_header: bytes = b"webpy") -> None:
        self._limits = limits = limits or Limits()
        if not _FIELD_VALUE.fullmatch(server_header):
            raise ValueError(f"invalid Server header value {server_header!r}")
        self._h11 = _H11Connection(
            h11.SERVER,
            max_incomplete_event_size=limits.max_request_line + limits.max_header_bytes + 4096,
        )
        self._server_header = server_header
        self._buffer = bytearray()
        self._eof = False
        self._stage = _AWAIT_HEAD
        self._head_scanner = HeadScanner(limits)
        self._chunked: ChunkedScanner | None = None
        self._body_remaining = 0
        self._max_body = limits.max_body_bytes
        self._error: ProtocolError | None = None
        self._method = b""
        self._keep_alive = False
        self._no_body = False
        self._request_done = False
        self._content_length: int | None = 0
        self._body_checked = False

    # -- receiving -----------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the client; `b""` means the client closed its side."""
        if not data:
            self._eof = True
        elif self._stage == _BODY and self._chunked is None and not self._buffer:
            # The common large-upload case: hand the body straight to h11.
            take = min(self._body_remaining, len(data))
            if take:
                self._body_remaining -= take
                self._h11.receive_data(data if take == len(data) else data[:take])
            if take < len(data):
                self._buffer += memoryview(data)[take:]
        else:
            self._buffer += data

    @property
    def buffered(self) -> bool:
        """Whether bytes are waiting that may make `next_event` return more."""
        return bool(self._buffer) or self._eof

    def next_event(self) -> Event | Wait:
        """Return the next event, `NEED_DATA`, or `PAUSED` until the response is sent.

        Raises `ProtocolError` if the client broke the protocol or a limit;
        the connection is then unusable except to send the error response.
        """
        if self._error is not None:
            raise self._error
        try:
            if self._stage == _BODY:
                return self._next_body_event()
            if self._stage == _AWAIT_HEAD:
                return self._next_head()
            if self._stage == _REQUEST_DONE and self._h11.our_state in (h11.MUST_CLOSE, h11.CLOSED):
                return CONNECTION_CLOSED  # the response is sent and said close
            return PAUSED
        except ProtocolError as error:
            self._stage = _BROKEN
            self._error = error
            raise

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
        if self._stage == _BODY:
            try:
                self._check_declared_length()
            except ProtocolError as error:
                self._stage = _BROKEN
                self._error = error
                raise
        if self._h11.they_are_waiting_for_100_continue:
            self._h11.send(
                h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
            )
            return CONTINUE_RESPONSE
        return b""

    @property
    def expects_continue(self) -> bool:
        """The client is waiting for a 100 Continue before it sends the body."""
        return self._h11.they_are_waiting_for_100_continue

    @property
    def request_complete(self) -> bool:
        """The current request's body has been read to its end."""
        return self._request_done

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
        for an HTTP/1.0 client, delimited by closing the connection). Framing
        headers in `headers` are replaced by the ones this method chooses.
        `close=True` ends the connection after this response. Raises
        `InvalidResponse` if a header name or value is not allowed on the wire
        (CR, LF, NUL...); nothing has been sent then.
        """
        if not 200 <= status_code <= 999:
            raise InvalidResponse(f"final status code expected, got {status_code}")
        self._no_body = self._method == b"HEAD" or status_code in (204, 304)
        framed_here = status_code == 204 or (content_length is not None and status_code != 304)
        fields = [(b"Date", date), (b"Server", self._server_header)]
        fields += _checked_fields(headers, _FRAMING_HEADERS if framed_here else _CHUNKING_HEADER)
        if content_length is not None and framed_here and status_code != 204:
            fields.append((b"Content-Length", b"%d" % content_length))
        if close:
            fields.append((b"Connection", b"close"))
        if reason is None:
            reason = REASON_PHRASES.get(status_code, b"Unknown")
        elif not _REASON_PHRASE.fullmatch(reason):
            raise InvalidResponse(f"invalid reason phrase {reason!r}")
        try:
            response = h11.Response(status_code=status_code, headers=fields, reason=reason,
                                    _parsed=True)
        except h11.LocalProtocolError as error:
            raise InvalidResponse(str(error)) from None
        if self._keep_alive and not close and (
                content_length is not None or status_code in (204, 304)):
            self._h11.ready_response = response
        return self._h11.send(response)

    def send_body(self, data: bytes) -> list[bytes]:
        """Return the bytes that carry `data` as (part of) the response body.

        The list holds `data` itself, uncopied, with any chunk framing around
        it; for a response without a body (HEAD, 204, 304) it is empty.
        """
        if self._no_body or not data:
            return []
        chunks = self._h11.send_with_data_passthrough(h11.Data(data=data))
        assert chunks is not None
        return chunks

    def send_file_body(self, count: int) -> tuple[bytes, bytes]:
        """Account for `count` body bytes the caller writes itself (e.g. with sendfile).

        Returns the framing to write before and after those bytes.
        """
        if self._no_body or not count:
            return b"", b""
        placeholder = _Length(count)
        chunks = self._h11.send_with_data_passthrough(h11.Data(data=placeholder))  # type: ignore[arg-type]
        assert chunks is not None
        at = next(i for i, chunk in enumerate(chunks) if chunk is placeholder)  # type: ignore[comparison-overlap]
        return b"".join(chunks[:at]), b"".join(chunks[at + 1:])

    def end_response(self) -> bytes:
        """Return the bytes that end the response (the last chunk, if chunked).

        Raises `InvalidResponse` if the body was shorter than its Content-Length.
        """
        try:
            data = self._h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as error:
            raise InvalidResponse(str(error)) from None
        if self._request_done and self._h11.our_state is h11.DONE:
            self._start_next_request()
        return data

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
        return b"".join((head, *self.send_body(body), self.end_response()))

    @property
    def can_respond(self) -> bool:
        """No response head has been sent for the current request yet."""
        return self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    @property
    def response_has_body(self) -> bool:
        """The response being sent carries a body (not HEAD, 204 or 304)."""
        return not self._no_body

    @property
    def will_close(self) -> bool:
        """The connection must be closed once the current response is sent."""
        return (
            self._stage == _BROKEN
            or not self._keep_alive
            or self._h11.our_state in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
            or self._h11.their_state in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
        )

    # -- private ---------------------------------------------------------------

    def _next_head(self) -> Event | Wait:
        buffer = self._buffer
        while buffer[:2] == b"\r\n":
            del buffer[:2]
        end = self._head_scanner.find_end(buffer) if buffer else -1
        if end < 0:
            if self._eof:
                if buffer:
                    raise ProtocolError(400, "connection closed inside the request head")
                return CONNECTION_CLOSED
            return NEED_DATA
        head = bytes(buffer[:end])
        del buffer[:end]
        self._head_scanner.reset()
        check_head_bytes(head)
        self._h11.receive_data(head)
        event = self._h11_event()
        assert type(event) is h11.Request
        return self._start_request(event)

    def _start_request(self, event: h11.Request) -> RequestHead:
        # h11 has the request now and frames any response, even a refusal, by its
        # method (none for HEAD): ours must agree before anything can be refused.
        self._method = event.method
        version = event.http_version
        if version != b"1.1" and version != b"1.0":
            raise ProtocolError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
        method, target = event.method, event.target
        if method == b"CONNECT":
            raise ProtocolError(501, "CONNECT is not supported")
        if target[:1] != b"/" and not (
            (target == b"*" and method == b"OPTIONS") or _ABSOLUTE_TARGET.match(target)
        ):
            raise ProtocolError(400, "malformed request target")
        content_length: int | None = 0
        has_length = chunked = has_host = False
        keep_alive = version != b"1.0"
        raw_headers = event.headers.raw_items()
        for raw_name, value in raw_headers:
            name = raw_name.lower()
            if name == b"content-length":
                has_length = True
                content_length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"host":
                has_host = True
                if b"," in value:
                    raise ProtocolError(400, "more than one Host in the Host field")
            elif name == b"connection" and b"close" in value.lower():
                keep_alive = False
        if has_length and chunked:
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
        if chunked and version == b"1.0":
            # RFC 9112 section 6.1: an HTTP/1.0 sender cannot mean it; its framing is faulty.
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if not has_host and version != b"1.0":
            raise ProtocolError(400, "missing Host header")
        self._keep_alive = keep_alive
        self._max_body = self._limits.max_body_bytes
        self._request_done = False
        self._body_checked = False
        self._content_length = content_length
        self._stage = _BODY
        if chunked:
            content_length = None
            self._chunked = ChunkedScanner(self._limits, self._max_body)
        else:
            self._chunked = None
            self._body_remaining = content_length or 0
        return RequestHead(
            method=method,
            target=target,
            http_version=version,
            headers=raw_headers,
            content_length=content_length,
            expects_continue=self._h11.they_are_waiting_for_100_continue,
            keep_alive=keep_alive,
        )

    def _next_body_event(self) -> Event | Wait:
        if not self._body_checked:
            self._check_declared_length()
        while True:
            event = self._h11_event()
            if type(event) is h11.Data:
                return BodyChunk(bytes(event.data))
            if type(event) is h11.EndOfMessage:
                self._request_done = True
                if self._h11.our_state is h11.DONE:
                    self._start_next_request()
                else:
                    self._stage = _REQUEST_DONE
                return REQUEST_END
            if not self._feed_body():
                return NEED_DATA

    def _feed_body(self) -> bool:
        """Move body bytes from our buffer to h11; return whether anything moved."""
        buffer = self._buffer
        if buffer:
            if self._chunked is None:
                take = min(self._body_remaining, len(buffer))
                self._body_remaining -= take
            else:
                take = self._chunked.scan(buffer)
            if take:
                self._h11.receive_data(bytes(buffer[:take]))
                del buffer[:take]
                return True
        if self._eof and self._h11.their_state is h11.SEND_BODY:
            self._h11.receive_data(b"")
            return True
        return False

    def _check_declared_length(self) -> None:
        self._body_checked = True
        if self._content_length is not None and self._content_length > self._max_body:
            raise ProtocolError(413, "request body too large")

    def _h11_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            return self._h11.next_event()
        except h11.RemoteProtocolError as error:
            raise ProtocolError(error.error_status_hint, str(error)) from None

    def _start_next_request(self) -> None:
        self._h11.start_next_cycle()
        self._stage = _AWAIT_HEAD
        self._chunked = None
        # An error answered before the next head parses answers no method: it has a body.
        self._method = b""


class _H11Connection(h11.Connection):
    """h11's connection, minus one repeated check on the hot path.

    When sending a Response, h11 rebuilds it to add framing headers
    (Transfer-Encoding, Connection: close), validating every field a second
    time. A response that `start_response` has already validated, that
    carries its own length and that keeps the connection open needs none of
    that: h11 would rebuild it unchanged. Such a response is marked as
    `ready_response` and passed through; every other one takes h11's path.
    The wire bytes are the same either way (a property test pins this).
    """

    ready_response: h11.Response | None = None

    def _clean_up_response_headers_for_sending(self, response: h11.Response) -> h11.Response:
        if response is self.ready_response:
            self.ready_response = None
            return response
        return super()._clean_up_response_headers_for_sending(response)


# RFC 9110 section 5.1 and 5.5: a field name is a token; a value has no CR, LF,
# NUL or other control bytes, and no leading or trailing whitespace.
_FIELD_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?")
_REASON_PHRASE = re.compile(rb"[\t \x21-\x7e\x80-\xff]*")
_CHECKED_NAMES: set[bytes] = set()


def _checked_fields(fields: list[tuple[bytes, bytes]], dropped: tuple[bytes, ...]
                    ) -> list[tuple[bytes, bytes]]:
    """`fields` without the framing headers named in `dropped` (lowercase).

    Raises `InvalidResponse` for a field that must not reach the wire, dropped
    or not: a bad field is a bug in the application either way.
    """
    kept = []
    for name, value in fields:
        if name not in _CHECKED_NAMES:
            if type(name) is not bytes or not _FIELD_NAME.fullmatch(name):
                raise InvalidResponse(f"invalid header name {name!r}")
            if len(_CHECKED_NAMES) < 1024:
                _CHECKED_NAMES.add(name)
        if type(value) is not bytes or not _FIELD_VALUE.fullmatch(value):
            raise InvalidResponse(f"invalid value for header {name!r}: {value!r}")
        if name.lower() not in dropped:
            kept.append((name, value))
    return kept


class _Length:
    """Stands in for body bytes that h11 must count but the caller sends itself."""

    __slots__ = ("_count",)

    def __init__(self, count: int) -> None:
        self._count = count

    def __len__(self) -> int:
        return self._count
