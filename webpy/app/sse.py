"""Server-sent events: a `text/event-stream` body a handler returns like any other.

Theory of operation
-------------------
An event stream is a response body that never ends on its own. The server
already streams iterable bodies with chunked framing, one chunk per item,
each written as soon as the iterator yields it; so an `EventStream` is an
iterator of encoded events, and everything about HTTP stays in the layers
below. The response head goes out before the first event is asked for, so a
client sees the headers at once; every event is written as it comes, never
held in a buffer.

The application puts events in with `send` (from any thread: a handler, a
background job, another request); the body iterator takes them out, in
order. When no event comes for `heartbeat` seconds the iterator yields a
comment line instead: proxies keep the connection open, and the server finds
out whether the client is still there, because a write to a closed
connection fails.

How the application learns that the client left: the transport closes the
body iterator when the connection ends (a failed write, a dropped
connection), and
closing it runs the stream's `on_close` callbacks and makes `send` raise
`StreamClosed`. A loop feeding the stream can also check `stream.open`.
Nothing runs on for a reader that left: at the latest one heartbeat (plus
the write that finds the connection reset) after the client goes.

The model on the threaded transport, and its limit: an `EventStream` holds
no worker between events. The transport asks it with `next_ready()`, which
never blocks; when nothing is ready the connection waits in the selector
like an idle one, until the next heartbeat is due or `send` (from any
thread) calls the wake-up it parked with (`park`), and a worker is taken
only to write what is ready. That wait also reads the socket, so a client
that leaves is noticed at once. A plain generator of events cannot say it
has nothing ready, so it holds a worker while it waits: open generator
streams are bounded by `threads - 1`. On the trio transport a stream waits
in a worker thread bounded by `thread_limit`, or write an ``async``
generator of events (see `EventStreamHandler.encode`), which holds no
thread at all.

A graceful server stop ends every `EventStream` at once (`on_server_stop`):
the events already sent go out, then the response ends cleanly and the
client's EventSource reconnects elsewhere. A generator cannot be ended from
another thread; it is closed when the grace period ends.

`Last-Event-ID`, sent by a reconnecting browser, is `last_event_id(request)`
(and `self.last_event_id` in an `EventStreamHandler`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .handler import HTTPHandler
from .request import Request

#: What a heartbeat sends: a comment line, which EventSource ignores.
HEARTBEAT = b": heartbeat\n\n"
#: Headers every event-stream response carries: no caching, no proxy buffering.
STREAM_HEADERS = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)


class StreamClosed(Exception):
    """Raised by `EventStream.send` once the client left or the stream was ended."""


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event; `retry` is the client's reconnection delay in milliseconds.

    `data` may hold newlines (each line becomes a ``data:`` field); `event`
    and `id` may not, since a newline there would start a new field. An `id`
    with NUL is ignored by browsers, so it is refused here too.
    """

    data: str = ""
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    def __post_init__(self) -> None:
        for name in ("event", "id"):
            value = getattr(self, name)
            if value is not None and any(c in value for c in "\r\n\0"):
                raise ValueError(f"an event's {name} must be one line without NUL")
        if self.retry is not None and self.retry < 0:
            raise ValueError("retry must be a non-negative number of milliseconds")

    def encode(self) -> bytes:
        """The event in the `text/event-stream` format, ending with its blank line."""
        lines = []
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        lines.extend(f"data: {line}" for line in self.data.replace("\r\n", "\n")
                     .replace("\r", "\n").split("\n"))
        return ("\n".join(lines) + "\n\n").encode("utf-8")


_END = object()


class _NotReady:
    def __repr__(self) -> str:
        return "NOT_READY"


#: What `EventStream.next_ready` returns when no chunk is ready yet.
NOT_READY: Any = _NotReady()


class EventStream:
    """Events for one client: `send` from anywhere, return the stream as the body.

    `heartbeat` is the longest the stream stays silent (seconds) before it
    sends a comment. `retry`, if given, is sent first and tells the client
    how long to wait before reconnecting (milliseconds). At most
    `max_pending` events wait for a slow client; beyond that `send` raises
    `StreamClosed` and the stream is ended, rather than grow without bound.
    """

    def __init__(self, *, heartbeat: float = 15.0, retry: int | None = None,
                 max_pending: int = 1000) -> None:
        if heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        self.heartbeat = heartbeat
        self.retry = retry
        self._pending: queue.Queue[Any] = queue.Queue(max_pending)
        self._open = True
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._chunks: Generator[bytes, None, None] | None = self._run()
        self._greeted = False
        self._due = time.monotonic() + heartbeat  # of the next heartbeat
        self._wake: Callable[[], None] | None = None

    @property
    def open(self) -> bool:
        """False once the client has left or the stream was ended."""
        return self._open

    def send(self, data: str = "", *, event: str | None = None, id: str | None = None,
             retry: int | None = None) -> None:
        """Queue an event for the client; raises `StreamClosed` if it is gone."""
        self.send_event(Event(data, event, id, retry))

    def send_event(self, event: Event) -> None:
        if not self._open:
            raise StreamClosed("the event stream is closed")
        try:
            self._pending.put_nowait(event.encode())
        except queue.Full:
            self._finish()
            raise StreamClosed("the client is not keeping up; the stream was ended") from None
        self._rouse()

    def end(self) -> None:
        """End the stream after the events already sent: the response finishes."""
        if self._open:
            self._open = False
            try:
                self._pending.put_nowait(_END)
            except queue.Full:
                self._finish()
            self._rouse()

    def on_server_stop(self) -> None:
        """Called by the server when a graceful stop begins: the stream ends cleanly."""
        self.end()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call `callback()` once the stream is over, whoever ended it (at once if it is)."""
        with self._lock:
            if self._chunks is not None:
                self._callbacks.append(callback)
                return
        callback()

    # The response body: the transport iterates and, when it is done, closes.

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._chunks is None:
            raise StopIteration
        return next(self._chunks)

    def close(self) -> None:
        """Called by the transport when the response ends, however it ended."""
        chunks = self._chunks
        if chunks is not None:
            chunks.close()
            self._finish()

    # For a transport that waits for the next event itself, holding no thread.

    def next_ready(self) -> Any:
        """The next chunk without waiting: None at the end, `NOT_READY` if none is due yet."""
        if self._chunks is None:
            return None
        with self._lock:
            self._wake = None  # the wait is over: a late wake-up must not rouse another
        chunk = self._take(block=False)
        if chunk is None:
            self._finish()
        return chunk

    def park(self, wake: Callable[[], None]) -> bool:
        """Call `wake()` (from any thread, once) when a chunk may be ready; True: one is."""
        with self._lock:
            if not self._pending.empty() or self._chunks is None:
                return True
            self._wake = wake
            return False

    @property
    def seconds(self) -> float:
        """How long the transport may wait before the next heartbeat is due."""
        return max(0.0, self._due - time.monotonic())

    def going_away(self) -> bool:
        """A graceful stop: `on_server_stop` ends the stream and wakes it, so no 1001 here."""
        return False

    def _rouse(self) -> None:
        with self._lock:
            wake, self._wake = self._wake, None
        if wake is not None:
            wake()

    def _take(self, *, block: bool) -> Any:
        """The next chunk: the greeting, an event, a heartbeat when one is due, None at the
        end; without `block`, `NOT_READY` rather than wait."""
        if not self._greeted:
            self._greeted = True
            if self.retry is not None:
                return f"retry: {self.retry}\n\n".encode("ascii")
            return b": stream open\n\n"  # the client sees the stream is live at once
        try:
            item = self._pending.get(timeout=self.heartbeat) if block else \
                self._pending.get_nowait()
        except queue.Empty:
            if not block and time.monotonic() < self._due:
                return NOT_READY
            item = HEARTBEAT
        self._due = time.monotonic() + self.heartbeat
        return None if item is _END else item

    def _run(self) -> Generator[bytes, None, None]:
        try:
            while True:
                chunk = self._take(block=True)
                if chunk is None:
                    return
                yield chunk
        finally:
            self._finish()

    def _finish(self) -> None:
        self._open = False
        with self._lock:
            if self._chunks is None:
                return
            self._chunks = None
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


def last_event_id(request: Request) -> str | None:
    """The `Last-Event-ID` a reconnecting client sent, or None."""
    value = request.headers.get("last-event-id")
    return value if value else None


class EventStreamHandler(HTTPHandler):
    """A handler whose `do_get` returns an event stream.

    Return ``(200, stream)`` with an `EventStream`, or with any iterable (or
    async iterable, on trio) of `Event` or str: each item is encoded and sent
    as it comes, and the response gets the event-stream headers. A generator
    learns the client left when it is closed (`GeneratorExit` at its
    ``yield``; its ``finally`` runs).
    """

    @property
    def last_event_id(self) -> str | None:
        return last_event_id(self.request)

    def encode(self, body: Any) -> Any:
        if isinstance(body, EventStream | _EncodedEvents | _AsyncEncodedEvents):
            pass
        elif isinstance(body, AsyncIterable):
            body = _AsyncEncodedEvents(body)
        elif isinstance(body, Iterable) and not isinstance(body, str | bytes):
            body = _EncodedEvents(body)
        else:
            return super().encode(body)
        for name, value in STREAM_HEADERS:
            self.response.headers[name] = value
        return body


def encode_event(item: Event | str | bytes) -> bytes:
    """One item of an event source, encoded: an `Event`, a str (data), or bytes as they are."""
    if isinstance(item, Event):
        return item.encode()
    if isinstance(item, str):
        return Event(item).encode()
    return bytes(item)


class _EncodedEvents:
    """Encodes the items of an event iterable; closing it closes the source."""

    __slots__ = ("_source",)

    def __init__(self, source: Iterable[Any]) -> None:
        self._source = iter(source)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return encode_event(next(self._source))

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


class _AsyncEncodedEvents:
    """Encodes the items of an async event iterable; `aclose` closes the source."""

    __slots__ = ("_source",)

    def __init__(self, source: AsyncIterable[Any]) -> None:
        self._source = aiter(source)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        return encode_event(await anext(self._source))

    async def aclose(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()
