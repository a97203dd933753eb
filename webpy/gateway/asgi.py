"""webpy's routes as an ASGI 3 application, for uvicorn, hypercorn or any ASGI server.

    from webpy.gateway import asgi_app
    app = asgi_app(routes)                # uvicorn mymodule:app

Per ``http`` scope: the scope becomes a `Request` (the path below
``root_path``, so routes match wherever the server mounts the application),
the `Application` routes and vets it, the body arrives through ``receive``
(read whole up to the handler's limit, 413 beyond, or handed to the handler
as a stream), and the `Response` goes out through ``send``: bytes in one
message with a Content-Length, files and iterables piece by piece with
``more_body``. ``async def`` handlers and async bodies run in the event
loop; plain handlers, sync body iterators and file reads run in the loop's
worker threads, so they never block it. Requests on one resource are
ordered as on webpy's own servers; they wait in the event loop, never in a
thread (`_LoopLock`). A client that goes away (``send`` raising
``OSError``, as ASGI 2.4 servers do, or ``http.disconnect``) ends the
response, and its body is closed.

The ``lifespan`` scope runs `on_startup` and `on_shutdown` callables (plain
or ``async def``); a failing one is reported as ``startup.failed`` /
``shutdown.failed`` with its message, which makes the server stop.

Both asyncio servers (uvicorn, hypercorn) and trio ones (hypercorn
``--worker-class trio``) are supported: `_Loop` picks the thread helpers of
the loop that calls.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any

from ..app import (
    Application,
    Call,
    ErrorRoutes,
    FileBody,
    HTTPError,
    Request,
    ResourceLocks,
    Response,
    Routes,
    StreamBody,
)
from ..app.locks import ReadWriteState
from ._exchange import (
    DEFAULT_MAX_BODY_BYTES,
    body_limit,
    close_body,
    file_pieces,
    request_target,
    response_head,
    too_large,
)

__all__ = ["ASGIApp", "ClientDisconnected", "asgi_app"]

logger = logging.getLogger("webpy")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Hook = Callable[[], Any]

#: Iterators that cannot block, so are pulled in the event loop.
_INLINE_ITERATORS: tuple[type, ...] = (type(iter([])), type(iter(())))


def asgi_app(routes: Routes, error_routes: ErrorRoutes | None = None, *,
             max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, on_startup: Iterable[Hook] = (),
             on_shutdown: Iterable[Hook] = ()) -> ASGIApp:
    """An ASGI 3 application serving `routes` (and `error_routes`).

    `max_body_bytes` is the body limit for handlers that set none;
    `on_startup` and `on_shutdown` run at the server's lifespan events.
    """
    return ASGIApp(routes, error_routes, max_body_bytes=max_body_bytes,
                   on_startup=on_startup, on_shutdown=on_shutdown)


class ClientDisconnected(OSError):
    """The client went away before the request body was read."""


class ASGIApp:
    """The ASGI application; see the module docstring."""

    def __init__(self, routes: Routes, error_routes: ErrorRoutes | None = None, *,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, on_startup: Iterable[Hook] = (),
                 on_shutdown: Iterable[Hook] = ()) -> None:
        self.app = Application(routes, error_routes)
        self.max_body_bytes = max_body_bytes
        self.on_startup = list(on_startup)
        self.on_shutdown = list(on_shutdown)
        self.locks: ResourceLocks[_LoopLock] = ResourceLocks(_LoopLock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await _Exchange(self, scope, receive, send, _Loop.current()).run()
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise ValueError(f"webpy's routes do not serve {kind!r} scopes")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        loop = _Loop.current()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                stage, hooks = "startup", self.on_startup
            elif message["type"] == "lifespan.shutdown":
                stage, hooks = "shutdown", self.on_shutdown
            else:
                continue
            try:
                for hook in hooks:
                    if inspect.iscoroutinefunction(hook):
                        await hook()
                    else:
                        await loop.to_thread(hook)
            except Exception as error:
                logger.exception("%s hook failed", stage)
                await send({"type": f"lifespan.{stage}.failed", "message": str(error)})
                return
            await send({"type": f"lifespan.{stage}.complete"})
            if stage == "shutdown":
                return


class _Exchange:
    """One request and its response over ASGI."""

    __slots__ = ("gateway", "loop", "receive", "request", "scope", "send", "_ended")

    def __init__(self, gateway: ASGIApp, scope: Scope, receive: Receive, send: Send,
                 loop: _Loop) -> None:
        self.gateway = gateway
        self.scope = scope
        self.receive = receive
        self.send = send
        self.loop = loop
        self.request = _request(scope)
        self._ended = False  # the request body has been read to its end

    async def run(self) -> None:
        gateway, request = self.gateway, self.request
        begun = gateway.app.begin(request)
        if isinstance(begun, Response):
            await self._respond(begun)
            return
        call = begun
        limit = body_limit(call.max_body_bytes, gateway.max_body_bytes)
        body: bytes | None = None
        try:
            length = request.headers.get("content-length")
            if length is not None and length.isdigit():
                error = too_large(int(length), limit)
                if error is not None:
                    raise error
            if call.stream_body:
                request.stream = _BodyStream(self, limit, call.is_async)
            else:
                body = await self.read_body(limit)
        except HTTPError as error:
            await self._respond(gateway.app.error_response(error, request))
            return
        except ClientDisconnected:
            logger.debug("client of %s %s went away during its body", request.method,
                         request.target)
            return
        resource = call.resource
        if resource is None:
            await self._respond(await self._run(call, body))
            return
        lock = gateway.locks.hold(resource)
        exclusive = call.exclusive
        acquired = False
        try:
            if not lock.try_acquire(exclusive):
                await lock.acquire(exclusive, self.loop)
            acquired = True
            await self._respond(await self._run(call, body))
        finally:
            if acquired:
                lock.release(exclusive)
            gateway.locks.drop(resource)

    async def read_body(self, limit: int) -> bytes:
        pieces, size = [], 0
        while piece := await self.next_piece():
            size += len(piece)
            error = too_large(size, limit)
            if error is not None:
                raise error
            pieces.append(piece)
        return b"".join(pieces)

    async def next_piece(self) -> bytes:
        """The next piece of the request body, b"" at its end."""
        while not self._ended:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected("the client went away during the request body")
            self._ended = not message.get("more_body", False)
            if message.get("body"):
                return bytes(message["body"])
        return b""

    async def _run(self, call: Call, body: bytes | None) -> Response:
        if call.is_async:
            return await call.run_async(body)
        response: Response = await self.loop.to_thread(call.run, body)
        return response

    async def _respond(self, response: Response) -> None:
        send, request = self.send, self.request
        body = response.body
        try:
            status, _, fields, send_body = response_head(response, request.method)
            await send({
                "type": "http.response.start",
                "status": status,
                "headers": [(name.encode("latin-1"), value.encode("latin-1"))
                            for name, value in fields],
            })
            if send_body and type(body) is not bytes:
                await self._send_pieces(body)  # type: ignore[arg-type]
            else:
                await send({"type": "http.response.body",
                            "body": body if send_body and type(body) is bytes else b""})
        except OSError as error:  # the client went away (ASGI 2.4)
            logger.debug("client of %s %s went away: %r", request.method, request.target, error)
        finally:
            if type(body) is StreamBody and body.is_async:
                await _close_async(body)
            else:
                close_body(body)

    async def _send_pieces(self, body: FileBody | StreamBody) -> None:
        send, loop = self.send, self.loop
        if type(body) is FileBody:
            pieces: Iterator[bytes] | AsyncIterator[bytes] = file_pieces(body)
        else:
            pieces = body.chunks  # type: ignore[union-attr]
        inline = type(pieces) in _INLINE_ITERATORS
        while True:
            try:
                if isinstance(pieces, AsyncIterator):
                    chunk = await anext(pieces, None)
                elif inline:
                    chunk = next(pieces, None)
                else:
                    chunk = await loop.to_thread(next, pieces, None)
            except Exception:
                request = self.request
                logger.exception("response body for %s %s failed midway", request.method,
                                 request.target)
                return  # the server sees an unfinished response and ends the connection
            if chunk is None:
                break
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            if chunk:
                await send({"type": "http.response.body", "body": bytes(chunk),
                            "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class _BodyStream:
    """`Request.stream` over ASGI: awaitable reads for async handlers, blocking for plain ones.

    A plain handler runs in a worker thread; its reads wait for the event
    loop's ``receive``. Errors raise `HTTPError` (413 over the limit), so
    the handler's call answers them.
    """

    def __init__(self, exchange: _Exchange, limit: int, is_async: bool) -> None:
        self._exchange = exchange
        self._limit = limit
        self._size = 0
        self._buffer = b""
        self._is_async = is_async

    def read(self, size: int = -1) -> Any:
        if self._is_async:
            return self._read(size)
        return self._exchange.loop.from_thread(self._read, size)

    def __iter__(self) -> Iterator[bytes]:
        while piece := self.read(64 * 1024):
            yield piece

    async def _read(self, size: int) -> bytes:
        if size < 0:
            pieces = [self._buffer]
            self._buffer = b""
            while piece := await self._next():
                pieces.append(piece)
            return b"".join(pieces)
        if not self._buffer:
            self._buffer = await self._next()
        piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return piece

    async def _next(self) -> bytes:
        try:
            piece = await self._exchange.next_piece()
        except ClientDisconnected:
            raise HTTPError(400, "The request body ended early.") from None
        self._size += len(piece)
        error = too_large(self._size, self._limit)
        if error is not None:
            raise error
        return piece


class _LoopLock:
    """A resource's reader/writer lock, waited on in the event loop: no thread per waiter.

    `ReadWriteState` decides (writer preference, as on webpy's servers);
    waiters wait on events of the running loop. Only the loop's thread
    calls it, so it needs no mutex.
    """

    __slots__ = ("_state", "_waiters")

    def __init__(self) -> None:
        self._state = ReadWriteState()
        self._waiters: list[Any] = []

    def try_acquire(self, exclusive: bool) -> bool:
        return self._state.try_take(exclusive)

    async def acquire(self, exclusive: bool, loop: _Loop) -> None:
        state = self._state
        state.enqueue(exclusive)
        try:
            while not state.try_take_queued(exclusive):
                event = loop.event()
                self._waiters.append(event)
                await event.wait()
        except BaseException:
            if state.dequeue(exclusive):
                self._wake()
            raise

    def release(self, exclusive: bool) -> None:
        if self._state.release(exclusive):
            self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()


class _Loop:
    """Thread helpers for the event loop that runs the application: asyncio or trio."""

    __slots__ = ("_asyncio_loop",)

    def __init__(self, asyncio_loop: asyncio.AbstractEventLoop | None) -> None:
        self._asyncio_loop = asyncio_loop

    @classmethod
    def current(cls) -> _Loop:
        try:
            return cls(asyncio.get_running_loop())
        except RuntimeError:
            return cls(None)  # not asyncio: trio

    def event(self) -> Any:
        """A new event of this loop (``set()``, ``await wait()``)."""
        if self._asyncio_loop is not None:
            return asyncio.Event()
        import trio

        return trio.Event()

    async def to_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking `function` in a worker thread and wait for it."""
        if self._asyncio_loop is not None:
            return await asyncio.to_thread(function, *args)
        import trio

        return await trio.to_thread.run_sync(function, *args)

    def from_thread(self, function: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        """From a worker thread, run `function` in the event loop and wait for it."""
        if self._asyncio_loop is not None:
            return asyncio.run_coroutine_threadsafe(function(*args),
                                                    self._asyncio_loop).result()
        import trio

        return trio.from_thread.run(function, *args)


def _request(scope: Scope) -> Request:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path):]
    client = scope.get("client")
    return Request(
        scope["method"],
        request_target(path.encode("utf-8"), scope.get("query_string", b"").decode("latin-1")),
        [(bytes(name), bytes(value)) for name, value in scope.get("headers", ())],
        http_version=scope.get("http_version", "1.1"),
        client=(client[0], client[1]) if client else None,
        scheme="https" if scope.get("scheme") in ("https", "wss") else "http",
    )


async def _close_async(body: StreamBody) -> None:
    aclose = getattr(body.chunks, "aclose", None)
    try:
        if aclose is not None:
            await aclose()
    except Exception:
        logger.exception("closing a response body failed")
