"""WebSocket handlers: a route that upgrades, then a message at a time.

Theory of operation
-------------------
A WebSocket route is an ordinary route whose handler subclasses
`WebSocketHandler`. The upgrade request goes through everything a request
does: routing, `prepare` (so an authentication base class refuses it with
401 before anything is upgraded), then the checks the server makes for
every handshake and the ones the application sets here: `check_origin`
(403), `select_subprotocol`, `compression`, and the size and keep-alive
bounds below. A bad handshake is answered 400, or 426 with ``Upgrade:
websocket`` for a client that did not ask to upgrade.

After the 101 the handler is event-driven, so that an open WebSocket holds
no thread between messages: `on_connect()`, then `on_message(message)` for
each whole message (str for text, bytes for binary), then `on_close(code,
reason)` exactly once, however it ended (1006 if the connection was lost).
`on_connect` and `on_message` may be ``async def`` on the trio transport;
plain ones run in a worker thread, one message at a time per socket, in
order. `on_close` is a plain method, kept short: it runs in whatever thread
ends the WebSocket (e.g. to leave a chat room).

`send(message)` and `close(code, reason)` may be called from the handler's
methods and from any other thread (a server push). They never block: the
bytes are queued and written by the transport. After the WebSocket closed,
`send` raises `WebSocketClosed`, a clear error instead of a dead worker.

On trio, an ``async def`` method may also read for itself, in the style of
other async servers: ``message = await self.receive()`` or ``async for
message in self``, typically in `on_connect`, which then lasts as long as
the conversation (messages it receives are not passed to `on_message`).
``await self.send(message)`` writes at once instead of at the next wait.
The loop ends, and `receive` raises `WebSocketClosed`, once the WebSocket
is closed; `on_close` still runs, once. While such a method waits, the read
has the same deadlines, pings and graceful-stop 1001 as between messages.

This module knows nothing of frames or sockets: the transport layer
(`webpy.transports.websocket`) joins this handler to the protocol session.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Generator
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from .errors import HTTPError
from .handler import HTTPHandler

logger = logging.getLogger("webpy")


class WebSocketClosed(Exception):
    """`send` or `receive` on a WebSocket that is closing, closed, or not open yet.

    From `receive`, `code` and `reason` say how it closed (as `on_close` will).
    """

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class Outbox(Protocol):
    """What the transport layer gives an open handler to send with; thread-safe."""

    def send(self, message: str | bytes) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    async def receive(self) -> str | bytes: ...
    async def flush(self) -> None: ...
    @property
    def is_open(self) -> bool: ...


class WebSocketHandler(HTTPHandler):
    """Subclass, route it, and override `on_message` (and `on_connect`, `on_close`).

    Class attributes set the policy; methods `check_origin` and
    `select_subprotocol` may be overridden for finer control.
    """

    #: A WebSocket lives long: it must not hold its resource's lock.
    ordered: ClassVar[bool] = False
    #: Origins (``scheme://host[:port]``) allowed besides the server's own;
    #: ``{"*"}`` allows any. Requests without `Origin` (non-browsers) pass.
    allowed_origins: ClassVar[Collection[str]] = ()
    #: Subprotocols this handler speaks, in order of preference.
    subprotocols: ClassVar[tuple[str, ...]] = ()
    #: Use permessage-deflate when the client offers it. Off by default: a
    #: small compressed frame may inflate to the size limit.
    compression: ClassVar[bool] = False
    #: Largest message, all fragments together; larger ones close with 1009.
    max_message_bytes: ClassVar[int] = 1024 * 1024
    #: Silence (seconds) after which the server pings; a ping unanswered for
    #: `ping_timeout` drops the connection.
    ping_interval: ClassVar[float] = 20.0
    ping_timeout: ClassVar[float] = 20.0

    _outbox: Outbox | None = None
    #: The subprotocol agreed in the handshake, if any.
    subprotocol: str | None = None

    # -- vetting the handshake (before the 101) ------------------------------------------

    def check_origin(self, origin: str | None) -> bool:
        """Whether a browser page from `origin` may open this WebSocket (False -> 403).

        By default: no Origin (not a browser), the server's own origin (same
        host and port as the request's Host), or one in `allowed_origins`.
        This is what stops another site's page from using a visitor's cookies
        here (cross-site WebSocket hijacking).
        """
        if origin is None:
            return True
        allowed = self.allowed_origins
        if "*" in allowed or origin in allowed:
            return True
        host = self.request.headers.get("host")
        parts = urlsplit(origin)
        if host is None or parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        default_port = ":443" if parts.scheme == "https" else ":80"
        return _without_port(parts.netloc.lower(), default_port) == \
            _without_port(host.lower(), default_port)

    def select_subprotocol(self, offered: tuple[str, ...]) -> str | None:
        """The subprotocol to speak, from those the client offered; None for none."""
        for name in self.subprotocols:
            if name in offered:
                return name
        return None

    def upgrades(self) -> bool:
        """Whether this request is for the WebSocket side of the handler (True).

        A handler that also answers plain HTTP on the same route (a hosted
        ASGI application) says False for requests that do not ask to upgrade.
        """
        return True

    def on_upgrade(self) -> Any:
        """Run before the 101, after the handshake was vetted; may be ``async def``.

        Not called unless overridden. Raise `HTTPError` to refuse the upgrade
        with its status (another exception: 500); return to accept.
        `select_subprotocol` is asked again afterwards, so this may decide
        the subprotocol.
        """

    def do_get(self) -> Any:
        """Reached only when the transport does not take the upgrade over."""
        raise HTTPError(501, "WebSockets are not served by this transport.")

    # -- events (override these) ---------------------------------------------------------

    def on_connect(self) -> Any:
        """The WebSocket is open; `send` works from here on."""

    def on_message(self, message: str | bytes) -> Any:
        """A whole message arrived: str for text, bytes for binary."""

    def on_close(self, code: int, reason: str) -> None:
        """The WebSocket is over (called once); 1006 if the connection was lost."""

    # -- verbs -----------------------------------------------------------------------------

    def send(self, message: str | bytes) -> Sent:
        """Send a text (str) or binary (bytes) message, from any thread; never blocks.

        In an ``async def`` method on trio, ``await`` the result to write it
        now rather than at the next wait.
        """
        outbox = self._outbox
        if outbox is None:
            raise WebSocketClosed("the WebSocket is not open")
        outbox.send(message)
        return Sent(outbox)

    async def flush(self) -> None:
        """Write what is queued now (``async def`` methods on trio), e.g. after `close`."""
        if self._outbox is not None:
            await self._outbox.flush()

    async def receive(self) -> str | bytes:
        """The next whole message (``async def`` methods on trio); `WebSocketClosed` at the end."""
        outbox = self._outbox
        if outbox is None:
            raise WebSocketClosed("the WebSocket is not open")
        return await outbox.receive()

    def __aiter__(self) -> WebSocketHandler:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.receive()
        except WebSocketClosed:
            raise StopAsyncIteration from None

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake with `code` (1000, 1001, 1008, 3000-4999...)."""
        if self._outbox is not None:
            self._outbox.close(code, reason)

    @property
    def is_open(self) -> bool:
        """Whether `send` would still deliver."""
        return self._outbox is not None and self._outbox.is_open

    def attach(self, outbox: Outbox, subprotocol: str | None) -> None:
        """Called by the transport layer when the 101 is on its way."""
        self._outbox = outbox
        self.subprotocol = subprotocol


class Sent:
    """What `send` returns: already queued; awaiting it writes the queue out now."""

    __slots__ = ("_outbox",)

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def __await__(self) -> Generator[Any, None, None]:
        return self._outbox.flush().__await__()


def _without_port(netloc: str, default_port: str) -> str:
    return netloc[:-len(default_port)] if netloc.endswith(default_port) else netloc
