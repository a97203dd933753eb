"""The production server: `HTTPServer`, an epoll loop over a pool of threads, plain or TLS.

The loop itself, and how its threads share the work, is `_epoll.EpollLoop`;
this module is the server's face: what it listens on, how it starts, stops
and forks into worker processes. Everything HTTP, and every decision about a
connection, is below both (`lifecycle.py`).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..app import ErrorRoutes, ReadWriteLock, Routes
from ..app.application import Application
from ..app.locks import LockTable
from ..protocol import Limits
from . import listeners, signals
from ._epoll import EpollLoop
from .driver import Site
from .processes import WorkerOptions
from .settings import Timeouts, default_max_connections

if TYPE_CHECKING:
    from .trio_worker import TrioWorker


class HTTPServer:
    """Serve `routes` on `address` with a pool of `threads`.

    `address` is ``(host, port)``; port 0 picks a free port (see `server_address`).
    Or `sockets`: listening sockets made elsewhere (`listeners.unix`, an
    inherited descriptor, systemd's), served as they are, never listened on
    again; `address` is then None.
    TLS is on when `certfile` (and `keyfile`, unless the certificate file holds
    the key) or an `ssl_context` is given. `limits` and `timeouts`, or any of
    their fields as keywords (``head_timeout=5``), bound what a client may
    cost. Past `max_connections` (default: what the file limit allows) a
    client gets 503; so does a request that waits for a thread longer than
    `Timeouts.queue_timeout` or behind `queue_size` others. `processes > 1`
    forks that many worker processes (on Linux each with its own SO_REUSEPORT
    socket of the port; `listeners.tcp_group`), serving with the epoll loop,
    or with trio given ``transport="trio"`` (`trio_worker.py`), ordered
    together on a lock file (`FileLocks`) unless `locks` gives another lock
    backend (such as `PostgresLocks`, for several servers); `restart_workers()`
    (SIGHUP on the command line) replaces them one at a time, and so does a
    worker's `max_requests` (plus up to `max_requests_jitter`), each old worker
    getting `grace_period` seconds to finish (`processes.py`). The socket
    is bound here, so the port is known before `start()`. With `proxy_protocol`,
    every connection must start with a PROXY protocol header (HAProxy's
    `send-proxy`, `send-proxy-v2`), which gives the client's address; given
    some of `sockets` instead of True, only connections to those. With
    `forwarded_allow` (addresses and networks of the proxies in front), requests
    from those peers take their client, scheme and Host from X-Forwarded-For,
    -Proto and -Host, or from `Forwarded` with ``forwarded_header="forwarded"``.
    """

    def __init__(self, address: tuple[str, int] | None, routes: Routes,
                 error_routes: ErrorRoutes | None = None, *, keyfile: str | None = None,
                 certfile: str | None = None, ssl_context: ssl.SSLContext | None = None,
                 threads: int = 8, max_connections: int | None = None, queue_size: int = 1024,
                 backlog: int = 1024, processes: int = 1, limits: Limits | None = None,
                 locks: LockTable[Any] | None = None,
                 timeouts: Timeouts | None = None,
                 proxy_protocol: bool | Collection[socket.socket] = False,
                 forwarded_allow: str | Sequence[str] | None = None,
                 forwarded_header: str = "x-forwarded",
                 sockets: Sequence[socket.socket] = (), max_requests: int = 0,
                 max_requests_jitter: int = 0, grace_period: float = 5.0,
                 transport: str = "threaded", **options: Any) -> None:
        if threads < 1 or processes < 1:
            raise ValueError("threads and processes must be at least 1")
        if transport not in ("threaded", "trio") or (transport == "trio" and processes < 2):
            raise ValueError("transport is 'threaded', or 'trio' with processes > 1")
        self.transport = transport
        self.site = Site.configured(routes, error_routes, ReadWriteLock, limits=limits,
                                    timeouts=timeouts, locks=locks,
                                    forwarded_allow=forwarded_allow,
                                    forwarded_header=forwarded_header, options=options)
        self.limits, self.timeouts = self.site.limits, self.site.timeouts
        #: The `FileLocks` made at start for `processes > 1`, closed at stop.
        self._own_locks: Any = None
        self._locks_given = locks is not None
        if ssl_context is None and certfile is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(certfile, keyfile)
        self.ssl_context = ssl_context
        self.proxy_protocol = proxy_protocol
        self.threads, self.processes, self.queue_size = threads, processes, queue_size
        self.worker_options = WorkerOptions(max_requests, max_requests_jitter, grace_period)
        self.max_connections = max_connections or default_max_connections()
        # The listening sockets, `socket` the first: with `processes > 1`, one per
        # worker process where the kernel balances them (`listeners.tcp_group`).
        if sockets:
            self.sockets = list(sockets)
        elif address is not None:
            self.sockets = listeners.tcp_group(*address, processes, backlog=backlog)
        else:
            raise ValueError("an address or listening sockets are needed")
        self.socket = self.sockets[0]
        self._socket_per_worker = not sockets and len(self.sockets) == processes > 1
        name = self.socket.getsockname()
        self._address: tuple[str, int] = name[:2] if isinstance(name, tuple) else (name, 0)
        #: The listeners whose connections start with a PROXY header, by descriptor.
        self._proxied = listeners.proxied(self.sockets, proxy_protocol)
        self._loop: EpollLoop | TrioWorker | None = None
        self._stopped = threading.Event()
        self._lifecycle_lock = threading.Lock()
        self._running = False
        self._children: Any = None

    @property
    def server_address(self) -> tuple[str, int]:
        """The bound (host, port), with the real port if 0 was asked for."""
        return self._address

    @property
    def url(self) -> str:
        host, port = self.server_address
        scheme = "https" if self.ssl_context else "http"
        if self.socket.family == socket.AF_UNIX:
            return f"{scheme}+unix://{quote(host, safe='')}/"
        return f"{scheme}://[{host}]:{port}/" if ":" in host else f"{scheme}://{host}:{port}/"

    def start(self) -> None:
        """Serve in background threads and return; the process serves until `stop()`.

        Ctrl-C and SIGTERM stop every started server of the process cleanly.
        """
        with self._lifecycle_lock:
            if self._running:
                raise RuntimeError("server already started")
            signals.register(self)  # Ctrl-C and SIGTERM stop it, see signals.py
            self._stopped.clear()
            self.site.stopping = self.site.handing_over = False
            if self.processes > 1:
                from ..app.locks_files import FileLocks
                from .processes import WorkerProcesses

                if not self._locks_given and self._own_locks is None:
                    self.site.locks = self._own_locks = FileLocks()  # before the fork

                self._children = WorkerProcesses(self, self.processes, self.worker_options)
                self._children.start()
            elif self.transport == "trio":  # a worker process (see become_worker)
                from .trio_worker import TrioWorker

                self._loop = TrioWorker.serving(self)
            else:
                self._loop = EpollLoop(
                    self.site, self.sockets, threads=self.threads, queue_size=self.queue_size,
                    max_connections=self.max_connections, ssl_context=self.ssl_context,
                    proxied=self._proxied)
            self._running = True

    def become_worker(self, number: int) -> None:
        """In a process forked from a started server: serve here, as worker `number`.

        With a socket per worker, the worker accepts on its own only.
        """
        if self._socket_per_worker:
            for sock in self.sockets[:number] + self.sockets[number + 1:]:
                sock.close()
            self.sockets = self.sockets[number:number + 1]
        self.processes = 1
        self._running = False
        self._children = None
        self._lifecycle_lock = threading.Lock()  # the parent held it across fork()

    def restart_workers(self, routes: Routes | None = None,
                        error_routes: ErrorRoutes | None = None) -> None:
        """Replace the worker processes one at a time, losing no request; returns at once.

        Each new worker accepts before the one it replaces stops accepting and
        finishes its requests; with `routes`, the new workers (and any forked
        later) serve those: a new version of the application. Without worker
        processes there is nothing to do.
        """
        children = self._children
        if children is not None:
            if routes is not None:
                self.site.app = Application(routes, error_routes)
            children.restart()

    def signal_workers(self, signum: int) -> None:
        """Send `signum` to every worker process (SIGUSR1: reopen their log files)."""
        if self._children is not None:
            self._children.signal(signum)

    def serve_forever(self) -> None:
        """Serve until `stop()` is called (from another thread or a signal)."""
        with signals.waiting():
            try:
                if not self._running:
                    self.start()
                while not self._stopped.wait(1.0):
                    pass
            except KeyboardInterrupt:
                self.stop()

    def stop(self, timeout: float = 5.0, *, handing_over: bool = False) -> None:
        """Stop accepting, let requests in flight finish for up to `timeout` seconds, close all.

        From the moment stop begins every response says ``Connection: close``, and a
        request already received on an idle connection is still served. With
        `handing_over` (another process accepts on these sockets from now on), so
        is the first request of a connection accepted before the stop.
        """
        with self._lifecycle_lock:
            if self._running:
                self._stop(timeout, handing_over)
                self._running = False
            self._stopped.set()

    def _stop(self, timeout: float, handing_over: bool) -> None:
        signals.unregister(self)
        self.site.stop(handing_over=handing_over)
        if self._loop is not None:
            self._loop.stop(timeout)
            self._loop = None
            return
        # The workers hold their own copies: once they stop accepting, the port
        # refuses new connections at once instead of queueing them until all exit.
        for listener in self.sockets:
            listener.close()
        if self._children is not None:
            self._children.stop(timeout)
            self._children = None
        if self._own_locks is not None:
            self._own_locks.close()  # the lock file goes
            self._own_locks = None

    def __enter__(self) -> HTTPServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def serve(address: tuple[str, int], routes: Routes, **options: Any) -> None:
    """Serve `routes` on `address` until interrupted; `options` as for `HTTPServer`."""
    HTTPServer(address, routes, **options).serve_forever()
