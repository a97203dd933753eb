"""Host an ASGI 3 application (``http``, ``websocket`` and ``lifespan`` scopes) on webpy's
async transport.

    routes = asgi.mount("/api", app)                 # or "/" for the whole site
    async with asgi.Lifespan(app) as lifespan:
        await serve(asgi.mount("/", app, lifespan=lifespan), "127.0.0.1", 8000)

Theory of operation
-------------------
A mounted application is an ``async def`` handler (`ASGIHandler`) that
answers every method under its prefix. It builds the ``http`` scope from the
`Request` (``root_path`` is the mount prefix; ``path`` and ``raw_path`` are
the whole path, as uvicorn and Starlette expect) and runs the application,
with ``receive`` reading the body from the transport's stream as the
application asks (``more_body`` while it lasts; the transport's body limit,
100-continue and timeouts apply).

The application runs *in the connection's own task*, stepped by `AppRun`:
a coroutine trampoline that passes every event-loop trap the application
yields up to the loop unchanged (so it is trio's own scheduling, cancel
scopes and nurseries throughout) and stops only where the application
awaits ``send``. That is how one task both runs the application and lets
the driver send its response, with no event-loop import here (this layer
knows no loop): the handler steps the application until it has sent
``http.response.start`` and its first body message, returns status,
headers and a body whose every pull steps it again to its next
``http.response.body``. After the last body message, the next pull runs the
application to its end (background tasks run after the client has the
whole of a response with a length). A HEAD response runs it to its end
first if its body is complete, else abandons it (the body is never sent).

The spec's rules, enforced in `_ResponseState`: ``http.response.start``
exactly once and first, then ``http.response.body`` until ``more_body`` is
false, nothing after; a breach raises `RuntimeError` in the application.
Scopes carry ``spec_version`` 2.4: once the client has gone, the pending
``send`` raises `ClientDisconnected` (an `OSError`), later ones too, and
``receive`` returns ``http.disconnect``. A request body the server refuses
(too large, too slow, malformed) ends ``receive`` with ``http.disconnect``
and is answered with its status, whatever the application answers.

What stepping in one task cannot do, and the transport hook that lifts it:

- ``send`` must be awaited by the task that runs the application (not by a
  child task of a nursery it opened); otherwise `RuntimeError`.
- ``receive`` after the body has ended waits for the client to disconnect.
  It awaits the stream's ``wait_disconnected()`` if the transport provides
  it; without it, the application is parked until its response is over and
  then told ``http.disconnect``; parked before it has responded, it gets a
  500, since nothing could wake it.

`Lifespan` steps the ``lifespan`` scope the same way around whatever the
caller serves: start-up before, shut-down after; a ``*.failed`` message
raises `LifespanFailure` with the application's message, and an
application that raises on the scope before any message does not support
lifespan, which is allowed.
"""

from __future__ import annotations

import logging
import re
import types
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterable
from typing import Any, ClassVar, cast

from .errors import HTTPError
from .headers import Headers
from .response import StreamBody
from .websocket import WebSocketHandler

__all__ = ["ASGIHandler", "ClientDisconnected", "Lifespan", "LifespanFailure", "mount"]

logger = logging.getLogger("webpy")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApplication = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The methods a mounted application answers, besides those passed to `mount`.
METHODS = ("get", "head", "post", "put", "delete", "patch", "options", "trace")
ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
#: Bytes `receive` asks the transport for at once.
RECEIVE_SIZE = 64 * 1024
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"upgrade",
                         b"te", b"trailer", b"proxy-connection"})
_DISCONNECT: Message = {"type": "http.disconnect"}


def mount(prefix: str, app: ASGIApplication, *, lifespan: Lifespan | None = None,
          ordered: bool = False, max_body_bytes: int | None = None,
          methods: Iterable[str] = ()) -> dict[str, type[ASGIHandler]]:
    """Routes that serve the ASGI application `app` at `prefix` and below it.

    A prefix of ``"/"`` (or ``""``) mounts it at the root. Each request's
    scope gets a copy of `lifespan`'s state, as the spec says. `methods`
    adds methods beyond `METHODS`; `ordered` applies webpy's per-resource
    ordering; `max_body_bytes` is the body limit (None: the server's).
    """
    root_path = prefix.rstrip("/")
    if root_path and not root_path.startswith("/"):
        raise ValueError(f"a mount prefix starts with '/': {prefix!r}")
    namespace: dict[str, Any] = {
        "application": staticmethod(app),
        "root_path": root_path,
        "lifespan": lifespan,
        "ordered": ordered,
        "max_body_bytes": max_body_bytes,
    }
    for method in methods:
        name = method.lower()
        if not name.isalpha():
            raise ValueError(f"not a method name: {method!r}")
        namespace["do_" + name] = ASGIHandler.do_get
    name = getattr(app, "__name__", type(app).__name__)
    handler = type(f"ASGI_{name}", (ASGIHandler,), namespace)
    return {re.escape(root_path) + "(?:/.*)?": handler}


class ClientDisconnected(OSError):
    """Raised by ``send`` once the client has gone (ASGI HTTP spec 2.4)."""


class LifespanFailure(RuntimeError):
    """The application reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""


class ASGIHandler(WebSocketHandler):
    """Answers every request by running `application`; see the module docstring.

    It is a `WebSocketHandler` too: a request that asks to upgrade to a
    WebSocket gets the ``websocket`` scope (`_asgi_websocket`).
    """

    stream_request_body = True
    ordered = False
    #: The application sees ``Origin`` in the scope and refuses what it must.
    allowed_origins = ("*",)
    _websocket: Any = None
    #: The ASGI application (a staticmethod on subclasses).
    application: ClassVar[ASGIApplication]
    #: The mount point: ``root_path`` in the scope ("" for the root).
    root_path: ClassVar[str] = ""
    #: Whose state each request's scope gets a copy of.
    lifespan: ClassVar[Lifespan | None] = None

    async def do_get(self) -> tuple[int, Any]:
        exchange = _Exchange(self)
        return await exchange.respond()

    do_head = do_post = do_put = do_delete = do_patch = do_options = do_trace = do_get

    def upgrades(self) -> bool:
        return self.request.headers.get("upgrade", "").lower() == "websocket"

    async def on_upgrade(self) -> None:
        from ._asgi_websocket import WebSocketExchange

        self._websocket = WebSocketExchange(self)
        await self._websocket.accept()

    def select_subprotocol(self, offered: tuple[str, ...]) -> str | None:
        accepted = self._websocket.subprotocol if self._websocket is not None else None
        return accepted if accepted in offered else None

    async def on_connect(self) -> None:
        await self._websocket.converse()

    def scope(self) -> Scope:
        """The ``http`` scope for this request."""
        request = self.request
        scope: Scope = {
            "type": "http",
            "asgi": dict(ASGI_VERSION),
            "http_version": request.http_version,
            "method": request.method,
            "scheme": request.scheme,
            "path": request.path,
            "raw_path": request.raw_path.encode("latin-1"),
            "query_string": request.query_string.encode("latin-1"),
            "root_path": self.root_path,
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1"))
                        for name, value in request.headers.items()],
            "client": request.client,
            "server": request.server,
        }
        if self.lifespan is not None:
            scope["state"] = dict(self.lifespan.state)
        return scope


# -- stepping an application ---------------------------------------------------------------


class Outgoing:
    """What ``send`` and a parked ``receive`` yield to `AppRun` instead of to the event loop."""

    __slots__ = ("message",)

    def __init__(self, message: Message | None) -> None:
        self.message = message  # None: a receive waiting for the client to go

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self)


class AppRun:
    """Steps an application's coroutine in the caller's task, stopping where it sends.

    `step` runs it until it sends a message (returned), parks in
    ``receive`` (`PARKED`) or returns (`FINISHED`). Everything else it
    yields is the event loop's business and is passed up and back
    unchanged, exceptions included, so the application runs exactly as if
    the caller had awaited it.
    """

    PARKED: ClassVar[Any] = object()
    FINISHED: ClassVar[Any] = object()

    __slots__ = ("_coroutine", "_resume", "_throw", "done", "inside")

    def __init__(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self._coroutine = coroutine
        self._resume: Any = None
        self._throw: BaseException | None = None
        self.done = False
        #: True while the application is being stepped: only then is a `send` ours.
        self.inside = False

    def resume_with(self, value: Any) -> None:
        """What the pending ``send`` or parked ``receive`` returns when next stepped."""
        self._resume = value

    def throw_next(self, error: BaseException) -> None:
        """Raise `error` at the pending ``send`` (or ``receive``) when next stepped."""
        self._throw = error

    @types.coroutine
    def step(self) -> Generator[Any, Any, Any]:
        coroutine = self._coroutine
        while True:
            self.inside = True
            try:
                if self._throw is not None:
                    error, self._throw = self._throw, None
                    yielded = coroutine.throw(error)
                else:
                    value, self._resume = self._resume, None
                    yielded = coroutine.send(value)
            except StopIteration:
                self.done = True
                return AppRun.FINISHED
            except BaseException:
                self.done = True
                raise
            finally:
                self.inside = False
            if type(yielded) is Outgoing:
                return yielded.message if yielded.message is not None else AppRun.PARKED
            try:
                self._resume = yield yielded
            except BaseException as error:
                self._throw = error

    def close(self) -> None:
        """Abandon a coroutine that cannot be run to its end (its ``finally`` runs now)."""
        if not self.done:
            self.done = True
            try:
                self._coroutine.close()
            except RuntimeError:
                logger.exception("an ASGI application awaited while being abandoned")


# -- one request ---------------------------------------------------------------------------

#: `_ResponseState.stage` -> message types allowed there.
_ALLOWED = {
    "start": frozenset({"http.response.start"}),
    "body": frozenset({"http.response.body"}),
    "done": frozenset(),
}


class _ResponseState:
    """Where the application is in its response, and what it has sent so far."""

    __slots__ = ("chunks", "headers", "length", "stage", "status")

    def __init__(self) -> None:
        self.stage = "start"
        self.status = 0
        self.headers = Headers()
        self.length: int | None = None
        #: Body bytes sent by the application and not yet handed to the transport.
        self.chunks: deque[bytes] = deque()

    def check(self, message: Message) -> None:
        """Raise RuntimeError for a message the spec does not allow now."""
        kind = message.get("type")
        if kind not in _ALLOWED[self.stage]:
            expected = " or ".join(sorted(_ALLOWED[self.stage])) or "nothing (response complete)"
            raise RuntimeError(f"ASGI message {kind!r} sent; expected {expected}")
        if kind == "http.response.start":
            status = message.get("status")
            if type(status) is not int or not 200 <= status <= 999:
                raise RuntimeError(f"invalid status in http.response.start: {status!r}")
        elif not isinstance(message.get("body", b""), bytes | bytearray):
            raise RuntimeError("http.response.body 'body' must be bytes")

    def take(self, message: Message) -> None:
        """Record a message `check` has let through."""
        if self.stage == "start":
            self.status = message["status"]
            for name, value in message.get("headers", ()):
                key = bytes(name).lower()
                if key == b"content-length":
                    self.length = int(value)
                elif key not in _HOP_BY_HOP:
                    self.headers.add(bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            self.stage = "body"
            return
        body = message.get("body", b"")
        if body:
            self.chunks.append(bytes(body))
        if not message.get("more_body", False):
            self.stage = "done"


class _Exchange:
    """One request: the application's run, its receive and send, and the response."""

    def __init__(self, handler: ASGIHandler) -> None:
        self.handler = handler
        self.request = handler.request
        self.state = _ResponseState()
        self.body_ended = False
        self.body_read = 0
        self.gone = False
        self.input_error: HTTPError | None = None
        length = self.request.headers.get("content-length")
        self.body_length = int(length) if length is not None and length.isdigit() else None
        application = type(handler).application
        self.run = AppRun(cast(Coroutine[Any, Any, Any],
                                application(handler.scope(), self.receive, self.send)))

    async def respond(self) -> tuple[int, Any]:
        """Step the application until its head and first body message are in."""
        state = self.state
        try:
            while state.stage == "start" or (state.stage == "body" and not state.chunks):
                if not await self._advance():
                    break
            if self.input_error is not None:
                raise self.input_error
            if state.stage == "start":
                raise RuntimeError("the ASGI application returned without starting a response")
            if self.request.method == "HEAD" and state.stage == "done":
                # No body to send, so no pulls to step it: run it out now. A HEAD whose
                # body goes on (a stream) is abandoned instead, when the driver closes it.
                while not self.run.done:
                    await self._advance()
                    state.chunks.clear()
        except BaseException:
            self.run.close()
            if self.input_error is not None:
                raise self.input_error from None
            raise
        self.handler.response.headers = state.headers
        if self.run.done and state.stage == "done":
            body = b"".join(state.chunks)
            if state.length is not None:
                return state.status, StreamBody(iter((body,)), state.length)
            return state.status, body
        length = state.length
        if state.stage == "done" and length is None:
            length = sum(len(chunk) for chunk in state.chunks)
        return state.status, StreamBody(_ResponseBody(self), length)

    async def _advance(self) -> bool:
        """Step the application once; False when it has returned."""
        outcome = await self.run.step()
        if outcome is AppRun.FINISHED:
            return False
        if outcome is AppRun.PARKED:
            if self.state.stage != "done" and not self.gone:
                raise RuntimeError(
                    "the ASGI application waits for http.disconnect before finishing its "
                    "response, and this transport does not signal disconnects")
            self.run.resume_with(_DISCONNECT)
        else:
            self.state.take(outcome)
        return True

    async def finish(self) -> None:
        """Run the application to its end once its response is over."""
        while not self.run.done:
            await self._advance()

    # -- the application's receive and send --------------------------------------------------

    async def receive(self) -> Message:
        if self.gone or self.input_error is not None:
            return _DISCONNECT
        if not self.body_ended:
            stream = self.request.stream
            try:
                piece = await stream.read(RECEIVE_SIZE) if stream is not None else b""
            except HTTPError as error:
                self.input_error = error
                self.body_ended = True
                return _DISCONNECT
            self.body_read += len(piece)
            self.body_ended = not piece or self.body_read == self.body_length
            return {"type": "http.request", "body": piece, "more_body": not self.body_ended}
        if self.state.stage == "done":
            return _DISCONNECT
        wait = getattr(self.request.stream, "wait_disconnected", None)
        if wait is not None:
            await wait()
            self.gone = True
            return _DISCONNECT
        if not self.run.inside:
            raise RuntimeError("receive() awaited for http.disconnect by another task than the "
                               "application's; this transport does not signal disconnects")
        message: Message = await Outgoing(None)
        return message

    async def send(self, message: Message) -> None:
        if self.gone:
            raise ClientDisconnected("the client has gone")
        if not self.run.inside:
            raise RuntimeError("send() must be awaited by the task that runs the ASGI "
                               "application, not by a task it started")
        self.state.check(message)
        await Outgoing(message)


class _ResponseBody:
    """The rest of the response, pulled by the transport: each pull steps the application."""

    __slots__ = ("_exchange", "_pulled")

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange
        self._pulled = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        self._pulled = True
        exchange = self._exchange
        state = exchange.state
        while not state.chunks:
            if state.stage == "done":
                try:
                    await exchange.finish()
                except Exception:
                    logger.exception("ASGI application failed after its response was complete")
                raise StopAsyncIteration
            if not await exchange._advance():
                raise RuntimeError("the ASGI application returned before its response was complete")
        return state.chunks.popleft()

    async def aclose(self) -> None:
        """The transport gave up (the client went away): tell the application, let it finish."""
        exchange = self._exchange
        if exchange.run.done:
            return
        if exchange.state.stage != "done":
            exchange.gone = True
            exchange.run.throw_next(ClientDisconnected("the client has gone"))
        try:
            await exchange.finish()
        except ClientDisconnected:
            pass
        except Exception:
            logger.exception("ASGI application failed after its client left")

    def close(self) -> None:
        """Synchronous close: only for a body never pulled (`aclose` follows a pulled one)."""
        if not self._pulled:
            self._exchange.run.close()


# -- lifespan ------------------------------------------------------------------------------


class Lifespan:
    """``async with Lifespan(app) as lifespan:`` runs start-up before and shut-down after.

    Serve inside the block, handing `lifespan` to `mount` so each request's
    scope gets a copy of `state`. Raises `LifespanFailure` with the
    application's message if start-up or shut-down fails.
    """

    def __init__(self, app: ASGIApplication) -> None:
        self.app = app
        #: The scope's ``state``: what the application keeps for its requests.
        self.state: dict[str, Any] = {}
        #: False once the application has shown it does not handle lifespan.
        self.supported = True
        self._run: AppRun | None = None
        self._incoming: deque[Message] = deque()

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        run = self._run = AppRun(cast(Coroutine[Any, Any, Any],
                                       self.app(scope, self._receive, self._send)))
        self._incoming.append({"type": "lifespan.startup"})
        try:
            outcome = await self._until_answer(run, "startup")
        except LifespanFailure:
            raise
        except Exception:
            logger.info("the ASGI application does not handle lifespan; serving without it",
                        exc_info=True)
            self.supported = False
            return self
        if outcome is AppRun.FINISHED:
            self.supported = False
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        run = self._run
        if run is None or run.done or not self.supported:
            return
        if exc_info[1] is not None:
            run.throw_next(exc_info[1])  # e.g. a cancellation: the application unwinds too
            while not run.done:
                await run.step()
            return
        self._incoming.append({"type": "lifespan.shutdown"})
        await self._until_answer(run, "shutdown")
        while not run.done:
            if await run.step() is AppRun.PARKED:
                break

    async def _until_answer(self, run: AppRun, stage: str) -> Any:
        while True:
            outcome = await run.step()
            if outcome is AppRun.FINISHED:
                return outcome
            if outcome is AppRun.PARKED:
                if self._incoming:
                    run.resume_with(self._incoming.popleft())
                    continue
                raise RuntimeError(f"the ASGI application waits without answering lifespan.{stage}")
            kind = outcome.get("type")
            if kind == f"lifespan.{stage}.complete":
                return outcome
            if kind == f"lifespan.{stage}.failed":
                raise LifespanFailure(f"ASGI lifespan {stage} failed: "
                                      f"{outcome.get('message') or '(no message)'}")
            raise RuntimeError(f"unexpected lifespan message {kind!r} during {stage}")

    async def _receive(self) -> Message:
        message: Message = await Outgoing(None)
        return message

    async def _send(self, message: Message) -> None:
        await Outgoing(message)
