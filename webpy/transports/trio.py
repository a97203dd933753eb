"""The trio transport: the same routes served by trio, and handlers that may be ``async def``.

Theory of operation
-------------------
Each connection is one trio task (`_trio_connection.TrioConnection`) that
performs its `Lifecycle`'s actions with trio; ``async def`` handlers run in
it, plain ones in worker threads. This module is the server around them:
accepting, the per-server sweep that enforces deadlines, and the stop.

Cancelling `serve_listeners` is a graceful stop: the listeners close, idle
connections close (a request already received is served first), and
requests in flight get `grace_period` seconds. Nothing about HTTP, and no
decision about a connection, lives here.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from collections.abc import Callable, Collection, Sequence
from typing import Any

import trio

from ..app import ErrorRoutes, Routes
from ..app.locks import LockTable
from ..protocol import Limits
from ._trio_connection import ReadWriteLock, TrioConnection, stream_address
from .addresses import url
from .driver import Site
from .lifecycle import AsyncBodyStream, Lifecycle
from .settings import Timeouts, default_max_connections

__all__ = ["AsyncBodyStream", "ReadWriteLock", "Server", "serve", "serve_listeners", "url"]

logger = logging.getLogger("webpy")

_ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})

Address = tuple[str, int]


class Server:
    """Routes, settings and resource locks shared by the connections of one trio server.

    Most programs call `serve` or `serve_listeners`; a `Server` also serves
    streams one by one (`serve_stream`), e.g. trio's memory streams in tests.
    The options are the threaded `HTTPServer`'s (TLS, limits and timeouts,
    `max_connections`, `queue_size`, `locks`, `proxy_protocol`,
    `forwarded_allow`), but `thread_limit`, which bounds the threads running
    plain handlers and blocking body iterators (file reads have as many
    again), and `grace_period`, how long requests in flight may take once the
    server is cancelled, in seconds. A `site` made elsewhere (a worker
    process's, shared with its parent) replaces the one the options would make.
    """

    def __init__(self, routes: Routes, error_routes: ErrorRoutes | None = None, *,
                 ssl_context: ssl.SSLContext | None = None, limits: Limits | None = None,
                 timeouts: Timeouts | None = None, max_connections: int | None = None,
                 thread_limit: int = 40, queue_size: int = 1024, grace_period: float = 5.0,
                 proxy_protocol: bool | Collection[socket.socket] = False,
                 forwarded_allow: str | Sequence[str] | None = None,
                 forwarded_header: str = "x-forwarded", locks: LockTable[Any] | None = None,
                 site: Site | None = None, **options: Any) -> None:
        self.site = site or Site.configured(routes, error_routes, ReadWriteLock, limits=limits,
                                            timeouts=timeouts, locks=locks,
                                            forwarded_allow=forwarded_allow,
                                            forwarded_header=forwarded_header, options=options)
        self.limits, self.timeouts = self.site.limits, self.site.timeouts
        self.ssl_context = ssl_context
        self.proxy_protocol = proxy_protocol
        self.max_connections = max_connections or default_max_connections()
        self.grace_period = grace_period
        self.queue_size = queue_size
        self.threads = trio.CapacityLimiter(thread_limit)
        self.file_threads = trio.CapacityLimiter(thread_limit)
        #: Connections open now, counted from accept to close.
        self.open_connections = 0
        self._stopped: trio.Event | None = None
        #: Each timed wait in progress (a read, a write, a handshake) and its deadline.
        self.waits: dict[trio.CancelScope, float] = {}
        self.idle_waits: dict[trio.CancelScope, Lifecycle] = {}
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
        self.site.stopping = self.site.handing_over = False
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
        with trio.CancelScope(shield=True):
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
        for scope, lifecycle in list(self.idle_waits.items()):
            if lifecycle.expire_if_idle():
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
        interval, waits = self.timeouts.sweep_interval(), self.waits
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
                connections.start_soon(self._connection, stream, stream_address(stream),
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
            await TrioConnection(self, stream, client, refuse, proxied).run()
        finally:
            self.open_connections -= 1
            self._closed.set()
            self._closed = trio.Event()

# -- entry points ------------------------------------------------------------------------


async def serve(routes: Routes, host: str | None, port: int, *,
                backlog: int | None = None, sockets: Sequence[socket.socket] = (),
                task_status: trio.TaskStatus[list[Address]] = trio.TASK_STATUS_IGNORED,
                **options: Any) -> None:
    """Serve `routes` over TCP on `host`:`port` until cancelled, then stop gracefully.

    `host` None or ``""``: every interface; port 0: a free port. `task_status.started()`
    reports the bound ``(host, port)`` of each listening socket, so ``await
    nursery.start(serve, routes, "127.0.0.1", 0)`` returns once the server is ready.
    `sockets` (`listeners.unix`, inherited, systemd's) are served instead, as they are;
    a unix socket's address is ``(path, 0)``. The other options are `Server`'s.
    """
    server = Server(routes, **options)
    listeners = await open_listeners(host, port, backlog=backlog, sockets=sockets)
    await server.serve(listeners, lambda: task_status.started(addresses(listeners)))


async def open_listeners(host: str | None, port: int, *, backlog: int | None = None,
                         sockets: Sequence[socket.socket] = ()) -> list[trio.SocketListener]:
    """`sockets` as trio listeners, or new TCP listeners on `host`:`port` (see `serve`)."""
    if sockets:
        return [trio.SocketListener(trio.socket.from_stdlib_socket(sock)) for sock in sockets]
    return await trio.open_tcp_listeners(port, host=host or None, backlog=backlog)


def addresses(listeners: Sequence[trio.SocketListener]) -> list[Address]:
    """Where each listener listens: ``(host, port)``, or ``(path, 0)`` for a unix socket."""
    names = [listener.socket.getsockname() for listener in listeners]
    return [(name[0], name[1]) if isinstance(name, tuple) else (name, 0) for name in names]


async def serve_listeners(
        routes: Routes, listeners: Sequence[trio.abc.Listener[trio.abc.Stream]], *,
        task_status: trio.TaskStatus[Sequence[trio.abc.Listener[trio.abc.Stream]]]
        = trio.TASK_STATUS_IGNORED, **options: Any) -> None:
    """Serve `routes` on listeners the caller made (e.g. with socket options of
    their own), until cancelled; `options` are `Server`'s."""
    server = Server(routes, **options)
    await server.serve_listeners(listeners, task_status=task_status)
