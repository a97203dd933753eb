"""The trio transport: the same routes served by trio, and handlers that may be ``async def``.

Theory of operation
-------------------
Each connection is one trio task that runs the request cycle
(`ConnectionDriver.run()`) and performs its actions with trio:

- `Read`: ``receive_some`` under the read's deadline. `HeadDeadline` makes a
  head trickled in byte by byte keep the deadline its first byte set.
  Deadlines of reads and writes are enforced by one sweeping task per server
  (`Server._sweep`), not by trio's per-scope deadlines, for the reason given
  there.
- `Write` and `SendFile`: ``send_all``, in pieces, each under
  `Limits.write_timeout`. The task waits for the client to take each piece
  before it produces the next, so a slow reader slows its own response and
  the server holds at most one piece of it (backpressure). File regions are
  read in worker threads, since a disk read can block.
- `Acquire`: the awaitable `ReadWriteLock` below, one per resource in use.
- `Handle`: an ``async def`` handler is awaited in the connection's task; a
  plain one runs in a worker thread (`trio.to_thread`, at most
  `thread_limit` at once), because any plain function may block and must
  never stall the event loop. Streamed request bodies are `AsyncBodyStream`
  for the former and the driver's `BlockingBodyStream` for the latter, whose
  reads re-enter trio with `trio.from_thread.run`.
- `Pull`: async bodies are awaited in the task. Sync iterators are pulled in
  a worker thread, since a generator may read a pipe, a file or a database;
  only list and tuple iterators, which cannot block, are pulled in the task.
- `Drain`: end our side (``send_eof`` where the stream has it), read and
  discard what the client still sends, within `Limits.drain_*`, then close.

`Server.serve_listeners` accepts on every listener and runs connections in a
nursery shielded from the caller's cancellation, so cancelling the server is
a graceful stop: the listeners close at once, connections that wait for a
next request (or only drain) close at once, and requests in flight get
`grace_period` seconds to finish before their tasks are cancelled. A plain
handler in a worker thread cannot be interrupted; the server returns once it
has finished.

A client that disconnects or stops reading ends its own task with one debug
log line. Nothing about HTTP lives here: limits, framing and error statuses
come from the driver and the protocol layer below it, shared with every
other transport.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import trio

from ..app import Application, ErrorRoutes, Response, Routes, StreamBody
from ..protocol import NEED_DATA, Limits
from .driver import (
    READ_IDLE,
    Acquire,
    BlockingBodyStream,
    BodyReader,
    ConnectionDriver,
    Drain,
    Handle,
    HeadDeadline,
    Pull,
    Read,
    SendFile,
    Site,
    Write,
    next_chunk,
    overload_response,
)

__all__ = ["AsyncBodyStream", "ReadWriteLock", "Server", "serve", "serve_listeners", "url"]

logger = logging.getLogger("webpy")

#: Most bytes one read asks for.
RECEIVE_SIZE = 64 * 1024
#: Largest piece handed to one ``send_all``: `write_timeout` applies to each
#: piece, so it bounds a pause of the client, not the length of a download.
SEND_PIECE = 256 * 1024
#: Pieces a file region is read in, in a worker thread.
FILE_PIECE = 256 * 1024
#: How long an abandoned async response body may take to close.
BODY_CLOSE_TIMEOUT = 5.0

#: What a client that went away or stopped reading looks like from here.
_CLIENT_GONE = (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError)
#: `accept` failures that mean "out of resources for now", not "broken": as trio's own.
_ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_ACCEPT_RETRY_DELAY = 0.1
#: Iterators that cannot block, so are pulled in the connection's task.
_INLINE_ITERATORS: tuple[type, ...] = (type(iter([])), type(iter(())))

Address = tuple[str, int]


class Server:
    """Routes, limits and resource locks shared by the connections of one trio server.

    Most programs call `serve` or `serve_listeners`; make a `Server` to serve
    streams one by one (`serve_stream`), e.g. trio's in-memory streams in tests.

    `ssl_context` turns on TLS: each connection's handshake runs in its own
    task and must finish within `Limits.keepalive_timeout`. Limits and
    timeouts are `limits`, or `Limits` fields passed as keywords. A
    connection beyond `max_connections` gets a 503 (or, under TLS, is
    closed). `thread_limit` bounds the worker threads running plain handlers,
    sync body iterators and file reads. `grace_period` is how long requests
    in flight may take to finish once the server is cancelled, in seconds.
    """

    def __init__(
        self,
        routes: Routes,
        error_routes: ErrorRoutes | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: Limits | None = None,
        max_connections: int = 10_000,
        thread_limit: int = 40,
        grace_period: float = 5.0,
        **limit_options: Any,
    ) -> None:
        self.limits = replace(limits or Limits(), **limit_options)
        self.site = Site(Application(routes, error_routes), self.limits, ReadWriteLock)
        self.ssl_context = ssl_context
        self.scheme = "https" if ssl_context else "http"
        self.max_connections = max_connections
        self.grace_period = grace_period
        self.threads = trio.CapacityLimiter(thread_limit)
        #: Connections open now, counted from accept to close.
        self.open_connections = 0
        self._stopping = False
        self._stopped: trio.Event | None = None
        self._connections_scope: trio.CancelScope | None = None
        self._idle_scopes: set[trio.CancelScope] = set()
        #: Each timed wait in progress (a read, a write, a handshake) and its deadline.
        self._waits: dict[trio.CancelScope, float] = {}
        self._sweeper_scope: trio.CancelScope | None = None

    async def serve_listeners(
        self,
        listeners: Sequence[trio.abc.Listener[trio.abc.Stream]],
        *,
        task_status: trio.TaskStatus[Sequence[trio.abc.Listener[trio.abc.Stream]]]
        = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept and serve connections on `listeners` until cancelled, then stop gracefully.

        `task_status.started()` reports the listeners, as `trio.serve_listeners`
        does. The listeners are closed when this returns. One call at a time
        per `Server`.
        """
        await self._serve(listeners, lambda: task_status.started(listeners))

    async def serve_stream(self, stream: trio.abc.Stream, client: Address | None = None) -> None:
        """Serve one connection on `stream` (after a TLS handshake, with `ssl_context`).

        Returns when the connection is done, having closed `stream`. `client`
        is the peer's address, if known. Cancelling this closes the connection
        at once; only `serve_listeners` has a grace period.
        """
        self.open_connections += 1
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sweep)
            await self._connection(stream, client)
            nursery.cancel_scope.cancel()

    # -- lifecycle -------------------------------------------------------------------

    async def _serve(self, listeners: Sequence[trio.abc.Listener[trio.abc.Stream]],
                     started: Callable[[], None]) -> None:
        self._stopping = False
        self._stopped = trio.Event()
        async with trio.open_nursery() as outer:
            connections: trio.Nursery = await outer.start(self._host_connections)
            try:
                async with trio.open_nursery() as accepting:
                    for listener in listeners:
                        accepting.start_soon(self._accept, listener, connections)
                    started()
            finally:
                self._stop()

    async def _host_connections(self, task_status: trio.TaskStatus[trio.Nursery]) -> None:
        """Keep the connections' nursery, shielded, until `_stop` and its grace period end."""
        assert self._stopped is not None
        with trio.CancelScope(shield=True) as scope:
            self._connections_scope = scope
            async with trio.open_nursery() as connections:
                connections.start_soon(self._sweep_until_stopped)
                task_status.started(connections)
                await self._stopped.wait()

    def _stop(self) -> None:
        """Stop gracefully: idle connections close now, the rest within `grace_period`."""
        self._stopping = True
        for scope in list(self._idle_scopes):
            scope.cancel()
        self._stop_sweeper_when_idle()
        if self._connections_scope is not None:
            self._connections_scope.deadline = trio.current_time() + self.grace_period
        if self._stopped is not None:
            self._stopped.set()

    def _idle(self, deadline: float) -> _TimedWait:
        """A timed wait that a graceful stop also cuts short: waits between requests."""
        return _TimedWait(self, deadline, idle=True)

    async def _sweep_until_stopped(self) -> None:
        """`_sweep` for `serve_listeners`: until the server stops and its last connection ends."""
        with trio.CancelScope() as self._sweeper_scope:
            self._stop_sweeper_when_idle()
            await self._sweep()

    def _stop_sweeper_when_idle(self) -> None:
        if self._stopping and self.open_connections <= 0 and self._sweeper_scope is not None:
            self._sweeper_scope.cancel()

    async def _sweep(self) -> None:
        """Cancel the timed waits whose deadline has passed, a few times a second.

        Timeouts are enforced here rather than with trio's own deadlines:
        those keep a heap entry per deadline set, pruned lazily, and at one
        read and one write per request that bookkeeping cost more than this
        sweep (measured: about 9% of the CPU time of a keep-alive request).
        This costs one float per wait and one pass over the waits per sweep.
        """
        limits = self.limits
        shortest = min(limits.head_timeout, limits.keepalive_timeout, limits.body_timeout,
                       limits.write_timeout, limits.drain_timeout)
        interval = max(0.01, min(0.25, shortest / 4))
        waits = self._waits
        while True:
            await trio.sleep(interval)
            now = trio.current_time()
            for scope, deadline in list(waits.items()):
                if deadline <= now:
                    scope.cancel()

    async def _accept(self, listener: trio.abc.Listener[trio.abc.Stream],
                      connections: trio.Nursery) -> None:
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as error:
                    if error.errno not in _ACCEPT_CAPACITY_ERRNOS:
                        raise
                    logger.error("accept failed (%s); retrying in %.1f s",
                                 errno.errorcode.get(error.errno or 0, error), _ACCEPT_RETRY_DELAY)
                    await trio.sleep(_ACCEPT_RETRY_DELAY)
                    continue
                if self.open_connections >= self.max_connections:
                    await self._refuse_overload(stream)
                    continue
                self.open_connections += 1
                connections.start_soon(self._connection, stream, _peer(stream))

    async def _refuse_overload(self, stream: trio.abc.Stream) -> None:
        """Answer 503 and close, without a task: the point is to spend nothing on it.

        A new socket's send buffer is empty, so the write completes at once; the
        short timeout only guards against streams that are not sockets.
        """
        if self.ssl_context is None:
            with trio.move_on_after(0.1), contextlib.suppress(*_CLIENT_GONE):
                await stream.send_all(overload_response(self.site))
        await trio.aclose_forcefully(stream)

    # -- one connection ----------------------------------------------------------------

    async def _connection(self, stream: trio.abc.Stream, client: Address | None) -> None:
        """Serve one connection; whatever goes wrong with it, the server carries on."""
        try:
            if self.ssl_context is not None:
                secure = await self._handshake(stream, self.ssl_context, client)
                if secure is None:
                    return
                stream = secure
            await _Connection(self, stream, client).run()
        except Exception:
            logger.exception("internal error serving %s", client)
        finally:
            self.open_connections -= 1
            self._stop_sweeper_when_idle()

    async def _handshake(self, stream: trio.abc.Stream, context: ssl.SSLContext,
                         client: Address | None) -> trio.SSLStream[trio.abc.Stream] | None:
        """The TLS handshake, in the connection's own task so it never delays others.

        `https_compatible`: HTTP frames its own messages, so a client that
        closes without a TLS close_notify has not truncated anything.
        """
        secure = trio.SSLStream(stream, context, server_side=True, https_compatible=True)
        with self._idle(trio.current_time() + self.limits.keepalive_timeout):
            try:
                await secure.do_handshake()
            except trio.BrokenResourceError as error:
                logger.debug("TLS handshake with %s failed: %r", client, error.__cause__ or error)
            else:
                return secure
        await trio.aclose_forcefully(stream)
        return None


class _Connection:
    """One client connection: performs the driver's actions with trio."""

    __slots__ = ("server", "limits", "stream", "client", "driver", "deadlines", "async_body")

    def __init__(self, server: Server, stream: trio.abc.Stream, client: Address | None) -> None:
        self.server = server
        self.limits = server.limits
        self.stream = stream
        self.client = client
        self.driver = ConnectionDriver(server.site, client, server.scheme)
        self.deadlines = HeadDeadline(server.limits)
        #: An async response body being sent, to close if the connection ends first.
        self.async_body: AsyncIterator[bytes] | None = None

    async def run(self) -> None:
        steps = self.driver.run()
        try:
            action: Any = next(steps)
            while True:
                kind = type(action)
                result: Any = None
                if kind is Read:
                    result = await self._read(action)
                elif kind is Write:
                    await self._write(action.data)
                elif kind is Handle:
                    result = await self._handle(action)
                elif kind is Acquire:
                    await action.lock.acquire(action.exclusive)
                elif kind is Pull:
                    try:
                        result = await self._pull(action.body)
                    except Exception as error:
                        action = steps.throw(error)
                        continue
                elif kind is SendFile:
                    await self._send_file(action)
                elif kind is Drain:
                    await self._drain()
                    return
                action = steps.send(result)
        except StopIteration:
            pass
        except _CLIENT_GONE as error:
            logger.debug("connection from %s lost: %r", self.client, error)
        except Exception:
            logger.exception("internal error serving %s", self.client)
        finally:
            steps.close()
            if self.async_body is not None:
                await self._close_async_body(self.async_body)
            await trio.aclose_forcefully(self.stream)

    # -- the actions -------------------------------------------------------------------

    async def _read(self, read: Read) -> bytes | None:
        deadline = self.deadlines.for_read(read, trio.current_time())
        with _TimedWait(self.server, deadline, idle=read is READ_IDLE):
            return _bytes(await self.stream.receive_some(RECEIVE_SIZE))
        return None

    async def _write(self, data: bytes | list[bytes]) -> None:
        if isinstance(data, bytes):
            await self._send(data)
        elif sum(len(piece) for piece in data) <= SEND_PIECE:
            await self._send(b"".join(data))
        else:
            for piece in data:
                await self._send(piece)

    async def _send(self, data: bytes) -> None:
        """Write `data`; raises TooSlowError if the client takes no piece for `write_timeout`.

        A `_TimedWait` rather than `trio.fail_after`: this runs for every
        response (see `Server._sweep`).
        """
        timeout = self.limits.write_timeout
        view = memoryview(data) if len(data) > SEND_PIECE else None
        for start in range(0, len(data), SEND_PIECE) if view is not None else (0,):
            with _TimedWait(self.server, trio.current_time() + timeout) as scope:
                await self.stream.send_all(data if view is None else view[start:start + SEND_PIECE])
            if scope.cancelled_caught:
                raise trio.TooSlowError("client stopped reading")

    async def _send_file(self, action: SendFile) -> None:
        offset, remaining = action.offset, action.count
        while remaining > 0:
            piece = await trio.to_thread.run_sync(
                _read_region, action.file, offset, min(remaining, FILE_PIECE),
                limiter=self.server.threads)
            if not piece:
                raise OSError("file shorter than expected")
            await self._send(piece)
            offset += len(piece)
            remaining -= len(piece)

    async def _handle(self, action: Handle) -> Response:
        call = action.call
        if call.is_async:
            if call.stream_body:
                call.request.stream = AsyncBodyStream(
                    self.driver.body_reader(call), self._receive_body, self._send_interim)
            return await call.run_async(action.body)
        if call.stream_body:
            call.request.stream = BlockingBodyStream(
                self.driver.body_reader(call), self._receive_body_from_thread,
                self._send_interim_from_thread)
        return await trio.to_thread.run_sync(call.run, action.body, limiter=self.server.threads)

    async def _pull(self, body: StreamBody) -> bytes | None:
        chunks = body.chunks
        if isinstance(chunks, AsyncIterator):
            self.async_body = chunks
            try:
                return await chunks.__anext__()
            except StopAsyncIteration:
                self.async_body = None
                return None
        if type(chunks) in _INLINE_ITERATORS:
            return next(chunks, None)
        return await trio.to_thread.run_sync(next_chunk, body, limiter=self.server.threads)

    async def _drain(self) -> None:
        """Let the client read our last response instead of a reset: see `Drain`."""
        stream, limits = self.stream, self.limits
        if isinstance(stream, trio.abc.HalfCloseableStream):
            try:
                await stream.send_eof()
            except _CLIENT_GONE:
                return
        drained = 0
        with self.server._idle(trio.current_time() + limits.drain_timeout):
            while drained <= limits.drain_bytes:
                try:
                    data = await stream.receive_some(RECEIVE_SIZE)
                except trio.BrokenResourceError:
                    return
                if not data:
                    return
                drained += len(data)

    # -- for handlers streaming their request body ----------------------------------------

    async def _receive_body(self) -> bytes | None:
        """The next bytes of a streamed body; None if none came within `body_timeout`.

        A broken connection reads as its end, so the handler sees the protocol
        layer's "incomplete body" error rather than a transport exception.
        """
        with trio.move_on_after(self.limits.body_timeout):
            try:
                return _bytes(await self.stream.receive_some(RECEIVE_SIZE))
            except trio.BrokenResourceError:
                return b""
        return None

    async def _send_interim(self, data: bytes) -> None:
        """Send a 100 Continue; if the client is gone, its body's reads will say so."""
        try:
            await self._send(data)
        except _CLIENT_GONE as error:
            logger.debug("interim response to %s failed: %r", self.client, error)

    def _receive_body_from_thread(self) -> bytes | None:
        return trio.from_thread.run(self._receive_body)

    def _send_interim_from_thread(self, data: bytes) -> None:
        trio.from_thread.run(self._send_interim, data)

    async def _close_async_body(self, body: AsyncIterator[bytes]) -> None:
        """Run an abandoned async body's cleanup (its ``finally``), shielded but bounded."""
        self.async_body = None
        aclose = getattr(body, "aclose", None)
        if aclose is None:
            return
        with trio.move_on_after(BODY_CLOSE_TIMEOUT) as scope:
            scope.shield = True
            try:
                await aclose()
            except Exception:
                logger.exception("closing a response body failed")


class AsyncBodyStream:
    """A streamed request body for ``async def`` handlers.

    ``await self.request.stream.read(size)`` returns up to `size` bytes
    (``size < 0``: the whole rest), ``b""`` at the end; ``async for piece in
    self.request.stream`` iterates over it. The first read sends the ``100
    Continue`` a client may be waiting for. Errors (a body too large, too
    slow, malformed) raise `HTTPError` with the status to answer.
    """

    __slots__ = ("_reader", "_receive", "_send")

    def __init__(self, reader: BodyReader, receive: Callable[[], Awaitable[bytes | None]],
                 send: Callable[[bytes], Awaitable[None]]) -> None:
        self._reader = reader
        self._receive = receive
        self._send = send

    async def read(self, size: int = -1) -> bytes:
        interim = self._reader.start()
        if interim:
            await self._send(interim)
        if size >= 0:
            return await self._next(size)
        pieces = []
        while piece := await self._next(-1):
            pieces.append(piece)
        return b"".join(pieces)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[bytes]:
        while piece := await self.read(RECEIVE_SIZE):
            yield piece

    async def _next(self, size: int) -> bytes:
        reader = self._reader
        while True:
            piece = reader.next_piece(size)
            if piece is not NEED_DATA:
                return piece  # type: ignore[return-value]
            reader.feed(await self._receive())


class _TimedWait:
    """A cancel scope that `Server._sweep` cancels once `deadline` (trio time) has passed.

    With `idle=True` it is a wait between requests, which `Server._stop` also
    cancels at once. A class rather than a generator-based context manager
    because it wraps every read and write.
    """

    __slots__ = ("_server", "_scope", "_deadline", "_idle")

    def __init__(self, server: Server, deadline: float, *, idle: bool = False) -> None:
        self._server = server
        self._scope = trio.CancelScope()
        self._deadline = deadline
        self._idle = idle

    def __enter__(self) -> trio.CancelScope:
        server, scope = self._server, self._scope
        if self._idle:
            if server._stopping:
                scope.cancel()
            server._idle_scopes.add(scope)
        server._waits[scope] = self._deadline
        return scope.__enter__()

    def __exit__(self, *exc_info: Any) -> bool:
        server, scope = self._server, self._scope
        del server._waits[scope]
        if self._idle:
            server._idle_scopes.discard(scope)
        return scope.__exit__(*exc_info)


class ReadWriteLock:
    """Many readers or one writer, awaitable; a waiting writer holds back new readers.

    The trio counterpart of `webpy.app.ReadWriteLock`, with the same writer
    preference so a stream of GETs cannot starve a PUT. `acquire` is
    awaited; `release` is synchronous, because the driver releases in a
    ``finally``. An uncontended `acquire` returns without yielding: the
    connection's reads and writes around it are its checkpoints.
    """

    __slots__ = ("_readers", "_writing", "_writers_waiting", "_waiters")

    def __init__(self) -> None:
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0
        self._waiters = trio.lowlevel.ParkingLot()

    def try_acquire(self, exclusive: bool) -> bool:
        """Take the lock if that needs no waiting; return whether it was taken."""
        if self._writing or (self._readers if exclusive else self._writers_waiting):
            return False
        if exclusive:
            self._writing = True
        else:
            self._readers += 1
        return True

    async def acquire(self, exclusive: bool) -> None:
        if exclusive:
            self._writers_waiting += 1
            try:
                while self._writing or self._readers:
                    await self._waiters.park()
                self._writing = True
            finally:
                self._writers_waiting -= 1
                if not self._writing:  # cancelled: readers we held back may go
                    self._waiters.unpark_all()
        else:
            while self._writing or self._writers_waiting:
                await self._waiters.park()
            self._readers += 1

    def release(self, exclusive: bool) -> None:
        if exclusive:
            self._writing = False
            self._waiters.unpark_all()
        else:
            self._readers -= 1
            if not self._readers and self._writers_waiting:
                self._waiters.unpark_all()


# -- entry points ------------------------------------------------------------------------


async def serve(
    routes: Routes,
    host: str | None,
    port: int,
    *,
    error_routes: ErrorRoutes | None = None,
    ssl_context: ssl.SSLContext | None = None,
    limits: Limits | None = None,
    max_connections: int = 10_000,
    thread_limit: int = 40,
    grace_period: float = 5.0,
    backlog: int | None = None,
    task_status: trio.TaskStatus[list[Address]] = trio.TASK_STATUS_IGNORED,
    **limit_options: Any,
) -> None:
    """Serve `routes` over TCP on `host`:`port` until cancelled, then stop gracefully.

    `host` None or ``""`` listens on every interface; port 0 picks a free
    port. `task_status.started()` reports the bound ``(host, port)``
    addresses (one per listening socket), so ``await nursery.start(serve,
    routes, "127.0.0.1", 0)`` returns once the server is ready. With port 0
    and several sockets (e.g. IPv4 and IPv6), each may get its own port.
    `backlog` is the listen queue length (None: trio's default, the system's
    maximum). The other options are `Server`'s.
    """
    server = Server(routes, error_routes, ssl_context=ssl_context, limits=limits,
                    max_connections=max_connections, thread_limit=thread_limit,
                    grace_period=grace_period, **limit_options)
    listeners = await trio.open_tcp_listeners(port, host=host or None, backlog=backlog)
    addresses = [_address(listener) for listener in listeners]
    await server._serve(listeners, lambda: task_status.started(addresses))


async def serve_listeners(
    routes: Routes,
    listeners: Sequence[trio.abc.Listener[trio.abc.Stream]],
    *,
    error_routes: ErrorRoutes | None = None,
    task_status: trio.TaskStatus[Sequence[trio.abc.Listener[trio.abc.Stream]]]
    = trio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Serve `routes` on listeners the caller made, until cancelled; see `Server`.

    For example ``trio.open_tcp_listeners`` with socket options of your own,
    or ``trio.open_ssl_over_tcp_listeners`` replaced by `ssl_context` here.
    `options` are `Server`'s.
    """
    server = Server(routes, error_routes, **options)
    await server.serve_listeners(listeners, task_status=task_status)


def url(address: Address, scheme: str = "http") -> str:
    """The URL of the server at `address`, e.g. for a ``(host, port)`` from `serve`."""
    host, port = address
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"


def _address(listener: trio.SocketListener) -> Address:
    host, port = listener.socket.getsockname()[:2]
    return host, port


def _peer(stream: trio.abc.Stream) -> Address | None:
    sock = getattr(stream, "socket", None)
    if sock is None:
        return None
    try:
        address = sock.getpeername()
    except OSError:
        return None
    return (address[0], address[1]) if isinstance(address, tuple) else None


def _bytes(data: bytes | bytearray) -> bytes:
    """Sockets give bytes; TLS and memory streams may give a bytearray, copied once here."""
    return data if type(data) is bytes else bytes(data)


def _read_region(file: Any, offset: int, size: int) -> bytes:
    """Up to `size` bytes of `file` at `offset` (in a worker thread)."""
    try:
        fileno = file.fileno()
    except (AttributeError, OSError, ValueError):
        file.seek(offset)
        return file.read(size)  # type: ignore[no-any-return]
    return os.pread(fileno, size, offset)
