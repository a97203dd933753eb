"""The production server: one epoll set, a fixed pool of threads, plain sockets or TLS.

Theory of operation
-------------------
Every connection, the listening socket included, sits in one epoll set in
one-shot mode. One worker thread at a time, the leader, polls that set and
serves what is ready, one connection after another, as a single-threaded
event loop would: it reads, runs the request cycle (`ConnectionDriver`)
through the handler and the response, and when the driver next wants bytes
that have not arrived, re-arms the connection and moves on. If a handler
blocks, an idle thread takes over as leader (`_leadership`). So:

- idle keep-alive connections and half-sent heads hold no thread, only a
  file descriptor and a few objects, whatever their number;
- a request is handled by the thread that read it: no queue, no hand-off,
  and no contention for the interpreter lock while handlers are quick;
- a connection is owned by at most one thread at a time (the one-shot event,
  plus `claim`, a lock also taken by the sweeper that enforces timeouts);
- the last free thread keeps the server responsive: it answers 503 rather
  than run a handler that might leave nobody to poll.

A sweeper thread wakes a few times a second to expire connections whose
deadline passed while parked (idle: closed silently; slow head: 408; draining:
closed). A connection beyond `max_connections` gets a 503 and is closed at
once. Sockets are non-blocking; a thread that must wait inside a request
(writing to a slow reader, a handler streaming its upload) polls that one
socket with the relevant timeout.

Everything HTTP is below this module; here is only moving bytes.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import signal
import socket
import ssl
import threading
import time
from dataclasses import replace
from types import FrameType, TracebackType
from typing import Any

from ..app import Application, ErrorRoutes, HTTPError, ReadWriteLock, Routes
from ..protocol import Limits
from ._leadership import Leadership
from .driver import (
    READ_IDLE,
    Acquire,
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
    run_call,
)

logger = logging.getLogger("webpy")

RECEIVE_SIZE = 64 * 1024
_ONESHOT_IN = select.EPOLLIN | select.EPOLLONESHOT
_ONESHOT_OUT = select.EPOLLOUT | select.EPOLLONESHOT
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

_HANDSHAKE, _OPEN, _DRAINING = range(3)


class HTTPServer:
    """Serve `routes` on `address` with a pool of `threads`.

    `address` is ``(host, port)``; port 0 picks a free port (see
    `server_address`). TLS is on when `certfile` (and `keyfile`, unless the
    certificate file holds the key) or an `ssl_context` is given. Limits and
    timeouts are `limits`, or `Limits` fields passed as keywords (for example
    ``head_timeout=5``). `max_connections` bounds open connections; beyond
    it a client gets 503. `processes > 1` forks that many worker processes
    sharing the listening socket.

    The socket is bound here, so the port is known before `start()`.
    """

    def __init__(
        self,
        address: tuple[str, int],
        routes: Routes,
        error_routes: ErrorRoutes | None = None,
        *,
        keyfile: str | None = None,
        certfile: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        threads: int = 8,
        max_connections: int = 10_000,
        backlog: int = 1024,
        processes: int = 1,
        limits: Limits | None = None,
        **limit_options: Any,
    ) -> None:
        self.app = Application(routes, error_routes)
        self.limits = replace(limits or Limits(), **limit_options)
        self.site = Site(self.app, self.limits, ReadWriteLock)
        if ssl_context is None and certfile is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(certfile, keyfile)
        self.ssl_context = ssl_context
        self.threads = threads
        self.max_connections = max_connections
        self.processes = processes
        self.socket = _listen(address, backlog)
        self._address: tuple[str, int] = self.socket.getsockname()[:2]
        self._scheme = "https" if ssl_context else "http"
        self._epoll: Any = None
        self._connections: dict[int, _Connection] = {}
        self._workers: list[threading.Thread] = []
        self._leadership = Leadership()
        #: Readiness events polled but not yet served, oldest first.
        self._ready: collections.deque[tuple[int, int]] = collections.deque()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._lifecycle = threading.Lock()
        self._running = False
        self._blocking = False
        self._wake_read, self._wake_write = -1, -1
        self._previous_handlers: dict[int, Any] = {}
        self._children: Any = None

    @property
    def server_address(self) -> tuple[str, int]:
        """The bound (host, port), with the real port if 0 was asked for."""
        return self._address

    @property
    def url(self) -> str:
        host, port = self.server_address
        if ":" in host:
            host = f"[{host}]"
        return f"{self._scheme}://{host}:{port}/"

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Serve in background threads and return; the process serves until `stop()`.

        Called from the main thread with default signal handling, Ctrl-C and
        SIGTERM stop the server cleanly.
        """
        with self._lifecycle:
            if self._running:
                raise RuntimeError("server already started")
            self._install_signal_handlers()
            self._stopped.clear()
            self._stopping.clear()
            if self.processes > 1:
                from .processes import WorkerProcesses

                self._children = WorkerProcesses(self, self.processes)
                self._children.start()
            else:
                self._start_threads()
            self._running = True

    def serve_forever(self) -> None:
        """Serve until `stop()` is called (from another thread or a signal)."""
        self._blocking = True
        try:
            if not self._running:
                self.start()
            while not self._stopped.wait(1.0):
                pass
        except KeyboardInterrupt:
            self.stop()
        finally:
            self._blocking = False

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish for up to `timeout` seconds, close all."""
        with self._lifecycle:
            if self._running:
                self._stop(timeout)
                self._running = False
            self._stopped.set()

    def _stop(self, timeout: float) -> None:
        self._stopping.set()
        self._restore_signal_handlers()
        if self._children is not None:
            self._children.stop(timeout)
            self._children = None
            self.socket.close()
            return
        deadline = time.monotonic() + timeout
        try:
            self._epoll.unregister(self.socket.fileno())
        except (OSError, ValueError):
            pass
        self.socket.close()
        self._close_parked()
        os.write(self._wake_write, b"x")
        self._leadership.stop()
        for worker in self._workers:
            worker.join(max(deadline - time.monotonic(), 0))
        for connection in list(self._connections.values()):
            _shutdown(connection.sock)  # unblock a thread still inside a request
        for worker in self._workers:
            worker.join(1.0)
        for connection in list(self._connections.values()):
            connection.sock.close()
        self._connections.clear()
        self._epoll.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
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
        self.socket.setblocking(False)
        self._epoll = select.epoll()
        self._wake_read, self._wake_write = os.pipe()
        self._epoll.register(self._wake_read, select.EPOLLIN)
        self._epoll.register(self.socket.fileno(), _ONESHOT_IN)
        self._workers = [
            threading.Thread(target=self._work, name=f"webpy-worker-{n}")
            for n in range(self.threads)
        ]
        self._workers.append(threading.Thread(target=self._sweep, name="webpy-sweeper"))
        for worker in self._workers:
            worker.start()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, default in ((signal.SIGINT, signal.default_int_handler),
                                (signal.SIGTERM, signal.SIG_DFL)):
            if signal.getsignal(signum) is default:
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._previous_handlers.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, handler)
        self._previous_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=self.stop, name="webpy-stop").start()
        if signum == signal.SIGINT and not self._blocking and threading.main_thread().is_alive():
            raise KeyboardInterrupt  # the main program is still running: let it know

    # -- the worker threads ----------------------------------------------------

    def _work(self) -> None:
        """A worker thread: follow until leading, then poll and serve (see `_leadership`)."""
        me = threading.get_ident()
        leadership = self._leadership
        ready = self._ready
        poll = self._epoll.poll
        listener = self.socket.fileno()
        wake = self._wake_read
        connections = self._connections
        monotonic = time.monotonic
        while leadership.lead(me):
            while leadership.leader == me:
                try:
                    fd, mask = ready.popleft()
                except IndexError:
                    try:
                        ready.extend(poll(-1, 64))
                    except InterruptedError:
                        pass
                    continue
                if fd == wake:
                    leadership.stop()
                    return
                if fd == listener:
                    self._accept()
                    continue
                connection = connections.get(fd)
                if connection is not None and connection.claim.acquire(False):
                    leadership.busy_since = monotonic()
                    self._serve(connection, mask)
                    if leadership.leader == me:
                        leadership.busy_since = 0.0

    def _accept(self) -> None:
        try:
            for _ in range(64):
                try:
                    sock, address = self.socket.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as error:  # e.g. out of file descriptors: back off
                    logger.warning("accept failed: %s", error)
                    break
                self._add(sock, address)
        finally:
            if not self._stopping.is_set():
                try:
                    self._epoll.modify(self.socket.fileno(), _ONESHOT_IN)
                except (OSError, ValueError):
                    pass

    def _add(self, sock: socket.socket, address: Any) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if len(self._connections) >= self.max_connections:
            if self.ssl_context is None:
                try:
                    sock.send(overload_response(self.site))
                except OSError:
                    pass
            sock.close()
            return
        client = (address[0], address[1]) if isinstance(address, tuple) else None
        state = _OPEN
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
            state = _HANDSHAKE
        connection = _Connection(sock, ConnectionDriver(self.site, client, self._scheme),
                                 self.limits, state)
        connection.claim.acquire()
        self._connections[connection.fd] = connection
        self._epoll.register(connection.fd, 0)
        self._park(connection, connection.waiting)

    def _serve(self, connection: _Connection, mask: int) -> None:
        """Continue a connection its epoll event woke (the caller holds its claim)."""
        try:
            if connection.state == _HANDSHAKE and not self._handshake(connection):
                return
            if connection.state == _DRAINING:
                self._drain(connection)
                return
            data = _receive(connection.sock)
            if data is None:
                self._park(connection, connection.waiting)
                return
            self._proceed(connection, data)
        except Exception as error:
            self._drop(connection, error)

    def _proceed(self, connection: _Connection, result: Any) -> None:
        """Run the driver's actions until it waits for the client or finishes."""
        steps = connection.steps
        sock = connection.sock
        try:
            action = steps.send(result)
            while True:
                if isinstance(action, Write):
                    _send_all(sock, action.data, self.limits.write_timeout)
                    result = None
                elif isinstance(action, Read):
                    result = None
                    if action is not READ_IDLE or _has_pending(sock):
                        result = _receive(sock)
                    if result is None:
                        self._park(connection, action)
                        return
                elif isinstance(action, Acquire):
                    action.lock.acquire(action.exclusive)
                    result = None
                elif isinstance(action, Handle) and self._pool_exhausted():
                    result = action.call.fail(HTTPError(
                        503, "All worker threads are busy.", headers={"Retry-After": "1"}))
                elif isinstance(action, Handle):
                    result = run_call(
                        connection.driver, action,
                        lambda: _receive_blocking(sock, self.limits.body_timeout),
                        lambda data: _send_all(sock, data, self.limits.write_timeout),
                    )
                elif isinstance(action, SendFile):
                    _send_file(sock, action, self.limits.write_timeout)
                    result = None
                elif isinstance(action, Pull):
                    try:
                        result = next_chunk(action.body)
                    except Exception as error:
                        action = steps.throw(error)
                        continue
                elif isinstance(action, Drain):
                    self._start_drain(connection)
                    return
                action = steps.send(result)
        except StopIteration:
            self._close(connection)

    def _pool_exhausted(self) -> bool:
        """Whether running a handler here could leave no thread to serve anyone else.

        The last free thread keeps the server responsive instead: it still
        accepts and reads, but answers requests with 503 until a thread frees up.
        """
        leadership = self._leadership
        return (self.threads > 1 and not leadership.idle
                and leadership.leader == threading.get_ident())

    def _park(self, connection: _Connection, read: Read) -> None:
        """Wait in epoll for the client's next bytes, with the read's deadline."""
        if self._stopping.is_set() and read is READ_IDLE:
            self._close(connection)
            return
        connection.waiting = read
        connection.deadline = connection.deadlines.for_read(read, time.monotonic())
        self._rearm(connection, _ONESHOT_IN)

    def _rearm(self, connection: _Connection, events: int) -> None:
        connection.claim.release()
        try:
            self._epoll.modify(connection.fd, events)
        except (OSError, ValueError):
            pass  # closed meanwhile by the sweeper or stop()

    def _handshake(self, connection: _Connection) -> bool:
        try:
            connection.sock.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            self._rearm(connection, _ONESHOT_IN)
            return False
        except ssl.SSLWantWriteError:
            self._rearm(connection, _ONESHOT_OUT)
            return False
        except (ssl.SSLError, OSError) as error:
            logger.debug("TLS handshake with %s failed: %s", connection.driver.client, error)
            self._close(connection)
            return False
        connection.state = _OPEN
        return True

    def _start_drain(self, connection: _Connection) -> None:
        """Stop writing and discard what the client still sends, so it reads our error."""
        _shutdown(connection.sock, socket.SHUT_WR)
        connection.state = _DRAINING
        connection.drained = 0
        connection.deadline = time.monotonic() + self.limits.drain_timeout
        self._rearm(connection, _ONESHOT_IN)

    def _drain(self, connection: _Connection) -> None:
        while True:
            data = _receive(connection.sock)
            if data is None:
                self._rearm(connection, _ONESHOT_IN)
                return
            connection.drained += len(data)
            if not data or connection.drained > self.limits.drain_bytes:
                self._close(connection)
                return

    def _close(self, connection: _Connection) -> None:
        if connection.closed:
            return
        connection.closed = True
        self._connections.pop(connection.fd, None)
        connection.steps.close()
        try:
            self._epoll.unregister(connection.fd)
        except (OSError, ValueError):
            pass
        connection.sock.close()

    def _drop(self, connection: _Connection, error: Exception) -> None:
        if isinstance(error, OSError):
            logger.debug("connection from %s lost: %r", connection.driver.client, error)
        else:
            logger.error("internal error serving %s", connection.driver.client, exc_info=error)
        self._close(connection)

    def _close_parked(self) -> None:
        for connection in list(self._connections.values()):
            if connection.claim.acquire(False):
                if connection.state == _DRAINING or connection.waiting is READ_IDLE:
                    self._close(connection)
                else:
                    connection.claim.release()

    # -- timeouts ------------------------------------------------------------------

    def _sweep(self) -> None:
        limits = self.limits
        shortest = min(limits.head_timeout, limits.keepalive_timeout, limits.body_timeout,
                       limits.drain_timeout)
        interval = max(0.02, min(0.5, shortest / 4))
        while not self._stopping.wait(interval):
            now = time.monotonic()
            for connection in list(self._connections.values()):
                if connection.deadline < now and connection.claim.acquire(False):
                    if connection.closed or connection.deadline >= now:
                        connection.claim.release()
                        continue
                    try:
                        self._expire(connection)
                    except Exception as error:
                        self._drop(connection, error)

    def _expire(self, connection: _Connection) -> None:
        if connection.state != _OPEN:
            self._close(connection)
        else:
            self._proceed(connection, None)  # the driver answers 408 or closes


class _Connection:
    """A client connection and its place in the request cycle."""

    __slots__ = ("sock", "fd", "driver", "steps", "waiting", "deadline", "deadlines", "claim",
                 "state", "drained", "closed")

    def __init__(self, sock: socket.socket, driver: ConnectionDriver, limits: Limits,
                 state: int) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.driver = driver
        self.steps = driver.run()
        self.waiting: Read = next(self.steps)  # type: ignore[assignment]
        self.deadlines = HeadDeadline(limits)
        self.deadline = 0.0
        self.claim = threading.Lock()
        self.state = state
        self.drained = 0
        self.closed = False


# -- socket helpers (non-blocking sockets throughout) ----------------------------


def _listen(address: tuple[str, int], backlog: int) -> socket.socket:
    host, port = address
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                flags=socket.AI_PASSIVE)[0][0]
    return socket.create_server((host, port), family=family, backlog=backlog)


def _receive(sock: socket.socket) -> bytes | None:
    """Bytes if any are ready (``b""`` at EOF), None if none yet."""
    try:
        return sock.recv(RECEIVE_SIZE)
    except _WOULD_BLOCK:
        return None
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
        return b""


def _has_pending(sock: socket.socket) -> bool:
    # TLS may hold decrypted bytes that epoll cannot see.
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _wait(sock: socket.socket, events: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock.fileno(), events)
    return bool(poller.poll(timeout * 1000))


def _receive_blocking(sock: socket.socket, timeout: float) -> bytes | None:
    """Wait up to `timeout` for bytes; None if none came."""
    while True:
        data = _receive(sock)
        if data is not None:
            return data
        if not _wait(sock, select.POLLIN, timeout):
            return None


def _send_all(sock: socket.socket, data: bytes | list[bytes], timeout: float) -> None:
    """Write everything; raises TimeoutError if the client stops reading for `timeout`."""
    if isinstance(data, list):
        if isinstance(sock, ssl.SSLSocket) or len(data) == 1:
            data = b"".join(data)
        else:
            _send_buffers(sock, data, timeout)
            return
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view):]
        except _WOULD_BLOCK:
            if not _wait(sock, select.POLLOUT, timeout):
                raise TimeoutError("client stopped reading") from None


def _send_buffers(sock: socket.socket, buffers: list[bytes], timeout: float) -> None:
    views = [memoryview(buffer) for buffer in buffers if buffer]
    while views:
        try:
            sent = sock.sendmsg(views)
        except BlockingIOError:
            if not _wait(sock, select.POLLOUT, timeout):
                raise TimeoutError("client stopped reading") from None
            continue
        while sent:
            if sent >= len(views[0]):
                sent -= len(views.pop(0))
            else:
                views[0] = views[0][sent:]
                sent = 0


def _send_file(sock: socket.socket, action: SendFile, timeout: float) -> None:
    """Send a file region with `sendfile` (zero copy) or, under TLS, by reading it."""
    offset, remaining = action.offset, action.count
    try:
        fileno = action.file.fileno()
    except (AttributeError, OSError, ValueError):
        fileno = -1
    if fileno >= 0 and not isinstance(sock, ssl.SSLSocket):
        while remaining > 0:
            try:
                sent = os.sendfile(sock.fileno(), fileno, offset, remaining)
            except BlockingIOError:
                if not _wait(sock, select.POLLOUT, timeout):
                    raise TimeoutError("client stopped reading") from None
                continue
            if sent == 0:
                raise OSError("file shorter than expected")
            offset += sent
            remaining -= sent
        return
    action.file.seek(offset)
    while remaining > 0:
        piece = action.file.read(min(remaining, RECEIVE_SIZE * 4))
        if not piece:
            raise OSError("file shorter than expected")
        _send_all(sock, piece, timeout)
        remaining -= len(piece)


def _shutdown(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass


def serve(address: tuple[str, int], routes: Routes, **options: Any) -> None:
    """Serve `routes` on `address` until interrupted; `options` as for `HTTPServer`."""
    HTTPServer(address, routes, **options).serve_forever()

