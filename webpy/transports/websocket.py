"""A WebSocket's life after the handshake, as the same actions every transport performs.

Theory of operation
-------------------
The request cycle (`driver`) routes an upgrade request and lets the handler
vet it like any other (`prepare`, so authentication refuses it with 401).
For a `WebSocketHandler` it then calls `take_over`: `vet` checks the
handshake and the origin and gives a `Response` to send (400, 403, 426) or
an `Upgrade`; `ServerConnection.switch_protocols` writes the 101 and hands
over the bytes the client sent after its handshake; and `serve` is the rest
of the connection, a generator of actions (`actions.py`) that the transport
performs exactly as it performs a request's:

- `Write` the 101, and whatever the session wants written (pongs, close
  frames, the handler's messages), before it waits again.
- `WebSocketRead`: wait for the client's next bytes. Its deadline is the
  session's keep-alive policy (ping after `ping_interval`, give up after
  `ping_timeout`), so a transport parks an open WebSocket exactly as it
  parks an idle keep-alive connection: on the threaded transport it waits in
  epoll and holds no thread. A read that timed out (None) lets the session
  ping or give up; a graceful stop expires it after `going_away()`, and the
  session closes with 1001.
- `Handle` a `HookCall`: run `on_connect` / `on_message(message)` in a
  worker (or await it, if ``async def``), only once a whole message is in.
  Its result is a `Response` whose status says how it went: 200 done, 500
  the hook raised (close 1011), 503 no worker free (close 1013).

Sending from outside the handler's methods (another thread pushes a
message) queues bytes in the `Link` and calls the wake-up the transport
parked the read with (`WebSocketRead.park`): the transport resumes the read
with `WOKEN`, and the queued bytes are written. A transport without a
wake-up (memory) delivers them at the connection's next event.

When the generator ends, the transport closes the connection. If the
transport closes the generator first (the client vanished), `on_close(1006)`
still runs, once. wsproto is imported only when a WebSocket is vetted: it is
an optional dependency, and without it a WebSocket route answers 501.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..app import Call, HTTPError, Request, Response
from ..app.websocket import WebSocketClosed, WebSocketHandler
from ..protocol import NEED_DATA, InvalidResponse, RequestHead
from .actions import WOKEN, Action, Handle, WebSocketRead, Write

if TYPE_CHECKING:
    from ..protocol.websocket import Closed, Message, SessionPolicy, WebSocketSession
    from .driver import ConnectionDriver

# Close codes (RFC 6455 section 7.4.1), as in `protocol.websocket`, which is
# imported only once a WebSocket is opened: wsproto is an optional dependency.
_GOING_AWAY, _ABNORMAL_CLOSURE, _INTERNAL_ERROR, _TRY_AGAIN_LATER = 1001, 1006, 1011, 1013

logger = logging.getLogger("webpy")


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A vetted handshake: the call whose handler takes the connection over, and the 101."""

    call: Call
    fields: list[tuple[bytes, bytes]]
    extensions: list[Any]
    subprotocol: str | None

    @property
    def handler(self) -> WebSocketHandler:
        return self.call.handler  # type: ignore[return-value]


def is_websocket(call: Call) -> bool:
    """Whether `call` is for a WebSocket route (so the transport must not run `do_get`)."""
    handler = call.handler
    return isinstance(handler, WebSocketHandler) and handler.upgrades()


def vet(call: Call) -> Response | Upgrade:
    """Check the handshake and the origin; the refusal to send, or the `Upgrade` to serve."""
    request = call.request
    handler: WebSocketHandler = call.handler  # type: ignore[assignment]
    try:
        from ..protocol.websocket import HandshakeError, read_handshake
    except ImportError:  # wsproto is not installed
        logger.error("a WebSocket route was asked for, but wsproto is not installed "
                     "(pip install 'webpy[websocket]')")
        return call.app.error_response(
            HTTPError(501, "WebSockets are not available on this server."), request)
    try:
        handshake = read_handshake(request.method, request.http_version, request.headers.items())
        if not handler.check_origin(handshake.origin):
            raise HTTPError(403, "This origin may not open the WebSocket.")
        subprotocol = handler.select_subprotocol(handshake.subprotocols)
        fields, extensions = handshake.accept(subprotocol, compression=handler.compression)
    except HandshakeError as error:
        return call.app.error_response(
            HTTPError(error.status_code, error.detail, headers=dict(error.headers)), request)
    except HTTPError as error:
        return call.app.error_response(error, request)
    except Exception as error:  # check_origin or select_subprotocol raised
        return call.fail(error)
    return Upgrade(call, fields, extensions, subprotocol)


class Link:
    """The handler's `Outbox`: the session behind a lock, shared by the cycle and any thread."""

    __slots__ = ("_closed_error", "_lock", "_session", "_stopping", "_wake", "perform")

    def __init__(self, session: WebSocketSession) -> None:
        self._session = session
        self._lock = threading.Lock()
        self._wake: Callable[[], None] | None = None
        self._stopping = False
        #: While an ``async def`` hook runs on a transport that lets it wait on
        #: the connection itself (trio): performs one action, returns its result.
        self.perform: Callable[[Action], Awaitable[Any]] | None = None
        from ..protocol.websocket import SessionClosed
        self._closed_error = SessionClosed

    # The handler's verbs, from any thread.

    def send(self, message: str | bytes) -> None:
        with self._lock:
            try:
                self._session.send(message)
            except self._closed_error as error:
                raise WebSocketClosed(str(error)) from None
            wake, self._wake = self._wake, None
        if wake is not None:
            wake()

    def close(self, code: int, reason: str) -> None:
        with self._lock:
            self._session.close(code, reason)
            wake, self._wake = self._wake, None
        if wake is not None:
            wake()

    @property
    def is_open(self) -> bool:
        return self._session.is_open

    async def receive(self) -> str | bytes:
        """The next whole message, read by the running ``async def`` hook itself."""
        from ..protocol.websocket import Closed

        event: Message | Closed = await self._run(_next_message(self))
        if isinstance(event, Closed):
            raise WebSocketClosed(f"the WebSocket is closed ({event.code})", event.code,
                                  event.reason)
        return event.data

    async def flush(self) -> None:
        """Write what is queued now, from the running ``async def`` hook."""
        data = self.take()
        if data:
            await self._run(_write(data))

    async def _run(self, steps: Generator[Action, Any, Any]) -> Any:
        perform = self.perform
        if perform is None:
            raise RuntimeError("receive() and await send() work only in an async def "
                               "method of the handler, on the trio transport")
        result = None
        try:
            while True:
                result = await perform(steps.send(result))
        except StopIteration as stop:
            return stop.value

    # The cycle's side.

    def park(self, wake: Callable[[], None]) -> bool:
        with self._lock:
            if self._pending():
                return True
            self._wake = wake
            return False

    def going_away(self) -> bool:
        with self._lock:
            first, self._stopping = not self._stopping, True
            return first

    def detach(self) -> None:
        """The connection is over: no more wake-ups."""
        with self._lock:
            self._wake = None

    def resume(self, result: Any) -> None:
        """Feed what the read returned: bytes, None (timed out) or WOKEN."""
        with self._lock:
            self._wake = None
            session = self._session
            if self._stopping and session.is_open:
                session.close(_GOING_AWAY, "server shutting down")
            elif result is None:
                session.timed_out()
            elif result is not WOKEN:
                session.receive_data(result)

    def next_event(self) -> Any:
        with self._lock:
            return self._session.next_event()

    def take(self) -> bytes:
        with self._lock:
            return self._session.data_to_send()

    def fail(self, code: int, reason: str) -> None:
        with self._lock:
            self._session.close(code, reason)

    def read(self) -> WebSocketRead:
        with self._lock:
            return WebSocketRead(self._session.read_timeout, self)

    def _pending(self) -> bool:
        session = self._session
        return session.has_data_to_send or session.closed is not None


def policy_of(handler: WebSocketHandler) -> SessionPolicy:
    from ..protocol.websocket import SessionPolicy

    return SessionPolicy(max_message_bytes=handler.max_message_bytes,
                         ping_interval=handler.ping_interval,
                         ping_timeout=handler.ping_timeout)


def take_over(driver: ConnectionDriver, head: RequestHead, request: Request, call: Call
              ) -> Generator[Action, Any, bool]:
    """The request cycle's side of an upgrade: refuse it, or hand the connection over.

    Returns False: after a WebSocket (or a refusal that closes), the
    connection is not used for HTTP again.
    """
    outcome = vet(call)
    if type(outcome) is Response:
        return (yield from driver.respond(head, request, outcome))
    assert isinstance(outcome, Upgrade)
    if type(outcome.handler).on_upgrade is not WebSocketHandler.on_upgrade:
        answer = yield Handle(UpgradeCall(call), None)
        if answer.status >= 300:
            return (yield from driver.respond(head, request, answer))
        outcome = vet(call)  # again: on_upgrade may have chosen the subprotocol
        if type(outcome) is Response:
            return (yield from driver.respond(head, request, outcome))
        assert isinstance(outcome, Upgrade)
    connection = driver.connection
    connection.next_event()  # the request's end: vet refused any body
    try:
        response_head, trailing = connection.switch_protocols(outcome.fields)
    except InvalidResponse as error:
        logger.error("WebSocket upgrade of %s refused: %s", request.target, error)
        return (yield from driver.respond(head, request, call.fail(error)))
    driver.site.log_access(driver.client, request, 101, 0)
    yield from serve(outcome, trailing, head=response_head)
    return False


def serve(upgrade: Upgrade, trailing: bytes = b"", *, head: bytes | None = None
          ) -> Generator[Action, Any, None]:
    """The connection after the handshake: write the 101, then messages until closed.

    `trailing` are the bytes that came after the handshake in the same read;
    `head` the 101 response, if the HTTP layer wrote it (else it is written here).
    """
    from ..protocol.websocket import Closed, WebSocketSession, switching_protocols

    handler = upgrade.handler
    session = WebSocketSession(policy_of(handler), upgrade.extensions, trailing)
    link = Link(session)
    handler.attach(link, upgrade.subprotocol)
    ended: Closed | None = None
    try:
        yield Write(head if head is not None else switching_protocols(upgrade.fields))
        outcome = yield Handle(HookCall(upgrade.call, link, handler.on_connect), None)
        _check(outcome, link)
        while True:
            event = yield from _next_message(link)
            if isinstance(event, Closed):
                ended = event
                return
            outcome = yield Handle(HookCall(upgrade.call, link, handler.on_message, event.data),
                                   None)
            _check(outcome, link)
    finally:
        link.detach()
        if ended is None:
            ended = Closed(_ABNORMAL_CLOSURE, "connection lost")
        _on_close(handler, ended)


def _next_message(link: Link) -> Generator[Action, Any, Message | Closed]:
    """Write what is queued, read until a whole message or the end; the close answer too."""
    from ..protocol.websocket import Closed

    while True:
        data = link.take()
        if data:
            yield Write(data)
        event = link.next_event()
        if event is not NEED_DATA:
            if type(event) is Closed:
                data = link.take()  # the answer to the client's close frame
                if data:
                    yield Write(data)
            return event  # type: ignore[no-any-return]
        data = link.take()  # pongs and close frames the events produced
        if data:
            yield Write(data)
            continue
        link.resume((yield link.read()))


def _write(data: bytes) -> Generator[Action, Any, None]:
    yield Write(data)


def _check(outcome: Response, link: Link) -> None:
    if outcome.status == 500:
        link.fail(_INTERNAL_ERROR, "internal error")
    elif outcome.status == 503:
        link.fail(_TRY_AGAIN_LATER, "server busy")


def _on_close(handler: WebSocketHandler, closed: Closed) -> None:
    try:
        handler.on_close(closed.code, closed.reason)
    except Exception:
        logger.exception("%s.on_close failed", type(handler).__name__)


_DONE = Response(200)
_FAILED = Response(500)
_BUSY = Response(503)
_ACCEPTED = Response(101)


class HookCall(Call):
    """One of the handler's event methods, run by the transport as it runs a `Handle`.

    Never raises: the result is a `Response` whose status says how it went
    (200 done, 500 the method raised, 503 the transport had no worker free).
    """

    __slots__ = ("_args", "_link", "perform")

    def __init__(self, call: Call, link: Link, hook: Callable[..., Any], *args: Any) -> None:
        super().__init__(call.app, call.handler, hook, call.request, call.response)
        self._args = args
        self._link = link
        #: Set by a transport whose ``async def`` hooks may wait on the
        #: connection themselves (trio): `Link.receive` and `Link.flush` use it.
        self.perform: Callable[[Action], Awaitable[Any]] | None = None

    @property
    def stream_body(self) -> bool:
        return False

    @property
    def resource(self) -> str | None:
        return None

    def run(self, body: bytes | None = None) -> Response:
        try:
            self.function(*self._args)
        except Exception:
            logger.exception("error in %s", _name(self.function))
            return _FAILED
        return _DONE

    async def run_async(self, body: bytes | None = None) -> Response:
        self._link.perform = self.perform
        try:
            await self.function(*self._args)
        except WebSocketClosed:  # receive() after the end: the WebSocket is over anyway
            return _DONE
        except Exception:
            logger.exception("error in %s", _name(self.function))
            return _FAILED
        finally:
            self._link.perform = None
        return _DONE

    def fail(self, error: Exception) -> Response:
        if isinstance(error, HTTPError) and error.status_code == 503:
            return _BUSY
        logger.error("could not run %s: %s", _name(self.function), error)
        return _FAILED


class UpgradeCall(Call):
    """`WebSocketHandler.on_upgrade`, run like a handler method: its result is the answer."""

    __slots__ = ()

    def __init__(self, call: Call) -> None:
        handler: WebSocketHandler = call.handler  # type: ignore[assignment]
        super().__init__(call.app, handler, handler.on_upgrade, call.request, call.response)

    @property
    def stream_body(self) -> bool:
        return False  # vet refused a handshake with a body

    @property
    def resource(self) -> str | None:
        return None

    def run(self, body: bytes | None = None) -> Response:
        try:
            self.function()
        except Exception as error:
            return self.fail(error)
        return _ACCEPTED

    async def run_async(self, body: bytes | None = None) -> Response:
        try:
            await self.function()
        except Exception as error:
            return self.fail(error)
        return _ACCEPTED


def _name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", repr(function))
