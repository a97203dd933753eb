"""The life of one connection, from accept to close, written once for every transport.

Theory of operation
-------------------
A transport owns sockets (or trio streams, or memory buffers) and nothing
else. For each connection it makes a `Lifecycle` and then loops: perform the
action it is given (`actions.py`), hand the result to `send`, until `send`
returns None; then it closes the connection. If it gives up first (the
client vanished, a write stalled past `deadline`) it calls `close`. Rules:

1. Every decision about a connection is made here or below: the TLS
   sniffing and handshake policy, the refusal of a connection the server has
   no room for, the request cycle (`ConnectionDriver`), the deadline of every
   wait, drain before close, and what a graceful stop does. A transport that
   finds itself deciding any of these is repeating this module.
2. Nothing here does I/O or blocks. Time comes from the `clock` the
   transport passes in (its own monotonic clock), so deadlines are numbers
   the transport compares with that clock, in a sweep or a timer of its own.

Deadlines, by action:

============== ===========================================================
`Read` idle    `keepalive_timeout` from now; during a graceful stop, now
`Read` first   the same, but a stop that hands the listening socket over
               to another process lets it run: a client that connected
               before the stop gets its first request served
`Read` head    `head_timeout` from the head's first read: a client
               trickling a head byte by byte never resets its clock
`Read` body    `body_timeout` from now (a pause, not the whole body)
`Read` drain   `drain_timeout` from the first drain read, for all of them
`Write`,       `write_timeout` from when the client stops taking bytes: a
`SendFile`     transport calls `progress()` whenever a write must wait, and
               again after each step (a stall, not a download)
`Peek`,        `keepalive_timeout` from accept, together: the time a TLS
`Handshake`    client has to say who it is
`Peek`,        with `proxy_protocol`: `head_timeout` from accept for the
`Consume`      whole PROXY header (then TLS gets its own budget)
`Acquire`,     no deadline (math.inf): the wait is on the server itself;
`Handle`,      the worker queue has its own bound (`Timeouts.queue_timeout`)
`Pull`
============== ===========================================================

When a wait expires, the transport makes one last non-blocking attempt
(bytes already received are served, not dropped) and otherwise sends None.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any

from ..app import Response
from ..protocol import NEED_DATA
from ..protocol.proxy import (
    MAX_HEADER_BYTES,
    ProxyHeader,
    ProxyProtocolError,
    parse_proxy_header,
)
from .actions import (
    HANDSHAKE,
    PEEK,
    READ_BODY,
    READ_FIRST,
    READ_HEAD,
    READ_IDLE,
    Action,
    Consume,
    Handle,
    Handshake,
    Peek,
    Read,
    SendFile,
    WebSocketRead,
    Write,
)
from .driver import BodyReader, ConnectionDriver, Site, drain

logger = logging.getLogger("webpy")

#: The first byte of every TLS connection: a handshake record (RFC 8446 section 5.1).
_TLS_HANDSHAKE_RECORD = 0x16

_PLAIN_HTTP_ON_TLS_BODY = b"400 Bad Request\nThe plain HTTP request was sent to an HTTPS port.\n"
_OVERLOAD_BODY = b"503 Service Unavailable\nThe server is at its connection limit.\n"
_TEXT = [(b"Content-Type", b"text/plain; charset=utf-8"),
         (b"X-Content-Type-Options", b"nosniff")]


class Lifecycle:
    """One connection's actions and deadlines; see the module docstring.

    `tls`: the transport can sniff and handshake TLS on this connection.
    `refuse`: the server is at `max_connections`; answer 503 and close.
    `proxy`: the listener expects a PROXY protocol header (v1 or v2) first; it
    gives the client's address, and a bad or missing one closes the
    connection without an answer.
    """

    __slots__ = ("_clock", "_drain_deadline", "_head_deadline", "_site", "_steps", "action",
                 "deadline", "driver")

    def __init__(self, site: Site, client: tuple[str, int] | None, clock: Callable[[], float],
                 *, tls: bool = False, refuse: bool = False, proxy: bool = False,
                 server: tuple[str, int] | None = None) -> None:
        self._site = site
        self._clock = clock
        self.driver = ConnectionDriver(site, client, "https" if tls else "http", server)
        self._steps = self._run(tls, refuse, proxy)
        #: The action being performed, and when waiting for it must end (the clock's time).
        self.action: Action | None = None
        self.deadline = math.inf
        self._head_deadline: float | None = None
        self._drain_deadline: float | None = None
        if proxy:  # the PROXY header's budget runs from accept
            self._head_deadline = clock() + site.timeouts.head_timeout
        elif tls:  # the handshake budget runs from accept
            self._head_deadline = clock() + site.timeouts.keepalive_timeout

    @property
    def client(self) -> tuple[str, int] | None:
        return self.driver.client

    @property
    def idle(self) -> bool:
        """Waiting for a next request, or an open WebSocket's next message: a graceful
        stop may end it."""
        action = self.action
        return action is _READ_IDLE or action is _READ_FIRST or type(action) is WebSocketRead

    def start(self) -> Action:
        """The first action."""
        action = self._next(None)
        assert action is not None
        return action

    def send(self, result: Any) -> Action | None:
        """The next action, given the last one's result; None when the connection is done."""
        return self._next(result)

    def progress(self) -> None:
        """A write must wait, or made progress: its stall timeout starts (again) now."""
        self.deadline = self._clock() + self._site.timeouts.write_timeout

    def expire_if_idle(self) -> bool:
        """A graceful stop began: an idle wait ends now (after one last look for bytes).

        True if it ended.
        """
        action = self.action
        if (action is _READ_IDLE or (action is _READ_FIRST and not self._site.handing_over)
                or (isinstance(action, WebSocketRead) and action.going_away())):
            self.deadline = -math.inf  # a WebSocket then closes with 1001 Going Away
            return True
        return False

    def close(self) -> None:
        """The transport gave up on the connection: release locks, close response bodies."""
        self.action = None
        self._steps.close()

    def _next(self, result: Any) -> Action | None:
        try:
            action = self._steps.send(result)
        except StopIteration:
            self.action = None
            return None
        self.enter(action)
        return action

    def enter(self, action: Action) -> Action | None:
        """Wait on `action` from now (its deadline, as in the table); returns the previous one.

        The cycle's own actions come through `send`. An ``async def`` WebSocket
        handler that awaits `receive()` performs reads and writes inside its
        `Handle`; the transport enters each, then enters the `Handle` again.
        """
        previous, self.action = self.action, action
        kind = type(action)
        timeouts = self._site.timeouts
        if kind is Read:
            now = self._clock()
            if action is _READ_IDLE or action is _READ_FIRST:
                self._head_deadline = None
                site = self._site
                self.deadline = -math.inf if site.stopping and not (
                    action is _READ_FIRST and site.handing_over) else (
                    now + timeouts.keepalive_timeout)
            elif action is _READ_HEAD:
                if self._head_deadline is None:
                    self._head_deadline = now + timeouts.head_timeout
                self.deadline = self._head_deadline
            elif action is _READ_BODY:
                self._head_deadline = None
                self.deadline = now + timeouts.body_timeout
            else:
                if self._drain_deadline is None:
                    self._drain_deadline = now + timeouts.drain_timeout
                self.deadline = self._drain_deadline
        elif kind is Write or kind is SendFile:
            self.deadline = math.inf  # until a write waits: then `progress()` sets it
        elif type(action) is WebSocketRead:  # a stop that began meanwhile: Going Away now
            self.deadline = -math.inf if self._site.stopping and action.going_away() else (
                self._clock() + action.seconds)
        elif kind is Peek or kind is Handshake or kind is Consume:
            assert self._head_deadline is not None
            self.deadline = self._head_deadline
        else:
            self.deadline = math.inf
        return previous

    def _run(self, tls: bool, refuse: bool, proxy: bool) -> Generator[Action, Any, None]:
        site = self._site
        if proxy:
            if not (yield from self._proxy_header()):
                return
            if tls:  # the handshake budget runs from the header's end
                self._head_deadline = self._clock() + site.timeouts.keepalive_timeout
        if tls:
            first = yield PEEK
            if not first:
                return  # gone, or silent past the deadline
            if first[0] != _TLS_HANDSHAKE_RECORD:
                logger.debug("plain HTTP from %s on a TLS port: answered 400", self.client)
                yield Write(site.refusal(400, _PLAIN_HTTP_ON_TLS_BODY, _TEXT))
                site.log_access(self.client, None, 400, len(_PLAIN_HTTP_ON_TLS_BODY))
                yield from drain(site.timeouts)
                return
            if not (yield HANDSHAKE):
                return
            self._head_deadline = None
        if refuse:
            yield Write(site.refusal(503, _OVERLOAD_BODY, [(b"Retry-After", b"1"), *_TEXT]))
            site.log_access(self.client, None, 503, len(_OVERLOAD_BODY))
            yield from drain(site.timeouts)
            return
        yield from self.driver.run()

    def _proxy_header(self) -> Generator[Action, Any, bool]:
        """Take the PROXY header off the connection: exactly its bytes, no more.

        The bytes after it may be a TLS handshake that the TLS layer must read
        itself, so the header is peeked at, and only what is known to be
        header is consumed. Whatever was peeked while the header is incomplete
        is all header: it is consumed too, so the next peek waits for new bytes.
        """
        received = b""
        while True:
            data = yield Peek(MAX_HEADER_BYTES - len(received))
            if not data:
                return False  # gone, or silent past the deadline
            try:
                header = parse_proxy_header(received + data)
            except ProxyProtocolError as error:
                logger.debug("PROXY header from %s refused: %s", self.client, error.detail)
                return False
            if not isinstance(header, ProxyHeader):  # NEED_DATA
                yield Consume(len(data))
                received += data
                continue
            yield Consume(header.length - len(received))
            driver = self.driver
            driver.client = header.client(driver.client)
            driver.server = header.server(driver.server)
            if header.ssl is not None and header.ssl.tls:
                driver.scheme = "https"  # TLS ended at the proxy
            return True


_READ_FIRST, _READ_IDLE, _READ_HEAD, _READ_BODY = READ_FIRST, READ_IDLE, READ_HEAD, READ_BODY


def log_lost(client: tuple[str, int] | None, error: BaseException) -> None:
    """One line for a connection that ended badly: debug for the client's doing, else error."""
    if isinstance(error, OSError):
        logger.debug("connection from %s lost: %r", client, error)
    else:
        logger.error("internal error serving %s", client, exc_info=error)


# -- request bodies that handlers stream ------------------------------------------


def run_blocking(lifecycle: Lifecycle, handle: Handle, receive: Callable[[], bytes | None],
                 send: Callable[[bytes], None]) -> Response:
    """Perform a `Handle` in the calling thread; a streamed body reads with `receive`."""
    call = handle.call
    if call.stream_body:
        call.request.stream = BlockingBodyStream(
            lifecycle.driver.body_reader(call), receive, send)
    return handle.run()


class BlockingBodyStream:
    """A request body as a blocking file-like object, for handlers in threads.

    `read(size)` returns up to `size` bytes (`size < 0`: the whole rest),
    ``b""`` at the end; iterating gives 64 KiB pieces. `receive()` returns
    the client's next bytes (None on timeout) and `send(data)` writes; both
    block. The first read sends the 100 Continue a client may wait for.
    """

    def __init__(self, reader: BodyReader, receive: Callable[[], bytes | None],
                 send: Callable[[bytes], None]) -> None:
        self._reader = reader
        self._receive = receive
        self._send = send

    def read(self, size: int = -1) -> bytes:
        steps = self._reader.read(size)
        try:
            step = next(steps)
            while True:
                if step is NEED_DATA:
                    step = steps.send(self._receive())
                else:
                    self._send(step)  # type: ignore[arg-type]
                    step = steps.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[bytes]:
        while piece := self.read(_PIECE):
            yield piece


class AsyncBodyStream:
    """A streamed request body for ``async def`` handlers.

    ``await self.request.stream.read(size)`` returns up to `size` bytes
    (``size < 0``: the whole rest), ``b""`` at the end; ``async for piece in
    self.request.stream`` iterates over it. The first read sends the ``100
    Continue`` a client may be waiting for. Errors (a body too large, too
    slow, malformed) raise `HTTPError` with the status to answer.
    """

    __slots__ = ("_reader", "_receive", "_send", "_watch")

    def __init__(self, reader: BodyReader, receive: Callable[[], Awaitable[bytes | None]],
                 send: Callable[[bytes], Awaitable[None]],
                 watch: Callable[[Callable[[bytes], bool]], Awaitable[None]] | None = None
                 ) -> None:
        self._reader = reader
        self._receive = receive
        self._send = send
        self._watch = watch

    async def wait_disconnected(self) -> None:
        """Return once the client has closed or reset the connection; for after the body.

        What a hosted ASGI application's ``receive`` waits on for
        ``http.disconnect``. Cancellable. Bytes that arrive meanwhile (a
        pipelined request) are kept for the request cycle (`BodyReader.keep`).
        """
        if self._watch is None:
            raise RuntimeError("this transport does not watch for disconnects")
        await self._watch(self._reader.keep)

    async def read(self, size: int = -1) -> bytes:
        steps = self._reader.read(size)
        try:
            step = next(steps)
            while True:
                if step is NEED_DATA:
                    step = steps.send(await self._receive())
                else:
                    await self._send(step)  # type: ignore[arg-type]
                    step = steps.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[bytes]:
        while piece := await self.read(_PIECE):
            yield piece


_PIECE = 64 * 1024
