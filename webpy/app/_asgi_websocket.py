"""The ASGI ``websocket`` scope for a hosted application, on the WebSocket handler's seams.

Theory of operation
-------------------
A mounted ASGI application's handler is also a `WebSocketHandler`, so a
request that asks to upgrade goes through the same vetting as any
WebSocket route (handshake 400/426, `prepare`), and then through its two
hooks, with the application stepped in the connection's task by `AppRun`
(see `asgi`) across both:

- `on_upgrade`, before the 101: the application gets ``websocket.connect``
  and is stepped until it sends ``websocket.accept`` (its ``subprotocol``
  is the one agreed) or ``websocket.close``, or returns: both refuse the
  upgrade with 403, as the spec says.
- `on_connect`, after the 101: the application runs on to its end.
  ``receive`` awaits the handler's `receive()` (``websocket.receive`` with
  ``text`` or ``bytes``; ``websocket.disconnect`` with the close code once
  it is over), ``send`` its `send()` and `close()`. Pings, the size limit,
  keep-alive and the graceful-stop 1001 are the WebSocket cycle's, as for
  any handler. When the application returns, the WebSocket closes with
  1000; if it raises, with 1011.

Not supported: ``headers`` in ``websocket.accept`` (the 101 carries the
server's own) and the denial-response extension (a refusal is a plain 403).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from .errors import HTTPError
from .websocket import WebSocketClosed

if TYPE_CHECKING:
    from .asgi import ASGIHandler, Message, Scope

#: The stage the exchange is in -> the message types the application may send there.
_SENDABLE = {
    "connecting": frozenset({"websocket.accept", "websocket.close"}),
    "open": frozenset({"websocket.send", "websocket.close"}),
    "closed": frozenset(),
}


def scope(handler: ASGIHandler) -> Scope:
    """The ``websocket`` scope for the upgrade request."""
    http = handler.scope()
    offered = handler.request.headers.get("sec-websocket-protocol", "")
    http.update(type="websocket", scheme="wss" if http["scheme"] == "https" else "ws",
                subprotocols=[name.strip() for name in offered.split(",") if name.strip()])
    del http["method"]
    return http


class WebSocketExchange:
    """One hosted WebSocket: the application's run and its receive and send."""

    def __init__(self, handler: ASGIHandler) -> None:
        from .asgi import AppRun

        self.handler = handler
        self.stage = "connecting"
        self.connect_received = False
        #: The subprotocol the application accepted with.
        self.subprotocol: str | None = None
        self.closed: WebSocketClosed | None = None
        application = type(handler).application
        self.run = AppRun(cast(Coroutine[Any, Any, Any],
                                application(scope(handler), self.receive, self.send)))

    async def accept(self) -> None:
        """Step the application until it accepts; `HTTPError` 403 if it refuses."""
        from .asgi import AppRun

        try:
            outcome = await self.run.step()
        except BaseException:
            self.run.close()
            raise
        if outcome is AppRun.FINISHED or outcome.get("type") == "websocket.close":
            self.run.close()
            self.stage = "closed"
            raise HTTPError(403, "The application refused the WebSocket.")
        self.stage = "open"
        self.subprotocol = outcome.get("subprotocol")

    async def converse(self) -> None:
        """Run the application to its end, then close the WebSocket if it is still open."""
        try:
            while not self.run.done:
                await self.run.step()  # nothing is sent through it once accepted
        finally:
            self.run.close()
        if self.handler.is_open:
            self.handler.close(1000, "")

    async def receive(self) -> Message:
        if self.stage == "connecting":
            if self.connect_received:
                raise RuntimeError("ASGI receive() awaited again before websocket.accept")
            self.connect_received = True
            return {"type": "websocket.connect"}
        if self.closed is None:
            try:
                message = await self.handler.receive()
            except WebSocketClosed as error:
                self.closed = error
                self.stage = "closed"
            else:
                if isinstance(message, str):
                    return {"type": "websocket.receive", "text": message}
                return {"type": "websocket.receive", "bytes": message}
        ended = self.closed
        return {"type": "websocket.disconnect", "code": ended.code or 1005,
                "reason": ended.reason}

    async def send(self, message: Message) -> None:
        from .asgi import ClientDisconnected, Outgoing

        kind = message.get("type")
        if kind not in _SENDABLE[self.stage]:
            if self.stage == "closed":
                raise ClientDisconnected("the WebSocket is closed")
            raise RuntimeError(f"ASGI message {kind!r} sent while the WebSocket is {self.stage}")
        if self.stage == "connecting":
            await Outgoing(message)  # back to `accept`, which decides
            return
        handler = self.handler
        try:
            if kind == "websocket.send":
                text, data = message.get("text"), message.get("bytes")
                if (text is None) == (data is None):
                    raise RuntimeError("websocket.send needs exactly one of 'text' and 'bytes'")
                await handler.send(text if text is not None else bytes(cast(bytes, data)))
            else:
                self.stage = "closed"
                handler.close(int(message.get("code", 1000)), message.get("reason") or "")
                await handler.flush()
        except WebSocketClosed as error:
            self.stage = "closed"
            raise ClientDisconnected(str(error)) from None
