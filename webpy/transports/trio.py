"""The trio transport: the same routes served by trio, and handlers that may be ``async def``.

Theory of operation
-------------------
Each connection is one trio task that performs its `Lifecycle`'s actions
with trio. Waits on the client (reads, each piece of a write, the TLS
handshake) run under `_TimedWait`, a cancel scope that one sweeping task per
server cancels once the lifecycle's deadline has passed: cheaper than a trio
deadline per wait (see `Server._sweep`). ``async def`` handlers and async
response bodies run in the connection's task; plain handlers, blocking
iterators and file reads run in worker threads, since any of them may block
and must never stall the event loop. A plain handler waits for a thread
within `queue_size` and `Timeouts.queue_timeout`, then gets 503; file reads
have threads of their own and never wait behind handlers.

Cancelling `serve_listeners` is a graceful stop: the listeners close, idle
connections close (a request already received is served first), and
requests in flight get `grace_period` seconds. Nothing about HTTP, and no
decision about a connection, lives here.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import select
import socket
import ssl
from collections.abc import Callable, Collection, Sequence
from typing import Any

import trio

from ..app import Application, ErrorRoutes, HTTPError, Routes
from ..app.locks import LockTable, ReadWriteState
from ..protocol import Limits
from ..protocol.forwarded import TrustedProxies
from .actions import (
    READ_DRAIN,
    WOKEN,
    Acquire,
    Consume,
    Handle,
    Handshake,
    Peek,
    Pull,
    Read,
    SendFile,
    ShutdownWrite,
    WebSocketRead,
    Write,
)
from .addresses import url
from .driver import Site
from .lifecycle import AsyncBodyStream, BlockingBodyStream, Lifecycle, log_lost
from .settings import Timeouts, default_max_connections, split_options

__all__ = ["AsyncBodyStream", "ReadWriteLock", "Server", "serve", "serve_listeners", "url"]

logger = logging.getLogger("webpy")

RECEIVE_SIZE = 64 * 1024
#: Largest piece handed to one ``send_all``: the stall timeout applies to each.
SEND_PIECE = 256 * 1024
#: How long an abandoned async response body may take to close.
BODY_CLOSE_TIMEOUT = 5.0
_CLIENT_GONE = (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError)
_ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_UNLIMITED = trio.CapacityLimiter(math.inf)

Address = tuple[str, int]


class Server:
    """Routes, settings and resource locks shared by the connections of one trio server.

    Most programs call `serve` or `serve_listeners`; make a `Server` to serve
    streams one by one (`serve_stream`), e.g. trio's in-memory streams in
    tests. `ssl_context` turns on TLS. `limits` and `timeouts`, or their
    fields as keywords, bound what a client may cost; past `max_connections`
    a client gets 503. `thread_limit` bounds the threads running plain
    handlers and blocking body iterators (file reads have as many again).
    `grace_period` is how long requests in flight may take once the server is
    cancelled, in seconds. `locks` replaces the per-resource lock table with a
    shared backend (`FileLocks`, `PostgresLocks`). With `proxy_protocol`, every
    connection must start with a PROXY protocol header, which gives the
    client's address; given some sockets instead of True, only connections to
    the listeners on those sockets. With
    `forwarded_allow`, requests from those proxies take their client, scheme and
    Host from the forwarding headers (as for the threaded `HTTPServer`).
    """

    def __init__(self, routes: Routes, error_routes: ErrorRoutes | None = None, *,
                 ssl_context: ssl.SSLContext | None = None, limits: Limits | None = None,
                 timeouts: Timeouts | None = None, max_connections: int | None = None,
                 thread_limit: int = 40, queue_size: int = 1024, grace_period: float = 5.0,
                 proxy_protocol: bool | Collection[socket.socket] = False,
                 forwarded_allow: str | Sequence[str] | None = None,
                 forwarded_header: str = "x-forwarded", locks: LockTable[Any] | None = None,
                 **options: Any) -> None:
        self.limits, self.timeouts = split_options(limits, timeouts, options)
        self.site = Site(Application(routes, error_routes), self.limits, ReadWriteLock,
                         self.timeouts, locks=locks)
        self.ssl_context = ssl_context
        self.proxy_protocol = proxy_protocol
        if forwarded_allow:
            self.site.trusted_proxies = TrustedProxies(forwarded_allow, header=forwarded_header)
        self.max_connections = max_connections or default_max_connections()
        self.grace_period = grace_period
        self.queue_size = queue_size
        self.threads = trio.CapacityLimiter(thread_limit)
        self.file_threads = trio.CapacityLimiter(thread_limit)
        #: Connections open now, counted from accept to close.
        self.open_connections = 0
        self._stopped: trio.Event | None = None
        self._connections_scope: trio.CancelScope | None = None
        #: Each timed wait in progress (a read, a write, a handshake) and its deadline.
        self._waits: dict[trio.CancelScope, float] = {}
        self._idle: dict[trio.CancelScope, Lifecycle] = {}
        #: Set (and replaced) each time a connection closes.
        self._closed = trio.Event()

    async def serve_listeners(
        self, listeners: Sequence[trio.abc.Listener[trio.abc.Stream]], *,
        task_status: trio.TaskStatus[Sequence[trio.abc.Listener[trio.abc.Stream]]]
        = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept and serve connections on `listeners` until cancelled, then stop gracefully.

        `task_status.started()` reports the listeners; they are closed when this returns.
        """
        await self.serve(listeners, lambda: task_status.started(listeners))

    async def serve_stream(self, stream: trio.abc.Stream, client: Address | None = None) -> None:
        """Serve one connection on `stream` (TLS first, with `ssl_context`); close it after.

        Cancelling this closes the connection at once; only `serve_listeners` has a grace period.
        """
        self.open_connections += 1
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sweep)
            await self._connection(stream, client, False, self.proxy_protocol is True)
            nursery.cancel_scope.cancel()

    async def serve(self, listeners: Sequence[trio.abc.Listener[trio.abc.Stream]],
                    started: Callable[[], object]) -> None:
        """`serve_listeners`, calling `started()` once accepting."""
        self.site.stopping = False
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
                connections.start_soon(self._sweep)
                task_status.started(connections)
                await self._stopped.wait()
                connections.cancel_scope.deadline = trio.current_time() + self.grace_period
                while self.open_connections > 0:
                    await self._closed.wait()
                connections.cancel_scope.cancel()  # the sweeper

    def _stop(self) -> None:
        """Stop gracefully: idle connections close now, the rest within `grace_period`."""
        self.site.stop()
        for scope, lifecycle in list(self._idle.items()):
            lifecycle.expire_if_idle()
            scope.cancel()
        if self._stopped is not None:
            self._stopped.set()

    async def _sweep(self) -> None:
        """Cancel the timed waits whose deadline has passed, a few times a second.

        Timeouts are enforced here rather than with trio's own deadlines: those
        keep a heap entry per deadline set, pruned lazily, and at one read and
        one write per request that bookkeeping cost more than this sweep
        (measured: about 9% of the CPU time of a keep-alive request).
        """
        interval, waits = self.timeouts.sweep_interval(), self._waits
        while True:
            await trio.sleep(interval)
            now = trio.current_time()
            for scope, deadline in list(waits.items()):
                if deadline <= now:
                    scope.cancel()

    async def _accept(self, listener: trio.abc.Listener[trio.abc.Stream],
                      connections: trio.Nursery) -> None:
        proxied = self._proxied(listener)
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as error:
                    if error.errno not in _ACCEPT_CAPACITY_ERRNOS:
                        raise
                    logger.error("accept failed (%s); retrying", errno.errorcode.get(
                        error.errno or 0, error))
                    await trio.sleep(0.1)
                    continue
                self.open_connections += 1
                connections.start_soon(self._connection, stream, _peer(stream),
                                       self.open_connections > self.max_connections, proxied)

    def _proxied(self, listener: trio.abc.Listener[trio.abc.Stream]) -> bool:
        """Whether connections to `listener` start with a PROXY header."""
        wanted = self.proxy_protocol
        if isinstance(wanted, bool):
            return wanted
        sock = getattr(listener, "socket", None)
        return sock is not None and sock.fileno() in {chosen.fileno() for chosen in wanted}

    async def _connection(self, stream: trio.abc.Stream, client: Address | None,
                          refuse: bool, proxied: bool) -> None:
        """Serve one connection; whatever goes wrong with it, the server carries on."""
        try:
            await _Connection(self, stream, client, refuse, proxied).run()
        finally:
            self.open_connections -= 1
            self._closed.set()
            self._closed = trio.Event()

class _Connection:
    """One client connection: performs its lifecycle's actions with trio."""

    __slots__ = ("async_body", "lifecycle", "server", "stream", "timeouts")

    def __init__(self, server: Server, stream: trio.abc.Stream, client: Address | None,
                 refuse: bool, proxied: bool) -> None:
        self.server = server
        self.timeouts = server.timeouts
        self.stream = stream
        self.lifecycle = Lifecycle(server.site, client, trio.current_time,
                                   tls=server.ssl_context is not None, refuse=refuse,
                                   proxy=proxied)
        #: An async response body being sent, to close if the connection ends first.
        self.async_body: Any = None

    async def run(self) -> None:
        lifecycle = self.lifecycle
        try:
            action: Any = lifecycle.start()
            while action is not None:
                kind = type(action)
                result: Any = None
                if kind is Read:
                    result = await self._read(action)
                elif kind is Write:
                    await self._write(action.data)
                elif kind is Handle:
                    result = await self._handle(action)
                elif kind is Pull:
                    result = await self._pull(action)
                elif kind is Acquire:
                    result = await _acquire(action.lock, action.exclusive)
                elif kind is SendFile:
                    await self._send_file(action)
                elif kind is ShutdownWrite:
                    if isinstance(self.stream, trio.abc.HalfCloseableStream):
                        await self.stream.send_eof()
                elif kind is Peek:
                    result = await self._peek(action.size)
                elif kind is Consume:
                    await self._consume(action.count)
                elif kind is Handshake:
                    result = await self._handshake()
                elif kind is WebSocketRead:
                    result = await self._read_websocket(action)
                action = lifecycle.send(result)
        except _CLIENT_GONE as error:
            log_lost(lifecycle.client, OSError(repr(error)))
        except Exception as error:
            log_lost(lifecycle.client, error)
        finally:
            lifecycle.close()
            if self.async_body is not None:
                await self._close_async_body()
            await trio.aclose_forcefully(self.stream)

    def _wait(self) -> _TimedWait:
        return _TimedWait(self.server, self.lifecycle)

    async def _read(self, read: Read | WebSocketRead) -> bytes | None:
        with self._wait():
            try:
                return bytes(await self.stream.receive_some(RECEIVE_SIZE))
            except trio.BrokenResourceError:
                if read is READ_DRAIN:
                    return b""
                raise
        if _readable_now(self.stream):  # the bytes arrived just in time: serve them
            return bytes(await self.stream.receive_some(RECEIVE_SIZE))
        return None

    async def _read_websocket(self, read: WebSocketRead) -> Any:
        """A `Read` that a wake-up from any thread ends early, with WOKEN."""
        token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as woken:

            def wake() -> None:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(woken.cancel)

            if read.park(wake):
                return WOKEN
            return await self._read(read)
        return WOKEN

    async def _write(self, data: bytes | list[bytes]) -> None:
        if not isinstance(data, bytes):
            data = b"".join(data)
        view = memoryview(data)
        self.lifecycle.progress()
        for start in range(0, len(data), SEND_PIECE):
            with self._wait() as scope:
                await self.stream.send_all(view[start:start + SEND_PIECE])
            if scope.cancelled_caught:
                raise trio.TooSlowError("client stopped reading")
            self.lifecycle.progress()

    async def _send_file(self, action: SendFile) -> None:
        offset, remaining = action.offset, action.count
        while remaining > 0:
            piece = await trio.to_thread.run_sync(
                _read_region, action.file, offset, min(remaining, SEND_PIECE),
                limiter=self.server.file_threads)
            if not piece:
                raise OSError("file shorter than expected")
            await self._write(piece)
            offset += len(piece)
            remaining -= len(piece)

    async def _peek(self, size: int) -> bytes | None:
        sock = getattr(self.stream, "socket", None)
        if sock is None:
            return b"\x16"  # not a socket (e.g. a memory stream): take it to be TLS
        with self._wait():
            return await sock.recv(size, socket.MSG_PEEK)  # type: ignore[no-any-return]
        return None

    async def _consume(self, count: int) -> None:
        """Drop `count` bytes a peek saw (a PROXY header), straight from the socket."""
        sock = self.stream.socket  # type: ignore[attr-defined]
        while count > 0:
            data = await sock.recv(count)
            if not data:
                raise trio.BrokenResourceError("connection closed inside a PROXY header")
            count -= len(data)

    async def _handshake(self) -> bool:
        """TLS, in the connection's own task. `https_compatible`: HTTP frames its own
        messages, so a client that closes without close_notify truncated nothing."""
        assert self.server.ssl_context is not None
        secure = trio.SSLStream(self.stream, self.server.ssl_context, server_side=True,
                                https_compatible=True)
        with self._wait():
            try:
                await secure.do_handshake()
            except trio.BrokenResourceError as error:
                logger.debug("TLS handshake with %s failed: %r", self.lifecycle.client,
                             error.__cause__ or error)
                return False
            self.stream = secure
            return True
        return False

    async def _handle(self, action: Handle) -> Any:
        call = action.call
        reader = self.lifecycle.driver.body_reader(call) if call.stream_body else None
        if call.is_async:
            if reader is not None:
                call.request.stream = AsyncBodyStream(reader, self._receive_body, self._interim,
                                                      self._watch_for_disconnect)
            return await action.run_async()
        if reader is not None:
            call.request.stream = BlockingBodyStream(
                reader, lambda: trio.from_thread.run(self._receive_body),
                lambda data: trio.from_thread.run(self._interim, data))
        threads = self.server.threads
        if threads.statistics().tasks_waiting >= self.server.queue_size:
            return action.refuse()
        with trio.move_on_after(self.timeouts.queue_timeout):
            await threads.acquire()
            try:
                return await trio.to_thread.run_sync(action.run, limiter=_UNLIMITED)
            finally:
                threads.release()
        return action.refuse()

    async def _pull(self, pull: Pull) -> Any:
        if pull.is_async:
            self.async_body = pull.body.chunks
            chunk = await pull.anext()
            if chunk is None:
                self.async_body = None
            return chunk
        if not pull.may_block:
            return pull.next()
        return await trio.to_thread.run_sync(pull.next, limiter=self.server.threads)

    async def _receive_body(self) -> bytes | None:
        """The next bytes of a streamed body; None if none came within `body_timeout`.

        A broken connection reads as its end, so the handler sees the protocol
        layer's "incomplete body" error rather than a transport exception.
        """
        with trio.move_on_after(self.timeouts.body_timeout):
            try:
                return bytes(await self.stream.receive_some(RECEIVE_SIZE))
            except trio.BrokenResourceError:
                return b""
        return None

    async def _watch_for_disconnect(self, keep: Callable[[bytes], bool]) -> None:
        """Return when the client closes or resets; what it sends meanwhile goes to `keep`.

        Once `keep` says it holds enough, reading stops and this waits until cancelled.
        """
        while True:
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except trio.BrokenResourceError:
                return
            if not data:
                return
            if not keep(bytes(data)):
                await trio.sleep_forever()

    async def _interim(self, data: bytes) -> None:
        """Send a 100 Continue; if the client is gone, its body's reads will say so."""
        try:
            await self._write(data)
        except _CLIENT_GONE as error:
            logger.debug("interim response to %s failed: %r", self.lifecycle.client, error)

    async def _close_async_body(self) -> None:
        """Run an abandoned async body's cleanup (its ``finally``), shielded but bounded."""
        aclose, self.async_body = getattr(self.async_body, "aclose", None), None
        if aclose is None:
            return
        with trio.move_on_after(BODY_CLOSE_TIMEOUT) as scope:
            scope.shield = True
            try:
                await aclose()
            except Exception:
                logger.exception("closing a response body failed")


class _TimedWait:
    """A cancel scope that `Server._sweep` cancels once the lifecycle's deadline has passed.

    A wait for a next request is also registered as idle, for `Server._stop`
    to end at once. A class rather than a generator-based context manager
    because it wraps every read and write.
    """

    __slots__ = ("_lifecycle", "_scope", "_server")

    def __init__(self, server: Server, lifecycle: Lifecycle) -> None:
        self._server = server
        self._lifecycle = lifecycle
        self._scope = trio.CancelScope()

    def __enter__(self) -> trio.CancelScope:
        server, scope, lifecycle = self._server, self._scope, self._lifecycle
        if lifecycle.deadline <= trio.current_time():
            scope.cancel()
        if lifecycle.idle:
            server._idle[scope] = lifecycle
        server._waits[scope] = lifecycle.deadline
        return scope.__enter__()

    def __exit__(self, *exc_info: Any) -> bool:
        server, scope = self._server, self._scope
        del server._waits[scope]
        server._idle.pop(scope, None)
        return scope.__exit__(*exc_info)


class ReadWriteLock:
    """Many readers or one writer, awaitable, with the writer preference of `ReadWriteState`.

    `acquire` is awaited; `release` is synchronous, because the driver releases
    in a ``finally``. An uncontended `acquire` returns without yielding: the
    connection's reads and writes around it are its checkpoints. Trio runs one
    task at a time, so the state needs no mutex.
    """

    __slots__ = ("_state", "_waiters")

    def __init__(self) -> None:
        self._state = ReadWriteState()
        self._waiters = trio.lowlevel.ParkingLot()

    def try_acquire(self, exclusive: bool) -> bool:
        """Take the lock if that needs no waiting; return whether it was taken."""
        return self._state.try_take(exclusive)

    async def acquire(self, exclusive: bool) -> None:
        state = self._state
        if state.try_take(exclusive):
            return
        state.enqueue(exclusive)
        try:
            while not state.try_take_queued(exclusive):
                await self._waiters.park()
        except BaseException:
            if state.dequeue(exclusive):
                self._waiters.unpark_all()
            raise

    def release(self, exclusive: bool) -> None:
        if self._state.release(exclusive):
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
    max_connections: int | None = None,
    thread_limit: int = 40,
    grace_period: float = 5.0,
    backlog: int | None = None,
    sockets: Sequence[socket.socket] = (),
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
    maximum). `sockets`, listening sockets made elsewhere (`listeners.unix`,
    inherited, systemd's), are served instead of `host` and `port`, as they
    are; a unix socket's address is reported as ``(path, 0)``. The other
    options are `Server`'s.
    """
    server = Server(routes, error_routes, ssl_context=ssl_context, limits=limits,
                    max_connections=max_connections, thread_limit=thread_limit,
                    grace_period=grace_period, **limit_options)
    if sockets:
        listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                     for sock in sockets]
    else:
        listeners = await trio.open_tcp_listeners(port, host=host or None, backlog=backlog)
    addresses = [_address(listener) for listener in listeners]
    await server.serve(listeners, lambda: task_status.started(addresses))


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


async def _acquire(lock: Any, exclusive: bool) -> HTTPError | None:
    """Take a resource lock: trio's own is awaited, a blocking backend's waits in a thread.

    A shared backend (`FileLocks`, `PostgresLocks`) says so with ``blocking``;
    its wait is not cancellable (the thread would take the lock anyway). Its
    refusal (`LockUnavailable`) goes back to the driver, which answers it.
    """
    try:
        if getattr(lock, "blocking", False):
            await trio.to_thread.run_sync(lock.acquire, exclusive)
        else:
            await lock.acquire(exclusive)
    except HTTPError as refusal:
        return refusal
    return None


def _read_region(file: Any, offset: int, size: int) -> bytes:
    """Up to `size` bytes of `file` at `offset` (in a worker thread)."""
    try:
        fileno = file.fileno()
    except (AttributeError, OSError, ValueError):
        file.seek(offset)
        return file.read(size)  # type: ignore[no-any-return]
    return os.pread(fileno, size, offset)


def _peer(stream: trio.abc.Stream) -> Address | None:
    sock = getattr(stream, "socket", None)
    try:
        address = sock.getpeername() if sock is not None else None
    except OSError:
        return None
    return (address[0], address[1]) if isinstance(address, tuple) else None


def _address(listener: trio.SocketListener) -> Address:
    name = listener.socket.getsockname()
    if not isinstance(name, tuple):  # a unix socket's path
        return name, 0
    return name[0], name[1]


def _readable_now(stream: trio.abc.Stream) -> bool:
    """Whether bytes (or EOF) wait on the stream's socket, without reading or blocking."""
    sock = getattr(getattr(stream, "transport_stream", stream), "socket", None)
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))
