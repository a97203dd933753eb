"""The request cycle, written once for every transport.

Theory of operation
-------------------
A transport owns sockets (or trio streams, or memory buffers) and nothing
else. What to do with a connection, and in what order, is decided here, by
`ConnectionDriver.run()`: a generator that yields *actions* (read, write,
send this file region, take this lock, run this handler, pull the next body
chunk, drain and close) and is sent each action's result. It joins the
protocol layer (`ServerConnection`: bytes and HTTP events) to the application
layer (`Application`: routes and handlers), and neither of those knows the
other exists.

A transport's loop is therefore short: perform the action in its own way
(a blocking `recv`, `await stream.receive_some()`, a memory buffer), send
the result back, repeat until the generator returns, then close. If the
transport gives up on a connection (the client vanished, a write timed out)
it calls `close()` on the generator, and the driver's `finally` blocks
release locks and close response bodies.

What each action expects back:

=========== ==============================================================
`Read`      bytes received; ``b""`` if the client closed; None if the
            read timed out (the transport applies `Read.timeout(limits)`)
`Write`     nothing; the bytes (or list of buffers) must all be written
`SendFile`  nothing; `count` bytes of `file` from `offset` must be written
`Acquire`   nothing, once the lock is held (``lock.acquire(exclusive)``); asked
            only when the lock's `try_acquire` could not take it at once
`Handle`    the `Response` from running the call (`run_call` for sync
            transports)
`Pull`      the next chunk of a streamed body, or None at its end; if the
            body's iterator raises, throw that exception into the generator
`Drain`     nothing; shut down the write side, read and discard what the
            client still sends (bounded by `Limits.drain_*`), then close
=========== ==============================================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..app import Application, Call, FileBody, HTTPError, Request, Response, StreamBody
from ..app.locks import ResourceLocks
from ..protocol import (
    NEED_DATA,
    BodyChunk,
    InvalidResponse,
    Limits,
    ProtocolError,
    RequestHead,
    ServerConnection,
    Wait,
    http_date,
)

logger = logging.getLogger("webpy")
access_logger = logging.getLogger("webpy.access")

#: Bodies up to this size are joined with their head into one write.
_JOIN_LIMIT = 32 * 1024
#: An unread request body up to this size is read and discarded after an
#: early response, to keep the connection; a larger one closes it.
_DISCARD_LIMIT = 64 * 1024


# -- actions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Read:
    """Read some bytes (up to 64 KiB) within the timeout for `phase`."""

    phase: str  # "idle", "head" or "body"

    def timeout(self, limits: Limits) -> float:
        if self.phase == "idle":
            return limits.keepalive_timeout
        if self.phase == "head":
            return limits.head_timeout
        return limits.body_timeout


@dataclass(frozen=True, slots=True)
class Write:
    data: bytes | list[bytes]


@dataclass(frozen=True, slots=True)
class SendFile:
    file: Any
    offset: int
    count: int


@dataclass(frozen=True, slots=True)
class Acquire:
    lock: Any
    exclusive: bool


@dataclass(frozen=True, slots=True)
class Handle:
    """Run `call`; `body` is the whole request body, or None if the handler streams it."""

    call: Call
    body: bytes | None


@dataclass(frozen=True, slots=True)
class Pull:
    body: StreamBody


@dataclass(frozen=True, slots=True)
class Drain:
    pass


Action = Read | Write | SendFile | Acquire | Handle | Pull | Drain

READ_IDLE = Read("idle")
READ_HEAD = Read("head")
READ_BODY = Read("body")
DRAIN = Drain()


class HeadDeadline:
    """When a read must finish: the head timeout runs from the head's first bytes.

    A client trickling a head byte by byte must not reset its clock with each
    byte, so a run of consecutive head reads shares one deadline. Idle and body
    reads each get their full timeout.
    """

    __slots__ = ("_head_deadline", "_limits")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._head_deadline: float | None = None

    def for_read(self, read: Read, now: float) -> float:
        if read is READ_HEAD:
            if self._head_deadline is None:
                self._head_deadline = now + self._limits.head_timeout
            return self._head_deadline
        self._head_deadline = None
        return now + read.timeout(self._limits)


# -- what connections share ----------------------------------------------------


class Site:
    """What every connection of one server shares: app, limits, locks, clock.

    `new_lock` makes a per-resource lock of the transport's kind (blocking for
    threads, awaitable for trio). `clock` gives wall-clock seconds for the
    `Date` header, formatted at most once a second.
    """

    def __init__(
        self,
        app: Application,
        limits: Limits,
        new_lock: Callable[[], Any],
        *,
        server_header: bytes = b"webpy/" + __version__.encode(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.limits = limits
        self.locks: ResourceLocks[Any] = ResourceLocks(new_lock)
        self.server_header = server_header
        self._clock = clock
        self._date_second = -1
        self._date = b""
        self._log_second = -1
        self._log_date = ""

    def date(self) -> bytes:
        now = int(self._clock())
        if now != self._date_second:
            self._date, self._date_second = http_date(now), now
        return self._date

    def log_access(self, client: tuple[str, int] | None, request: Request | None, status: int,
                   size: int) -> None:
        """One Common Log Format record on `webpy.access`, if anyone listens.

        Everything is formatted only then: a server without an access log pays
        one `isEnabledFor` per response.
        """
        if not access_logger.isEnabledFor(logging.INFO):
            return
        request_line = _request_line(request) if request is not None else "-"
        now = int(self._clock())
        if now != self._log_second:
            self._log_date = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now))
            self._log_second = now
        host = client[0] if client else "-"
        access_logger.info('%s - - [%s] "%s" %d %s', host, self._log_date, request_line,
                           status, size or "-")


# -- one connection ------------------------------------------------------------


class ConnectionDriver:
    """The request cycle of one connection; see the module docstring."""

    __slots__ = ("client", "connection", "scheme", "site")

    def __init__(self, site: Site, client: tuple[str, int] | None = None,
                 scheme: str = "http") -> None:
        self.site = site
        self.connection = ServerConnection(site.limits, server_header=site.server_header)
        self.client = client
        self.scheme = scheme

    def run(self) -> Generator[Action, Any, None]:
        """Serve requests until the connection should close."""
        connection = self.connection
        while True:
            try:
                event = connection.next_event()
            except ProtocolError as error:
                yield from self._refuse(error, None)
                return
            if event is NEED_DATA:
                read = READ_HEAD if connection.buffered else READ_IDLE
                data = yield read
                if data is None:
                    if read is READ_HEAD:
                        yield from self._refuse(ProtocolError(408, "request head too slow"), None)
                    return
                connection.receive_data(data)
                continue
            if type(event) is not RequestHead:
                return  # the client closed between requests
            if not (yield from self._exchange(event)):
                return

    def body_reader(self, call: Call) -> BodyReader:
        """The sans-IO reader behind a streamed request body, for transports' streams."""
        return BodyReader(self.connection, call.max_body_bytes)

    def _exchange(self, head: RequestHead) -> Generator[Action, Any, bool]:
        site = self.site
        request = Request(
            head.method.decode("ascii"),
            head.target.decode("ascii"),
            head.headers,
            http_version=head.http_version.decode("ascii"),
            client=self.client,
            scheme=self.scheme,
        )
        begun = site.app.begin(request)
        if type(begun) is Response:
            return (yield from self._respond(head, request, begun))
        call: Call = begun  # type: ignore[assignment]
        body: bytes | None = None
        if not call.stream_body:
            try:
                if head.content_length == 0:  # no body: only its end to take
                    self.connection.next_event()
                    body = b""
                else:
                    body = yield from self._read_body(call)
            except ProtocolError as error:
                yield from self._refuse(error, request)
                return False
        resource = call.resource
        if resource is None:
            response = yield Handle(call, body)
            return (yield from self._respond(head, request, response))
        lock = site.locks.hold(resource)
        acquired = False
        try:
            if not lock.try_acquire(call.exclusive):
                yield Acquire(lock, call.exclusive)
            acquired = True
            response = yield Handle(call, body)
            return (yield from self._respond(head, request, response))
        finally:
            if acquired:
                lock.release(call.exclusive)
            site.locks.drop(resource)

    def _read_body(self, call: Call) -> Generator[Action, Any, bytes]:
        connection = self.connection
        interim = connection.accept_body(call.max_body_bytes)
        if interim:
            yield Write(interim)
        chunks = []
        while True:
            event = connection.next_event()
            if type(event) is BodyChunk:
                chunks.append(event.data)
            elif event is NEED_DATA:
                data = yield READ_BODY
                if data is None:
                    raise ProtocolError(408, "request body too slow")
                connection.receive_data(data)
            else:
                return b"".join(chunks)

    def _respond(self, head: RequestHead, request: Request, response: Response
                 ) -> Generator[Action, Any, bool]:
        connection, site = self.connection, self.site
        body = response.body
        unread = not connection.request_complete
        close = connection.will_close or (unread and (
            connection.expects_continue
            or head.content_length is None
            or head.content_length > _DISCARD_LIMIT
        ))
        try:
            start = self._start(response, close)
        except InvalidResponse as error:
            logger.error("invalid response to %s %s: %s", request.method, request.target, error)
            _close_body(body)
            response = site.app.error_response(HTTPError(500), request)
            body = response.body
            try:
                start = self._start(response, close)
            except InvalidResponse as page_error:  # a custom error page is unwritable too
                logger.error("invalid error page for %s %s: %s", request.method, request.target,
                             page_error)
                _close_body(body)
                response = Response(500)
                body = response.body
                start = self._start(response, close)
        sent = 0
        try:
            if type(body) is bytes:
                framed = connection.send_body(body)
                sent = len(body) if framed else 0  # HEAD, 204 and 304 send no body
                end = connection.end_response()
                if sent <= _JOIN_LIMIT:
                    yield Write(b"".join((start, *framed, end)))
                else:
                    yield Write([start, *framed, end])
            elif type(body) is FileBody:
                if connection.response_has_body and body.length:
                    prefix, suffix = connection.send_file_body(body.length)
                    yield Write(start + prefix)
                    yield SendFile(body.file, body.offset, body.length)
                    sent = body.length
                    start = suffix
                yield Write(start + connection.end_response())
            else:
                sent = yield from self._stream(start, body, request)  # type: ignore[arg-type]
                if sent < 0:
                    return False
        finally:
            _close_body(body)
        site.log_access(self.client, request, response.status, sent)
        if close:
            if unread or connection.buffered:
                yield DRAIN
            return False
        if unread:
            try:
                yield from self._discard_body()
            except ProtocolError:
                return False
        return True

    def _start(self, response: Response, close: bool) -> bytes:
        body = response.body
        if type(body) is bytes:
            length: int | None = len(body)
        elif type(body) is FileBody:
            length = body.length
        else:
            length = body.length  # type: ignore[union-attr]
        try:
            headers = response.headers.encoded()
            reason = response.reason.encode("latin-1") if response.reason else None
        except UnicodeEncodeError as error:
            raise InvalidResponse(f"header or reason not encodable as Latin-1: {error}") from None
        return self.connection.start_response(
            response.status,
            headers,
            self.site.date(),
            reason=reason,
            content_length=length,
            close=close,
        )

    def _stream(self, start: bytes, body: StreamBody, request: Request
                ) -> Generator[Action, Any, int]:
        """Send a streamed body; return its size, or -1 if it failed midway."""
        connection = self.connection
        yield Write(start)
        sent = 0
        if connection.response_has_body:
            while True:
                try:
                    chunk = yield Pull(body)
                except Exception:
                    logger.exception("response body for %s %s failed midway",
                                     request.method, request.target)
                    return -1
                if chunk is None:
                    break
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                elif not isinstance(chunk, bytes | bytearray | memoryview):
                    logger.error("response body for %s %s yielded a %s, not bytes",
                                 request.method, request.target, type(chunk).__name__)
                    return -1
                sent += len(chunk)
                try:
                    framed = connection.send_body(chunk)
                except Exception:
                    logger.error("response body for %s %s is longer than its Content-Length",
                                 request.method, request.target)
                    return -1
                if framed:
                    yield Write(framed)
        try:
            end = connection.end_response()
        except InvalidResponse as error:
            logger.error("response to %s %s: %s", request.method, request.target, error)
            return -1
        if end:
            yield Write(end)
        return sent

    def _discard_body(self) -> Generator[Action, Any, None]:
        connection = self.connection
        connection.accept_body()
        while True:
            event = connection.next_event()
            if event is NEED_DATA:
                data = yield READ_BODY
                if data is None:
                    raise ProtocolError(408, "request body too slow")
                connection.receive_data(data)
            elif type(event) is not BodyChunk:
                return

    def _refuse(self, error: ProtocolError, request: Request | None
                ) -> Generator[Action, Any, None]:
        """Answer a protocol error or timeout, then drain and close."""
        connection, site = self.connection, self.site
        logger.info("refused request from %s: %s", self.client and self.client[0], error)
        if connection.can_respond:
            response = site.app.error_response(HTTPError(error.status_code, error.detail), request)
            body = response.body if type(response.body) is bytes else b""
            try:
                data = connection.respond(error.status_code, response.headers.encoded(), body,
                                          site.date(), close=True)
            except (InvalidResponse, UnicodeEncodeError):
                data = connection.respond(error.status_code, [], b"", site.date(), close=True)
            yield Write(data)
            site.log_access(self.client, request,
                            error.status_code, len(body) if connection.response_has_body else 0)
        yield DRAIN


class BodyReader:
    """Pulls a streamed request body out of the protocol layer, without I/O.

    Transports wrap it in a stream object (`BlockingBodyStream` here, an
    awaitable one for trio) that does the reads it asks for. Errors surface as
    `HTTPError`: the handler's call turns them into the right response, and
    the connection, which the protocol layer has marked broken, is closed.
    """

    __slots__ = ("_buffer", "_connection", "_ended", "_max_body", "_started")

    def __init__(self, connection: ServerConnection, max_body: int | None) -> None:
        self._connection = connection
        self._max_body = max_body
        self._started = False
        self._ended = False
        self._buffer = b""

    def start(self) -> bytes:
        """Return bytes to send before reading (a 100 Continue, or nothing)."""
        if self._started:
            return b""
        self._started = True
        try:
            return self._connection.accept_body(self._max_body)
        except ProtocolError as error:
            raise HTTPError(error.status_code, error.detail) from None

    def next_piece(self, size: int) -> bytes | Wait:
        """Up to `size` bytes (all buffered if negative), ``b""`` at the end, or NEED_DATA."""
        while not self._buffer and not self._ended:
            try:
                event = self._connection.next_event()
            except ProtocolError as error:
                raise HTTPError(error.status_code, error.detail) from None
            if type(event) is BodyChunk:
                self._buffer = event.data
            elif event is NEED_DATA:
                return NEED_DATA
            else:
                self._ended = True
        if size < 0 or size >= len(self._buffer):
            piece, self._buffer = self._buffer, b""
        else:
            piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return piece

    def feed(self, data: bytes | None) -> None:
        """Give the reader what a read returned (None: it timed out)."""
        if data is None:
            raise HTTPError(408, "request body too slow")
        self._connection.receive_data(data)


class BlockingBodyStream:
    """A request body as a blocking file-like object, for threads.

    `receive()` returns the next bytes from the client (None on timeout) and
    `send(data)` writes to it; both block.
    """

    def __init__(self, reader: BodyReader, receive: Callable[[], bytes | None],
                 send: Callable[[bytes], None]) -> None:
        self._reader = reader
        self._receive = receive
        self._send = send

    def read(self, size: int = -1) -> bytes:
        """Return up to `size` bytes (`size < 0`: the whole rest); ``b""`` at the end."""
        interim = self._reader.start()
        if interim:
            self._send(interim)
        if size >= 0:
            return self._next(size)
        pieces = []
        while piece := self._next(-1):
            pieces.append(piece)
        return b"".join(pieces)

    def __iter__(self) -> Iterator[bytes]:
        while piece := self.read(64 * 1024):
            yield piece

    def _next(self, size: int) -> bytes:
        while True:
            piece = self._reader.next_piece(size)
            if piece is not NEED_DATA:
                return piece  # type: ignore[return-value]
            self._reader.feed(self._receive())


def run_call(driver: ConnectionDriver, handle: Handle, receive: Callable[[], bytes | None],
             send: Callable[[bytes], None]) -> Response:
    """Perform a `Handle` action in the calling thread, for blocking transports."""
    call = handle.call
    if call.stream_body:
        call.request.stream = BlockingBodyStream(driver.body_reader(call), receive, send)
    if call.is_async:
        return call.fail(TypeError("async handlers need the trio transport"))
    return call.run(handle.body)


def next_chunk(body: StreamBody) -> bytes | None:
    """Perform a `Pull` action in the calling thread: the next chunk, None at the end."""
    if body.is_async:
        raise TypeError("async response bodies need the trio transport")
    return next(body.chunks, None)  # type: ignore[arg-type]


def overload_response(site: Site) -> bytes:
    """A whole 503 response for a connection the server has no room for."""
    connection = ServerConnection(site.limits, server_header=site.server_header)
    return connection.respond(
        503,
        [(b"Retry-After", b"1"), (b"Content-Type", b"text/plain; charset=utf-8")],
        b"503 Service Unavailable\nThe server is at its connection limit.\n",
        site.date(),
        close=True,
    )


def _close_body(body: object) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            logger.exception("closing a response body failed")


def _request_line(request: Request) -> str:
    return f"{request.method} {request.target} HTTP/{request.http_version}"
