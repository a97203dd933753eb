"""One trio connection: a task that performs its `Lifecycle`'s actions with trio.

Waits on the client (reads, each piece of a write, the TLS handshake) run
under `TimedWait`, a cancel scope that the server's sweeping task cancels
once the lifecycle's deadline has passed: cheaper than a trio deadline per
wait (see `Server._sweep`). ``async def`` handlers and async response bodies
run in the connection's task; plain handlers, blocking iterators and file
reads run in worker threads, since any of them may block and must never
stall the event loop. A plain handler waits for a thread within
`queue_size` and `Timeouts.queue_timeout`, then gets 503; file reads have
threads of their own and never wait behind handlers.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from ..app import HTTPError
from ..app.locks import ReadWriteState
from . import actions
from .lifecycle import AsyncBodyStream, BlockingBodyStream, Lifecycle, log_lost
from .websocket import HookCall

if TYPE_CHECKING:
    from .trio import Server

logger = logging.getLogger("webpy")

RECEIVE_SIZE = 64 * 1024
#: Largest piece handed to one ``send_all``: the stall timeout applies to each.
SEND_PIECE = 256 * 1024
#: How long an abandoned async response body may take to close.
BODY_CLOSE_TIMEOUT = 5.0
_CLIENT_GONE = (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError)
_UNLIMITED = trio.CapacityLimiter(math.inf)

Address = tuple[str, int]


class TrioConnection:
    """One client connection: performs its lifecycle's actions with trio."""

    __slots__ = ("async_body", "lifecycle", "server", "stream", "timeouts")

    def __init__(self, server: Server, stream: trio.abc.Stream, client: Address | None,
                 refuse: bool, proxied: bool) -> None:
        self.server = server
        self.timeouts = server.timeouts
        self.stream = stream
        self.lifecycle = Lifecycle(server.site, client, trio.current_time,
                                   tls=server.ssl_context is not None, refuse=refuse,
                                   proxy=proxied, server=stream_address(stream, local=True))
        #: An async response body being sent, to close if the connection ends first.
        self.async_body: Any = None

    async def run(self) -> None:
        lifecycle = self.lifecycle
        try:
            action: Any = lifecycle.start()
            while action is not None:
                kind = type(action)
                result: Any = None
                if kind is actions.Read:
                    result = await self._read(action)
                elif kind is actions.Write:
                    await self._write(action.data)
                elif kind is actions.Handle:
                    result = await self._handle(action)
                elif kind is actions.Pull:
                    result = await self._pull(action)
                elif kind is actions.Acquire:
                    result = await _acquire(action.lock, action.exclusive)
                elif kind is actions.SendFile:
                    await self._send_file(action)
                elif kind is actions.ShutdownWrite:
                    if isinstance(self.stream, trio.abc.HalfCloseableStream):
                        await self.stream.send_eof()
                elif kind is actions.Peek:
                    result = await self._peek(action.size)
                elif kind is actions.Consume:
                    await self._consume(action.count)
                elif kind is actions.Handshake:
                    result = await self._handshake()
                elif kind is actions.WebSocketRead:
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

    def _wait(self) -> TimedWait:
        return TimedWait(self.server, self.lifecycle)

    async def _read(self, read: actions.Read | actions.WebSocketRead) -> bytes | None:
        with self._wait():
            try:
                return bytes(await self.stream.receive_some(RECEIVE_SIZE))
            except trio.BrokenResourceError:
                if read is actions.READ_DRAIN:
                    return b""
                raise
        if _readable_now(self.stream):  # the bytes arrived just in time: serve them
            return bytes(await self.stream.receive_some(RECEIVE_SIZE))
        return None

    async def _read_websocket(self, read: actions.WebSocketRead) -> Any:
        """A `actions.Read` that a wake-up from any thread ends early, with actions.WOKEN."""
        token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as woken:

            def wake() -> None:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(woken.cancel)

            if read.park(wake):
                return actions.WOKEN
            return await self._read(read)
        return actions.WOKEN

    async def _perform(self, action: actions.Action) -> Any:
        """A read or write an ``async def`` WebSocket hook performs inside its `Handle`
        (``await ws.receive()``), under the deadline the lifecycle gives it."""
        lifecycle = self.lifecycle
        handle = lifecycle.enter(action)
        assert handle is not None
        try:
            if type(action) is actions.Write:
                await self._write(action.data)
                return None
            assert type(action) is actions.WebSocketRead
            return await self._read_websocket(action)
        finally:
            lifecycle.enter(handle)

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

    async def _send_file(self, action: actions.SendFile) -> None:
        """The head, then the file in pieces, the head joined to the first piece.

        A piece the page cache holds is read at once; only one that may wait
        for the disk goes to a worker thread.
        """
        offset, remaining, head = action.offset, action.count, action.before
        while remaining > 0:
            size = min(remaining, SEND_PIECE)
            piece = _read_cached(action.file, offset, size)
            if piece is None:
                piece = await trio.to_thread.run_sync(
                    _read_region, action.file, offset, size, limiter=self.server.file_threads)
            if not piece:
                raise OSError("file shorter than expected")
            await self._write(head + piece if head else piece)
            head = b""
            offset += len(piece)
            remaining -= len(piece)
        if head:
            await self._write(head)

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

    async def _handle(self, action: actions.Handle) -> Any:
        call = action.call
        reader = self.lifecycle.driver.body_reader(call) if call.stream_body else None
        if call.is_async:
            if type(call) is HookCall:
                call.perform = self._perform
            if reader is not None:
                call.request.stream = AsyncBodyStream(reader, self._receive_body, self._interim,
                                                      self._watch_for_disconnect)
            return await action.run_async()
        if reader is not None:
            call.request.stream = BlockingBodyStream(
                reader, lambda: trio.from_thread.run(self._receive_body),
                lambda data: trio.from_thread.run(self._interim, data))
        threads = self.server.threads
        waiting = threads.statistics().tasks_waiting
        if waiting >= self.server.queue_size:
            return action.refuse()
        if not threads.available_tokens:
            logger.debug("no free thread for %s: request queued (%d waiting)",
                         self.lifecycle.client, waiting + 1)
        with trio.move_on_after(self.timeouts.queue_timeout):
            await threads.acquire()
            try:
                return await trio.to_thread.run_sync(action.run, limiter=_UNLIMITED)
            finally:
                threads.release()
        return action.refuse()

    async def _pull(self, pull: actions.Pull) -> Any:
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


class TimedWait:
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
            server.idle_waits[scope] = lifecycle
        server.waits[scope] = lifecycle.deadline
        return scope.__enter__()

    def __exit__(self, *exc_info: Any) -> bool:
        server, scope = self._server, self._scope
        del server.waits[scope]
        server.idle_waits.pop(scope, None)
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


def stream_address(stream: trio.abc.Stream, *, local: bool = False) -> tuple[str, int] | None:
    """The client's (host, port), or with `local` the one it connected to; None for a
    unix socket or a memory stream."""
    sock = getattr(stream, "socket", None)
    try:
        name = (sock.getsockname() if local else sock.getpeername()) if sock else None
    except OSError:
        return None
    return (name[0], name[1]) if isinstance(name, tuple) else None


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


def _read_cached(file: Any, offset: int, size: int) -> bytes | None:
    """What the page cache holds of `size` bytes of `file` at `offset`, read without ever
    blocking on the disk (``RWF_NOWAIT``); None if nothing, or where that is not possible."""
    if _NOWAIT is None:
        return None
    buffer = bytearray(size)
    try:
        count = os.preadv(file.fileno(), [buffer], offset, _NOWAIT)
    except (AttributeError, OSError, ValueError):  # not cached (EAGAIN), or not a plain file
        return None
    return bytes(memoryview(buffer)[:count]) if count else None


#: Linux's flag for a read that fails rather than waits for the disk.
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None) if hasattr(os, "preadv") else None


def _read_region(file: Any, offset: int, size: int) -> bytes:
    """Up to `size` bytes of `file` at `offset` (in a worker thread)."""
    try:
        fileno = file.fileno()
    except (AttributeError, OSError, ValueError):
        file.seek(offset)
        return file.read(size)  # type: ignore[no-any-return]
    return os.pread(fileno, size, offset)


def _readable_now(stream: trio.abc.Stream) -> bool:
    """Whether bytes (or EOF) wait on the stream's socket, without reading or blocking."""
    sock = getattr(getattr(stream, "transport_stream", stream), "socket", None)
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))
