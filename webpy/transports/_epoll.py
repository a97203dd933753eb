"""The threaded transport's event loop: one epoll set served by a pool of threads.

Theory of operation
-------------------
Every connection, the listening sockets included, sits in one epoll set in
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

Everything HTTP, and every decision about a connection, is below this module:
here is only which thread performs which action, and when.
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
from typing import Any

from ..app.locks import acquire_blocking
from . import _sockets as io
from ._leadership import Leadership
from .actions import (
    READ_FIRST,
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

logger = logging.getLogger("webpy")

_IN = select.EPOLLIN | select.EPOLLONESHOT
_OUT = select.EPOLLOUT | select.EPOLLONESHOT
#: Waits for the client's bytes, which a last look may find already there.
_READS = (Read, Peek, WebSocketRead)


class EpollLoop:
    """The connections of one server process and the threads that serve them.

    `listeners` are listening sockets; those whose descriptor is in `proxied`
    expect a PROXY protocol header first.
    """

    def __init__(self, site: Site, listeners: list[socket.socket], *, threads: int,
                 queue_size: int, max_connections: int, ssl_context: ssl.SSLContext | None,
                 proxied: frozenset[int]) -> None:
        self.site, self.timeouts = site, site.timeouts
        self.listeners = listeners
        self.threads, self.queue_size, self.max_connections = threads, queue_size, max_connections
        self.ssl_context = ssl_context
        self._proxied = proxied
        self._connections: dict[int, _Connection] = {}
        self._ready: collections.deque[tuple[int, int]] = collections.deque()
        self._queue: collections.deque[_Connection] = collections.deque()
        self._leadership = Leadership()
        #: Set once a stop has waited for the last connections: the sweeper ends then, not before.
        self._halted = threading.Event()
        self._stopping, self._emptied = threading.Event(), threading.Event()
        #: Held while accepting: once a stop has closed the listeners under it, every
        #: connection ever accepted is in `_connections`, for the stop to finish.
        self._accepting = threading.Lock()
        self._epoll = select.epoll()
        self._wake = os.pipe()
        self._epoll.register(self._wake[0], select.EPOLLIN)
        for listener in listeners:
            listener.setblocking(False)
            self._epoll.register(listener.fileno(), _IN)
        self._workers = [threading.Thread(target=self._work, name=f"webpy-worker-{n}")
                         for n in range(threads)]
        self._workers.append(threading.Thread(target=self._sweep, name="webpy-sweeper"))
        for worker in self._workers:
            worker.start()

    def stop(self, timeout: float) -> None:
        """Close the listeners, serve the requests in flight for up to `timeout` seconds, close all.

        Idle connections close at once, after a last look for a request already received.
        """
        deadline = time.monotonic() + timeout
        self._stopping.set()
        with self._accepting:
            for listener in self.listeners:
                try:
                    self._epoll.unregister(listener.fileno())
                except (OSError, ValueError):
                    pass
                listener.close()
        for connection in list(self._connections.values()):
            if connection.claim.acquire(False):
                if connection.lifecycle.expire_if_idle():
                    self._expire(connection, time.monotonic())
                else:  # at work: it finishes, or meets its own deadline
                    connection.claim.release()
        if self._connections:  # the loop and the sweeper serve them meanwhile
            self._emptied.wait(max(deadline - time.monotonic(), 0))
        self._halted.set()
        os.write(self._wake[1], b"x")
        self._leadership.stop()
        for worker in self._workers:
            worker.join(max(deadline - time.monotonic(), 0))
        for connection in list(self._connections.values()):
            io.shutdown(connection.sock)  # unblock a thread still inside a request
        last = time.monotonic() + 1.0  # one more second for them all, not one each
        for worker in self._workers:
            worker.join(max(last - time.monotonic(), 0))
        for connection in list(self._connections.values()):
            connection.sock.close()
        self._connections.clear()
        self._epoll.close()
        for fd in self._wake:
            os.close(fd)

    def _work(self) -> None:
        """A worker thread: follow until leading, then poll and serve (see `_leadership`)."""
        me, leadership, ready = threading.get_ident(), self._leadership, self._ready
        poll, wake = self._epoll.poll, self._wake[0]
        listeners = {listener.fileno(): listener for listener in self.listeners}
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
        with self._accepting:
            if self._stopping.is_set():
                return
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
                              proxy=proxied, server=io.local_address(sock))
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
                    if ((action is not READ_IDLE and action is not READ_FIRST)
                            or io.has_pending(sock)):
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
                    result = action.poll()  # an event stream between events: NOT_READY
                elif kind is Acquire:
                    result = acquire_blocking(action.lock, action.exclusive)
                elif kind is SendFile:
                    connection.region = region = io.FileRegion(action.file, action.offset,
                                                               action.count, sock)
                    connection.output = [memoryview(action.before)] if action.before else []
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
        logger.debug("no free thread for %s: request queued (%d waiting)",
                     connection.lifecycle.client, len(self._queue))

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
