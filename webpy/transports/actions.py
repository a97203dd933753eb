"""What the connection lifecycle asks a transport to do, and what it expects back.

A transport performs one action at a time, in its own way (a non-blocking
socket parked in epoll, a trio stream, a memory buffer), and hands the result
to `Lifecycle.send`. Nothing here does I/O; the small methods on `Handle` and
`Pull` run application code and never raise.

============== ===============================================================
action         result to send back
============== ===============================================================
`Read`         bytes received; ``b""`` if the client closed; None if
               `Lifecycle.deadline` passed first
`Write`        None, once every byte is written (a transport that gives up
               on a stalled client calls `Lifecycle.close` instead)
`SendFile`     None, once `before` (the response head) and then `count`
               bytes of `file` from `offset` are written
`ShutdownWrite` None; the write side is shut (TCP FIN, TLS close_notify)
`Peek`         the first bytes the client sent (at most `size`), still
               unread; ``b""`` at EOF; None past the deadline
`Consume`      None, once `count` bytes (already seen by `Peek`) are read
               and dropped
`Handshake`    True once the TLS handshake is done, False if it failed or
               the deadline passed
`Acquire`      None, once ``lock.acquire(exclusive)`` holds the lock
`Handle`       the `Response` of ``handle.run(...)`` (or ``run_async``), or of
               `Handle.refuse` when no worker is free in time
`Pull`         ``pull.next()`` (or ``await pull.anext()``): bytes, None at
               the end, or `PullFailed`
`WebSocketRead` as `Read`, or `WOKEN` when the wake-up it was parked with
               (`park(wake)`) was called: an open WebSocket has something
               to send (`transports.websocket`)
============== ===============================================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..app import Call, HTTPError, Response, StreamBody


@dataclass(frozen=True, slots=True)
class Read:
    """Read some bytes (up to 64 KiB): `phase` says which timeout applies."""

    phase: str  # "first", "idle", "head", "body" or "drain"


@dataclass(frozen=True, slots=True)
class Write:
    data: bytes | list[bytes]


@dataclass(frozen=True, slots=True)
class SendFile:
    """Write `before`, then `count` bytes of `file` from `offset`.

    The head travels with the file it announces, so that a transport can send
    both in one go (one action, and one TCP segment for a small file).
    """

    file: Any
    offset: int
    count: int
    before: bytes = b""


@dataclass(frozen=True, slots=True)
class ShutdownWrite:
    pass


@dataclass(frozen=True, slots=True)
class Peek:
    """Look at the client's first bytes without consuming them (is this TLS? a PROXY header?)."""

    size: int = 8


@dataclass(frozen=True, slots=True)
class Consume:
    """Read and drop `count` bytes that a `Peek` showed are there (a PROXY header).

    Never more: with TLS, the next byte belongs to the handshake.
    """

    count: int


@dataclass(frozen=True, slots=True)
class Handshake:
    pass


@dataclass(frozen=True, slots=True)
class Acquire:
    lock: Any
    exclusive: bool


@dataclass(frozen=True, slots=True)
class Handle:
    """Run `call`; `body` is the whole request body, or None if the handler streams it."""

    call: Call
    body: bytes | None

    def run(self) -> Response:
        """Run a plain handler in the calling thread (its body stream, if any, is set)."""
        if self.call.is_async:
            return self.call.fail(TypeError("async handlers need the trio transport"))
        return self.call.run(self.body)

    async def run_async(self) -> Response:
        return await self.call.run_async(self.body)

    def refuse(self) -> Response:
        """The 503 for a request that found no free worker within the queue's bounds."""
        return self.call.fail(HTTPError(
            503, "All worker threads are busy.", headers={"Retry-After": "1"}))


@dataclass(frozen=True, slots=True)
class PullFailed:
    """A streamed response body raised instead of giving its next chunk."""

    error: Exception


@dataclass(frozen=True, slots=True)
class Pull:
    body: StreamBody

    @property
    def is_async(self) -> bool:
        return self.body.is_async

    @property
    def may_block(self) -> bool:
        """Whether pulling could block (not a list or tuple iterator): trio uses a thread."""
        return type(self.body.chunks) not in _INLINE_ITERATORS

    def next(self) -> bytes | PullFailed | None:
        """The next chunk of a plain iterator, in the calling thread."""
        if self.body.is_async:
            return PullFailed(TypeError("async response bodies need the trio transport"))
        chunks: Iterator[bytes] = self.body.chunks  # type: ignore[assignment]
        try:
            return next(chunks, None)
        except Exception as error:
            return PullFailed(error)

    def poll(self) -> Any:
        """Like `next`, but a body that can say it has nothing ready yet (``next_ready()``,
        an `app.sse.EventStream`) is not waited on: its `NOT_READY` comes back instead.
        The request cycle then waits in a `WebSocketRead` whose `link` is the body."""
        next_ready = getattr(self.body.chunks, "next_ready", None)
        if next_ready is None:
            return self.next()
        try:
            return next_ready()
        except Exception as error:
            return PullFailed(error)

    async def anext(self) -> bytes | PullFailed | None:
        """The next chunk of an async iterator."""
        chunks: AsyncIterator[bytes] = self.body.chunks  # type: ignore[assignment]
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None
        except Exception as error:
            return PullFailed(error)


@dataclass(frozen=True, slots=True)
class WebSocketRead:
    """An open WebSocket waits for the client: a `Read` that another thread may cut short.

    An event stream waits for its next event with it too (`link` is then the
    `EventStream`; see `Pull.poll`): its bytes, or the end, from the client.

    The deadline is now + `seconds` (the socket's keep-alive policy). A
    transport parks the connection as for an idle `Read`, then calls
    `park(wake)`; if that returns True there is something to send already,
    and it calls `wake()` itself. `wake()` may be called later from any
    thread: the transport then resumes the read with `WOKEN` if it is still
    waiting (a late or spurious wake-up is harmless).
    """

    seconds: float
    link: Any = field(compare=False)  # the socket's `websocket.Link`
    phase = "websocket"

    def park(self, wake: Callable[[], None]) -> bool:
        return self.link.park(wake)  # type: ignore[no-any-return]

    def going_away(self) -> bool:
        """The server is stopping: close with 1001 when the read ends (True the first time)."""
        return self.link.going_away()  # type: ignore[no-any-return]


class _Woken:
    def __repr__(self) -> str:
        return "WOKEN"


#: What a `WebSocketRead` returns when its wake-up was called.
WOKEN = _Woken()

Action = (Read | Write | SendFile | ShutdownWrite | Peek | Consume | Handshake | Acquire | Handle
          | Pull | WebSocketRead)

#: A new connection's first request, not one byte of it yet.
READ_FIRST = Read("first")
READ_IDLE = Read("idle")
READ_HEAD = Read("head")
READ_BODY = Read("body")
READ_DRAIN = Read("drain")
SHUTDOWN_WRITE = ShutdownWrite()
PEEK = Peek()
HANDSHAKE = Handshake()

#: Iterators that cannot block, so may be pulled on an event loop.
_INLINE_ITERATORS: tuple[type, ...] = (type(iter([])), type(iter(())))

