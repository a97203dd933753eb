"""The production server: one epoll set, a fixed pool of threads, plain sockets or TLS.

Theory of operation
-------------------
Every connection, the listening socket included, sits in one epoll set in
one-shot mode. One worker thread at a time, the leader, polls that set and
performs the ready connections' actions (`Lifecycle`), one connection after
another, as a single-threaded event loop would; if a handler blocks, an idle
thread takes over as leader (`_leadership`). So:

- a connection waiting for the client, to read or to write, holds no
  thread: it is parked in epoll with its `Lifecycle.deadline`, whatever the
  number of such connections and however slowly a client reads;
- a request is handled by the thread that read it: no queue and no hand-off
  while handlers are quick;
- a connection is owned by at most one thread at a time (the one-shot event,
  plus `claim`, a lock also taken by the sweeper that expires deadlines);
- the last free thread never runs a handler, so someone always polls: a
  request that finds no other thread free waits in a bounded queue
  (`queue_size`, `Timeouts.queue_timeout`) for the first thread to finish,
  then gets 503 with Retry-After.

Everything HTTP, and every decision about a connection, is below this module.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

from ..app import Application, ErrorRoutes, ReadWriteLock, Routes
from ..app.locks import LockTable, acquire_blocking
from ..protocol import Limits
from ..protocol.forwarded import TrustedProxies
from . import _sockets as io
from . import signals
from ._leadership import Leadership
from .actions import (
    READ_IDLE,
    WOKEN,
    Acquire,
    Consume,
    Handle,
    Handshake,
    Peek,
    Pull,
    Read,
    SendFile,
    WebSocketRead,
    Write,
)
from .driver import Site
from .lifecycle import Lifecycle, log_lost, run_blocking
from .settings import Timeouts, default_max_connections, split_options

logger = logging.getLogger("webpy")

_IN = select.EPOLLIN | select.EPOLLONESHOT
_OUT = select.EPOLLOUT | select.EPOLLONESHOT
#: Waits for the client's bytes, which a last look may find already there.
_READS = (Read, Peek, WebSocketRead)


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
    forks that many worker processes sharing the listening socket, ordered
    together on a lock file (`FileLocks`) unless `locks` gives another lock
    backend (such as `PostgresLocks`, for several servers). The socket
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
                 sockets: Sequence[socket.socket] = (), **options: Any) -> None:
        if threads < 1 or processes < 1:
            raise ValueError("threads and processes must be at least 1")
        self.limits, self.timeouts = split_options(limits, timeouts, options)
        self.app = Application(routes, error_routes)
        self.site = Site(self.app, self.limits, ReadWriteLock, self.timeouts, locks=locks)
        #: The `FileLocks` made at start for `processes > 1`, closed at stop.
        self._own_locks: Any = None
        self._locks_given = locks is not None
        if ssl_context is None and certfile is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(certfile, keyfile)
        self.ssl_context = ssl_context
        self.proxy_protocol = proxy_protocol
        if forwarded_allow:
            self.site.trusted_proxies = TrustedProxies(forwarded_allow, header=forwarded_header)
        self.threads, self.processes, self.queue_size = threads, processes, queue_size
        self.max_connections = max_connections or default_max_connections()
        if not sockets and address is None:
            raise ValueError("an address or listening sockets are needed")
        #: The listening sockets; `socket` is the first.
        self.sockets = list(sockets) or [io.listen(address, backlog)]  # type: ignore[arg-type]
        self.socket = self.sockets[0]
        name = self.socket.getsockname()
        self._address: tuple[str, int] = name[:2] if isinstance(name, tuple) else (name, 0)
        #: The listeners whose connections start with a PROXY header, by descriptor.
        self._proxied = _proxied_listeners(self.sockets, proxy_protocol)
        self._connections: dict[int, _Connection] = {}
        self._ready: collections.deque[tuple[int, int]] = collections.deque()
        self._queue: collections.deque[_Connection] = collections.deque()
        self._workers: list[threading.Thread] = []
        self._leadership = Leadership()
        #: Set once a stop has waited for the last connections: the sweeper ends then, not before.
        self._halted = threading.Event()
        self._stopping, self._stopped, self._emptied = (threading.Event(), threading.Event(),
                                                        threading.Event())
        self._lifecycle_lock = threading.Lock()
        self._running = False
        self._epoll: Any = None
        self._wake = (-1, -1)
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
            self._stopping.clear()
            self.site.stopping = False
            if self.processes > 1:
                from ..app.locks_files import FileLocks
                from .processes import WorkerProcesses

                if not self._locks_given and self._own_locks is None:
                    self.site.locks = self._own_locks = FileLocks()  # before the fork

                self._children = WorkerProcesses(self, self.processes)
                self._children.start()
            else:
                self._start_threads()
            self._running = True

    def become_worker(self) -> None:
        """In a process forked from a started server: serve here, as one process."""
        self.processes = 1
        self._running = False
        self._children = None
        self._lifecycle_lock = threading.Lock()  # the parent held it across fork()

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

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish for up to `timeout` seconds, close all.

        From the moment stop begins every response says ``Connection: close``, and a
        request already received on an idle connection is still served.
        """
        with self._lifecycle_lock:
            if self._running:
                self._stop(timeout)
                self._running = False
            self._stopped.set()

    def _stop(self, timeout: float) -> None:
        self._stopping.set()
        signals.unregister(self)
        if self._children is not None:
            self._children.stop(timeout)
            self._children = None
            if self._own_locks is not None:
                self._own_locks.close()  # the lock file goes
                self._own_locks = None
            for listener in self.sockets:
                listener.close()
            return
        deadline = time.monotonic() + timeout
        self.site.stop()
        for listener in self.sockets:
            try:
                self._epoll.unregister(listener.fileno())
            except (OSError, ValueError):
                pass
            listener.close()
        for connection in list(self._connections.values()):
            if connection.claim.acquire(False):
                connection.lifecycle.expire_if_idle()
                self._expire(connection, time.monotonic())
        if self._connections:  # the loop and the sweeper serve them meanwhile
            self._emptied.wait(max(deadline - time.monotonic(), 0))
        self._halted.set()
        os.write(self._wake[1], b"x")
        self._leadership.stop()
        for worker in self._workers:
            worker.join(max(deadline - time.monotonic(), 0))
        for connection in list(self._connections.values()):
            io.shutdown(connection.sock)  # unblock a thread still inside a request
        for worker in self._workers:
            worker.join(1.0)
        for connection in list(self._connections.values()):
            connection.sock.close()
        self._connections.clear()
        self._epoll.close()
        for fd in self._wake:
            os.close(fd)
        self._workers = []

    def __enter__(self) -> HTTPServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _start_threads(self) -> None:
        self._leadership = Leadership()
        self._ready.clear()
        self._emptied.clear()
        self._halted.clear()
        self._epoll = select.epoll()
        self._wake = os.pipe()
        self._epoll.register(self._wake[0], select.EPOLLIN)
        for listener in self.sockets:
            listener.setblocking(False)
            self._epoll.register(listener.fileno(), _IN)
        self._workers = [threading.Thread(target=self._work, name=f"webpy-worker-{n}")
                         for n in range(self.threads)]
        self._workers.append(threading.Thread(target=self._sweep, name="webpy-sweeper"))
        for worker in self._workers:
            worker.start()

    # -- the worker threads ----------------------------------------------------------

    def _work(self) -> None:
        """A worker thread: follow until leading, then poll and serve (see `_leadership`)."""
        me, leadership, ready = threading.get_ident(), self._leadership, self._ready
        poll, wake = self._epoll.poll, self._wake[0]
        listeners = {listener.fileno(): listener for listener in self.sockets}
        connections, monotonic = self._connections, time.monotonic
        while leadership.lead(me):
            while leadership.leader == me:
                if self._queue and leadership.idle:
                    self._run_queued()
                    continue
                try:
                    fd, _ = ready.popleft()
                except IndexError:
                    try:
                        # With requests queued for a free thread, look again soon: the
                        # thread that frees up (or starts, for a connection that was
                        # waiting before the server did) does not wake the leader.
                        ready.extend(poll(0.005 if self._queue else -1, 64))
                    except InterruptedError:
                        pass
                    continue
                if fd == wake:
                    leadership.stop()
                    return
                if fd in listeners:
                    self._accept(listeners[fd])
                    continue
                connection = connections.get(fd)
                if connection is not None and connection.claim.acquire(False):
                    leadership.busy_since = monotonic()
                    self._continue(connection)
                    if leadership.leader == me:
                        leadership.busy_since = 0.0
            while self._queue:  # displaced while in a handler: a free thread now
                self._run_queued()

    def _accept(self, listener: socket.socket) -> None:
        try:
            for _ in range(64):
                try:
                    sock, address = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as error:  # e.g. out of file descriptors: back off
                    logger.warning("accept failed: %s", error)
                    break
                self._add(sock, address, listener.fileno() in self._proxied)
        finally:
            if not self._stopping.is_set():
                try:
                    self._epoll.modify(listener.fileno(), _IN)
                except (OSError, ValueError):
                    pass

    def _add(self, sock: socket.socket, address: Any, proxied: bool) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = (address[0], address[1]) if isinstance(address, tuple) else None
        lifecycle = Lifecycle(self.site, client, time.monotonic, tls=self.ssl_context is not None,
                              refuse=len(self._connections) >= self.max_connections,
                              proxy=proxied)
        connection = _Connection(sock, lifecycle)
        connection.claim.acquire()
        self._connections[connection.fd] = connection
        self._epoll.register(connection.fd, 0)
        self._proceed(connection, lifecycle.start())

    def _continue(self, connection: _Connection) -> None:
        """Go on with the action a readiness event was for (the caller holds the claim)."""
        action, sock = connection.lifecycle.action, connection.sock
        try:
            result: Any
            if type(action) is Read:
                result = io.receive(sock)
            elif type(action) is WebSocketRead:  # readable, or woken (EPOLLOUT)
                result = io.receive(sock)
                if result is None:
                    result = WOKEN
            elif type(action) is Peek:
                result = io.peek(sock, action.size)
            elif type(action) is Handshake:
                self._proceed(connection, action)
                return
            elif connection.region is not None:
                result = connection.region.send(sock, connection.output) or None
            else:
                result = io.send(sock, connection.output) or None
            if result is None:
                self._park(connection, _IN if type(action) in (Read, Peek) else _OUT)
                return
            if type(action) in (Write, SendFile):
                connection.region = None
                result = None
            self._proceed(connection, connection.lifecycle.send(result))
        except Exception as error:
            self._drop(connection, error)

    def _proceed(self, connection: _Connection, action: Any) -> None:
        """Perform actions until one must wait for the client, or the connection is done."""
        lifecycle, sock = connection.lifecycle, connection.sock
        timeouts = self.timeouts
        try:
            while action is not None:
                kind = type(action)
                result: Any = None
                if kind is Write:
                    data = action.data
                    if type(data) is bytes:  # usually all of it goes in one call
                        sent = io.send_some(sock, data)
                        connection.output = [] if sent == len(data) else [memoryview(data)[sent:]]
                    else:
                        connection.output = [memoryview(piece) for piece in data]
                    if connection.output and not io.send(sock, connection.output):
                        return self._park(connection, _OUT)
                elif kind is Read:
                    result = None
                    if action is not READ_IDLE or io.has_pending(sock):
                        result = io.receive(sock)
                    if result is None:
                        return self._park(connection, _IN)
                elif kind is Handle:
                    if not self._may_run_handler():
                        return self._enqueue(connection)
                    if action.call.stream_body:  # its reads and 100 Continue block this thread
                        result = run_blocking(
                            lifecycle, action,
                            lambda: io.receive_blocking(sock, timeouts.body_timeout),
                            lambda data: io.send_blocking(sock, data, timeouts.write_timeout))
                    else:
                        result = action.run()
                elif kind is Pull:
                    result = action.next()
                elif kind is Acquire:
                    result = acquire_blocking(action.lock, action.exclusive)
                elif kind is SendFile:
                    connection.region = region = io.FileRegion(action.file, action.offset,
                                                               action.count, sock)
                    connection.output = []
                    if not region.send(sock, connection.output):
                        return self._park(connection, _OUT)
                    connection.region = None
                elif kind is Peek:
                    result = io.peek(sock, action.size)
                    if result is None:
                        return self._park(connection, _IN)
                elif kind is Consume:
                    io.consume(sock, action.count)
                elif kind is Handshake:
                    result = self._handshake(connection)
                    if result is None:
                        return
                elif kind is WebSocketRead:
                    result = io.receive(sock)
                    if result is None:
                        self._park(connection, _IN)
                        wake = functools.partial(self._rouse, connection)
                        if action.park(wake):
                            wake()
                        return
                else:  # ShutdownWrite
                    io.shutdown(sock, socket.SHUT_WR)
                action = lifecycle.send(result)
            self._close(connection)
        except Exception as error:
            self._drop(connection, error)

    def _handshake(self, connection: _Connection) -> bool | None:
        """Go on with the TLS handshake; None if it waits for the client."""
        if not isinstance(connection.sock, ssl.SSLSocket):
            assert self.ssl_context is not None
            connection.sock = self.ssl_context.wrap_socket(
                connection.sock, server_side=True, do_handshake_on_connect=False)
        try:
            connection.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._park(connection, _IN)
            return None
        except ssl.SSLWantWriteError:
            self._park(connection, _OUT)
            return None
        except (ssl.SSLError, OSError) as error:
            logger.debug("TLS handshake with %s failed: %s", connection.lifecycle.client, error)
            return False
        return True

    def _may_run_handler(self) -> bool:
        """Not if this is the last free thread: it must keep polling for everyone else."""
        leadership = self._leadership
        return (self.threads == 1 or leadership.idle > 0
                or leadership.leader != threading.get_ident())

    def _enqueue(self, connection: _Connection) -> None:
        """Wait for a free thread, within the queue's bounds; else 503 now."""
        if len(self._queue) >= self.queue_size:
            self._proceed(connection, connection.lifecycle.send(
                connection.lifecycle.action.refuse()))  # type: ignore[union-attr]
            return
        connection.queued_until = time.monotonic() + self.timeouts.queue_timeout
        self._queue.append(connection)

    def _run_queued(self) -> None:
        try:
            connection = self._queue.popleft()
        except IndexError:
            return
        self._proceed(connection, connection.lifecycle.action)

    def _park(self, connection: _Connection, events: int) -> None:
        """Wait in epoll for the client; a write's stall clock starts (again) from now."""
        if events == _OUT:
            connection.lifecycle.progress()
        connection.claim.release()
        try:
            self._epoll.modify(connection.fd, events)
        except (OSError, ValueError):
            pass  # closed meanwhile by the sweeper or stop()

    def _rouse(self, connection: _Connection) -> None:
        """An open WebSocket's wake-up, from any thread: its parked read becomes ready
        (EPOLLOUT is, at once), and `_continue` resumes it with WOKEN."""
        if not connection.closed:
            try:
                self._epoll.modify(connection.fd, _IN | select.EPOLLOUT)
            except (OSError, ValueError):
                pass  # closed meanwhile

    def _close(self, connection: _Connection) -> None:
        if connection.closed:
            return
        connection.closed = True
        self._connections.pop(connection.fd, None)
        connection.lifecycle.close()
        try:
            self._epoll.unregister(connection.fd)
        except (OSError, ValueError):
            pass
        connection.sock.close()
        if self._stopping.is_set() and not self._connections:
            self._emptied.set()

    def _drop(self, connection: _Connection, error: Exception) -> None:
        log_lost(connection.lifecycle.client, error)
        self._close(connection)

    # -- deadlines -----------------------------------------------------------------------

    def _sweep(self) -> None:
        """Expire parked connections whose deadline passed, and queued requests past theirs."""
        interval = self.timeouts.sweep_interval()
        while not self._halted.wait(interval):
            now = time.monotonic()
            for connection in list(self._queue):
                if connection.queued_until < now:
                    try:
                        self._queue.remove(connection)
                    except ValueError:
                        continue  # a thread took it meanwhile
                    handle = connection.lifecycle.action
                    self._proceed(connection, connection.lifecycle.send(handle.refuse()))  # type: ignore[union-attr]
            for connection in list(self._connections.values()):
                if connection.lifecycle.deadline < now and connection.claim.acquire(False):
                    if connection.closed or connection.lifecycle.deadline >= now:
                        connection.claim.release()
                    else:
                        self._expire(connection, now)

    def _expire(self, connection: _Connection, now: float) -> None:
        """A parked wait passed its deadline (the caller holds the claim)."""
        action = connection.lifecycle.action
        if type(action) in _READS and io.readable_now(connection.fd):
            self._continue(connection)  # the bytes arrived just in time: serve them
        elif type(action) in _READS or type(action) is Handshake:
            self._proceed(connection, connection.lifecycle.send(
                False if type(action) is Handshake else None))
        elif connection.lifecycle.deadline < now:
            self._drop(connection, TimeoutError("client stopped reading"))
        else:
            connection.claim.release()


class _Connection:
    """A client connection, its lifecycle, and what it still has to write."""

    __slots__ = ("claim", "closed", "fd", "lifecycle", "output", "queued_until", "region", "sock")

    def __init__(self, sock: socket.socket, lifecycle: Lifecycle) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.lifecycle = lifecycle
        self.claim = threading.Lock()
        self.output: list[memoryview] = []
        self.region: io.FileRegion | None = None
        self.queued_until = 0.0
        self.closed = False


def _proxied_listeners(sockets: list[socket.socket],
                       proxy_protocol: bool | Collection[socket.socket]) -> frozenset[int]:
    if isinstance(proxy_protocol, bool):
        return frozenset(sock.fileno() for sock in sockets) if proxy_protocol else frozenset()
    chosen = frozenset(sock.fileno() for sock in proxy_protocol)
    if not chosen <= {sock.fileno() for sock in sockets}:
        raise ValueError("proxy_protocol names a socket the server does not listen on")
    return chosen


def serve(address: tuple[str, int], routes: Routes, **options: Any) -> None:
    """Serve `routes` on `address` until interrupted; `options` as for `HTTPServer`."""
    HTTPServer(address, routes, **options).serve_forever()
