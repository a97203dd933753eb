"""The request cycle, written once for every transport.

Theory of operation
-------------------
`ConnectionDriver.run()` is a generator that serves the requests of one
connection: it yields actions (`webpy.transports.actions`: read, write, send
this file region, take this lock, run this handler, pull the next body
chunk, shut the write side) and is sent each action's result. It joins the
protocol layer (`ServerConnection`: bytes and HTTP events) to the
application layer (`Application`: routes and handlers), and neither of those
knows the other exists.

What a connection does around its requests (a TLS handshake, deadlines, the
refusal of a connection the server has no room for) is the lifecycle's
(`lifecycle.py`), which runs this generator; the transports only perform the
actions. If a transport gives up on a connection (the client vanished, a
write stalled) the generator is closed, and its `finally` blocks release
locks and close response bodies.

After an error response that closes the connection the driver drains: it
shuts its write side and reads and discards what the client still sends,
within `Timeouts.drain_*`, so the client reads the response instead of a
reset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

from .._version import __version__
from ..app import (
    Application,
    Call,
    ErrorRoutes,
    FileBody,
    HTTPError,
    Request,
    Response,
    Routes,
    StreamBody,
)
from ..app.locks import LockTable, ResourceLocks
from ..app.sse import NOT_READY
from ..app.websocket import WebSocketHandler
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
from ..protocol.forwarded import TrustedProxies, replace_host
from .access_log import AccessMessage, AccessRecord
from .actions import (
    READ_BODY,
    READ_DRAIN,
    READ_FIRST,
    READ_HEAD,
    READ_IDLE,
    SHUTDOWN_WRITE,
    WOKEN,
    Acquire,
    Action,
    Handle,
    Pull,
    PullFailed,
    SendFile,
    WebSocketRead,
    Write,
)
from .settings import Timeouts, split_options

logger = logging.getLogger("webpy")
access_logger = logging.getLogger("webpy.access")

#: Bodies up to this size are joined with their head into one write.
_JOIN_LIMIT = 32 * 1024
#: An unread request body up to this size is read and discarded after an
#: early response, to keep the connection; a larger one closes it.
_DISCARD_LIMIT = 64 * 1024
#: What waiting for an event stream's next chunk gives when the client left.
_CLIENT_LEFT = object()


# -- what connections share ----------------------------------------------------


class Site:
    """What every connection of one server shares: app, limits, timeouts, locks, clock.

    `new_lock` makes a per-resource lock of the transport's kind (blocking for
    threads, awaitable for trio); `locks` replaces the whole table (another
    backend). `clock` gives wall-clock seconds for the `Date` header,
    formatted at most once a second. `stopping` is set when the server begins
    a graceful stop: from then on every response says ``Connection: close``.
    `handing_over` is set with it when another process goes on accepting on
    the same listening socket (a worker replaced in a roll): new connections
    this server accepted before it stopped are still served their first request.
    `trusted_proxies`, when set, makes requests from those peers take their
    client, scheme and Host from the forwarding headers (`forwarded.py`).
    """

    def __init__(
        self,
        app: Application,
        limits: Limits,
        new_lock: Callable[[], Any],
        timeouts: Timeouts | None = None,
        *,
        locks: LockTable[Any] | None = None,
        server_header: bytes = b"webpy/" + __version__.encode(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.limits = limits
        self.timeouts = timeouts or Timeouts()
        self.locks: LockTable[Any] = locks if locks is not None else ResourceLocks(new_lock)
        self.server_header = server_header
        self.stopping = self.handing_over = False
        #: What ends each event stream being sent (`on_server_stop`), for `stop`.
        self._open_streams: set[Callable[[], None]] = set()
        self._streams_lock = threading.Lock()
        self.trusted_proxies: TrustedProxies | None = None
        self._clock = clock
        self._date_second = -1
        self._date = b""

    @classmethod
    def configured(cls, routes: Routes, error_routes: ErrorRoutes | None,
                   new_lock: Callable[[], Any], *, limits: Limits | None,
                   timeouts: Timeouts | None, locks: LockTable[Any] | None,
                   forwarded_allow: str | Sequence[str] | None, forwarded_header: str,
                   options: dict[str, Any]) -> Site:
        """The site of a server made with these options, as every transport's server takes them.

        `options` are fields of `Limits` and `Timeouts` given as keywords.
        """
        limits, timeouts = split_options(limits, timeouts, options)
        site = cls(Application(routes, error_routes), limits, new_lock, timeouts, locks=locks)
        if forwarded_allow:
            site.trusted_proxies = TrustedProxies(forwarded_allow, header=forwarded_header)
        return site

    def stop(self, *, handing_over: bool = False) -> None:
        """A graceful stop begins: responses close their connections, and response
        bodies that can end early (an event stream's `on_server_stop`) end now."""
        self.stopping = True
        self.handing_over = self.handing_over or handing_over  # until the next start
        with self._streams_lock:
            endings = list(self._open_streams)
        for end in endings:
            end()

    def stream_opened(self, end: Callable[[], None]) -> None:
        """An event stream is being sent; `end()` finishes it (at once if stopping)."""
        with self._streams_lock:
            self._open_streams.add(end)
        if self.stopping:
            end()

    def stream_closed(self, end: Callable[[], None]) -> None:
        with self._streams_lock:
            self._open_streams.discard(end)

    def date(self) -> bytes:
        now = int(self._clock())
        if now != self._date_second:
            self._date, self._date_second = http_date(now), now
        return self._date

    def log_access(self, client: tuple[str, int] | None, request: Request | None, status: int,
                   size: int, driver: ConnectionDriver | None = None) -> None:
        """One access record on `webpy.access`, if anyone listens (`access_log.py`).

        Everything is gathered only then: a server without an access log pays
        one `isEnabledFor` per response. `driver` adds the connection's peer
        (the proxy in front) and the request's duration.
        """
        if not access_logger.isEnabledFor(logging.INFO):
            return
        upstream = driver.peer if driver is not None else client
        if request is None:  # refused before a request was read: what is known of it
            record = AccessRecord(client[0] if client else None,
                                  upstream[0] if upstream else None, None, self._clock(), None,
                                  None, None, status, size)
        else:
            headers = request.headers
            duration = (int((time.perf_counter() - driver.started) * 1e6)
                        if driver is not None and driver.started else None)
            record = AccessRecord(
                client[0] if client else None, upstream[0] if upstream else None, request.user,
                self._clock(), request.method, request.target, request.http_version, status,
                size, headers.get("referer"), headers.get("user-agent"),
                headers.get("x-request-id"), duration)
        access_logger.info(AccessMessage(record))

    def refusal(self, status_code: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
        """A whole response that closes the connection, outside any request cycle."""
        connection = ServerConnection(self.limits, server_header=self.server_header)
        return connection.respond(status_code, headers, body, self.date(), close=True)


# -- one connection ------------------------------------------------------------


class ConnectionDriver:
    """The request cycle of one connection; see the module docstring."""

    __slots__ = ("client", "connection", "peer", "scheme", "server", "site", "started")

    def __init__(self, site: Site, client: tuple[str, int] | None = None,
                 scheme: str = "http", server: tuple[str, int] | None = None) -> None:
        self.site = site
        self.connection = ServerConnection(site.limits, server_header=site.server_header)
        self.client = client
        #: Who connected: the proxy in front, when a PROXY header or forwarding
        #: headers name another client (the access log's "upstream").
        self.peer = client
        #: When the current request's head was parsed (`time.perf_counter`), for the log.
        self.started = 0.0
        self.scheme = scheme
        #: The address the client connected to (`Request.server`).
        self.server = server

    def run(self) -> Generator[Action, Any, None]:
        """Serve requests until the connection should close."""
        connection = self.connection
        waiting = READ_FIRST  # until the first request: then READ_IDLE between requests
        while True:
            try:
                event = connection.next_event()
            except ProtocolError as error:
                yield from self._refuse(error, None)
                return
            if event is NEED_DATA:
                read = READ_HEAD if connection.buffered else waiting
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
            waiting = READ_IDLE

    def body_reader(self, call: Call) -> BodyReader:
        """The sans-IO reader behind a streamed request body, for transports' streams."""
        return BodyReader(self.connection, call.max_body_bytes)

    def _exchange(self, head: RequestHead) -> Generator[Action, Any, bool]:
        site = self.site
        self.started = time.perf_counter()
        client, scheme, headers = self.client, self.scheme, head.headers
        if site.trusted_proxies is not None:  # behind proxies: who really asked
            origin = site.trusted_proxies.resolve(client, scheme, headers)
            client, scheme = origin.client, origin.scheme
            if origin.host is not None:
                headers = replace_host(headers, origin.host)
        request = Request(
            head.method.decode("ascii"),
            head.target.decode("ascii"),
            headers,
            http_version=head.http_version.decode("ascii"),
            client=client,
            scheme=scheme,
            server=self.server,
        )
        begun = site.app.begin(request)
        if type(begun) is Response:
            return (yield from self.respond(head, request, begun))
        call: Call = begun  # type: ignore[assignment]
        if isinstance(call.handler, WebSocketHandler) and call.handler.upgrades():  # handed over
            from .websocket import take_over

            return (yield from take_over(self, head, request, call))
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
            return (yield from self.respond(head, request, response))
        lock = site.locks.hold(resource)
        acquired = False
        try:
            try:
                refusal = (None if lock.try_acquire(call.exclusive)
                           else (yield Acquire(lock, call.exclusive)))
            except HTTPError as error:
                refusal = error
            if refusal is not None:  # a shared lock backend failed: 503, never an unordered run
                return (yield from self.respond(head, request, call.fail(refusal)))
            acquired = True
            response = yield Handle(call, body)
            return (yield from self.respond(head, request, response))
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

    def respond(self, head: RequestHead, request: Request, response: Response
                 ) -> Generator[Action, Any, bool]:
        """Send `response` to `request`; whether the connection may serve another request."""
        connection, site = self.connection, self.site
        body = response.body
        unread = not connection.request_complete
        close = connection.will_close or site.stopping or (unread and (
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
                    yield SendFile(body.file, body.offset, body.length, start + prefix)
                    sent = body.length
                    start = suffix
                tail = start + connection.end_response()
                if tail:  # nothing after a file sent with Content-Length: no empty write
                    yield Write(tail)
            else:
                sent = yield from self._stream(start, body, request)  # type: ignore[arg-type]
                if sent < 0:
                    return False
        finally:
            _close_body(body)
        site.log_access(request.client, request, response.status, sent, self)
        if close:
            if unread or connection.buffered:
                yield from self._drain()
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
        # An event stream (`app.sse`) never ends on its own: a graceful stop ends it.
        end = getattr(body.chunks, "on_server_stop", None)
        if end is not None and connection.response_has_body:
            self.site.stream_opened(end)
            try:
                return (yield from self._pull_all(body, request))
            finally:
                self.site.stream_closed(end)
        return (yield from self._pull_all(body, request))

    def _pull_all(self, body: StreamBody, request: Request) -> Generator[Action, Any, int]:
        connection = self.connection
        sent = 0
        if connection.response_has_body:
            pull = Pull(body)
            while True:
                chunk = yield pull
                while chunk is NOT_READY:  # an event stream between events: wait, no thread
                    chunk = yield from self._await_chunk(pull)
                if chunk is None:
                    break
                if chunk is _CLIENT_LEFT:
                    logger.debug("%s left during the stream of %s", self.client, request.target)
                    return -1
                if type(chunk) is PullFailed:
                    logger.error("response body for %s %s failed midway",
                                 request.method, request.target, exc_info=chunk.error)
                    return -1
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

    def _await_chunk(self, pull: Pull) -> Generator[Action, Any, Any]:
        """Wait for a body that had nothing ready as for a client: until its wake-up or
        its heartbeat is due; `_CLIENT_LEFT` at once if the client closes meanwhile."""
        waiting = pull.body.chunks
        data = yield WebSocketRead(waiting.seconds, waiting)  # type: ignore[union-attr]
        if data == b"":
            return _CLIENT_LEFT
        if data and data is not WOKEN:
            self.connection.receive_data(data)  # a pipelined request: kept for later
        return (yield pull)

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
            site.log_access(request.client if request else self.client, request,
                            error.status_code, len(body) if connection.response_has_body else 0,
                            self)
        yield from self._drain()

    def _drain(self) -> Generator[Action, Any, None]:
        yield from drain(self.site.timeouts)


def drain(timeouts: Timeouts) -> Generator[Action, Any, None]:
    """Shut our write side, then read and discard up to `drain_bytes` until EOF or timeout.

    The client then reads our last response instead of a reset, which a close
    with its request bytes still unread would cause.
    """
    yield SHUTDOWN_WRITE
    drained = 0
    while drained <= timeouts.drain_bytes:
        data = yield READ_DRAIN
        if not data:
            return
        drained += len(data)


class BodyReader:
    """Pulls a streamed request body out of the protocol layer, without I/O.

    `read(size)` is a generator: it yields `RECEIVE` when it needs the
    client's next bytes (send them back, None if none came in time) and
    bytes to write first (a 100 Continue), and returns the piece read. The
    blocking and the awaitable body streams only perform those two steps.
    Errors surface as `HTTPError`: the handler's call turns them into the
    right response, and the connection, which the protocol layer has marked
    broken, is closed.
    """

    __slots__ = ("_buffer", "_connection", "_ended", "_kept", "_max_body", "_started")

    def __init__(self, connection: ServerConnection, max_body: int | None) -> None:
        self._connection = connection
        self._max_body = max_body
        self._started = False
        self._ended = False
        self._buffer = b""
        self._kept = 0

    def keep(self, data: bytes) -> bool:
        """Keep bytes that came after the body (a pipelined request) for the request cycle.

        For a transport watching for the client to go while the handler runs.
        Returns False once more than `KEEP_LIMIT` bytes are kept: stop reading.
        """
        self._connection.receive_data(data)
        self._kept += len(data)
        return self._kept <= KEEP_LIMIT

    def read(self, size: int) -> Generator[bytes | Wait, bytes | None, bytes]:
        """Up to `size` bytes (`size < 0`: the whole rest); ``b""`` at the end."""
        if not self._started:
            self._started = True
            try:
                interim = self._connection.accept_body(self._max_body)
            except ProtocolError as error:
                raise HTTPError(error.status_code, error.detail) from None
            if interim:
                yield interim
        if size >= 0:
            return (yield from self._next(size))
        pieces = []
        while piece := (yield from self._next(-1)):
            pieces.append(piece)
        return b"".join(pieces)

    def _next(self, size: int) -> Generator[bytes | Wait, bytes | None, bytes]:
        while not self._buffer and not self._ended:
            try:
                event = self._connection.next_event()
            except ProtocolError as error:
                raise HTTPError(error.status_code, error.detail) from None
            if type(event) is BodyChunk:
                self._buffer = event.data
            elif event is NEED_DATA:
                data = yield RECEIVE
                if data is None:
                    raise HTTPError(408, "request body too slow")
                self._connection.receive_data(data)
            else:
                self._ended = True
        if size < 0 or size >= len(self._buffer):
            piece, self._buffer = self._buffer, b""
        else:
            piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return piece


#: What `BodyReader.read` yields when it needs the client's next bytes.
RECEIVE = NEED_DATA
#: Most bytes `BodyReader.keep` holds for the request cycle.
KEEP_LIMIT = 64 * 1024


def _close_body(body: object) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            logger.exception("closing a response body failed")
