"""The in-memory transport: a test client that goes through the real request path.

`Client(routes).get("/x")` serialises a real HTTP/1.1 request, runs it
through the same protocol layer, driver and application as the socket
servers, and parses the bytes that come back, with no socket and no thread.
`Client.connect()` gives the raw byte-level connection underneath, for
protocol tests: send bytes, read bytes, close.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import h11

from ..app import Application, ErrorRoutes, Headers, ReadWriteLock, Routes
from ..app.locks import LockTable, acquire_blocking
from ..protocol import Limits
from ._client_response import ClientResponse, parse_response
from .actions import READ_DRAIN, Acquire, Handle, Pull, Read, SendFile, WebSocketRead, Write
from .driver import Site
from .lifecycle import Lifecycle, run_blocking
from .settings import Timeouts, split_options

if TYPE_CHECKING:
    from .memory_websocket import MemoryWebSocket

__all__ = ["Client", "ClientResponse", "MemoryConnection", "parse_response"]

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]


class Client:
    """Runs requests through `routes` in memory; each request on a fresh connection.

    Safe to use from several threads at once (each request has its own
    connection; they share the application and its resource locks, as on a
    real server).
    """

    def __init__(
        self,
        routes: Routes,
        error_routes: ErrorRoutes | None = None,
        *,
        limits: Limits | None = None,
        timeouts: Timeouts | None = None,
        locks: LockTable[Any] | None = None,
        client_address: tuple[str, int] = ("127.0.0.1", 40000),
        host: str = "testserver",
        **options: Any,
    ) -> None:
        limits, timeouts = split_options(limits, timeouts, options)
        self.site = Site(Application(routes, error_routes), limits, ReadWriteLock, timeouts,
                         locks=locks)
        self.client_address = client_address
        self.host = host

    def connect(self) -> MemoryConnection:
        """A new raw connection to the application, for byte-level tests."""
        return MemoryConnection(self.site, self.client_address)

    def websocket(self, target: str, headers: HeaderInput | None = None,
                  subprotocols: Sequence[str] = ()) -> MemoryWebSocket:
        """Open a WebSocket on `target`: the real handshake and frames, in memory.

        Raises `WebSocketRejected` (with the status) if the server refuses it.
        """
        from .memory_websocket import MemoryWebSocket

        return MemoryWebSocket(self.connect(), target, self.host, Headers(headers or ()),
                               subprotocols)

    def raw(self, data: bytes) -> bytes:
        """Send `data`, then end the client's side; return everything the server wrote."""
        connection = self.connect()
        connection.send(data)
        connection.close_write()
        output = connection.receive()
        connection.close()
        return output

    def request(
        self,
        method: str,
        target: str,
        body: bytes | str = b"",
        headers: HeaderInput | None = None,
        *,
        json: Any = None,
    ) -> ClientResponse:
        """Send one request and return its parsed response.

        Every method here takes the target, then the body where there is one,
        then the headers: ``request("PUT", "/x", b"v", {"X": "1"})`` as
        ``put("/x", b"v", {"X": "1"})``. Pass `headers=` and `json=` by
        keyword to be clear.
        """
        if not isinstance(body, bytes | str):
            raise TypeError(f"a request body is bytes or str, not {type(body).__name__}: the "
                            f"arguments are (method, target, body, headers)")
        fields = Headers(headers or ())
        if json is not None:
            body = jsonlib.dumps(json)
            fields.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        fields.setdefault("Host", self.host)
        if (body or method in ("POST", "PUT", "PATCH")) and "transfer-encoding" not in fields:
            fields.setdefault("Content-Length", str(len(body)))
        peer = h11.Connection(h11.CLIENT)
        data = peer.send(h11.Request(method=method, target=target, headers=fields.encoded()))
        if body:
            data += peer.send(h11.Data(data=body))
        data += peer.send(h11.EndOfMessage())
        connection = self.connect()
        try:
            connection.send(data)
            return parse_response(peer, connection.receive())
        finally:
            connection.close()

    def get(self, target: str, headers: HeaderInput | None = None) -> ClientResponse:
        return self.request("GET", target, headers=headers)

    def head(self, target: str, headers: HeaderInput | None = None) -> ClientResponse:
        return self.request("HEAD", target, headers=headers)

    def options(self, target: str, headers: HeaderInput | None = None) -> ClientResponse:
        return self.request("OPTIONS", target, headers=headers)

    def delete(self, target: str, headers: HeaderInput | None = None) -> ClientResponse:
        return self.request("DELETE", target, headers=headers)

    def put(self, target: str, body: bytes | str = b"", headers: HeaderInput | None = None,
            *, json: Any = None) -> ClientResponse:
        return self.request("PUT", target, body, headers, json=json)

    def post(self, target: str, body: bytes | str = b"", headers: HeaderInput | None = None,
             *, json: Any = None) -> ClientResponse:
        return self.request("POST", target, body, headers, json=json)

    def patch(self, target: str, body: bytes | str = b"", headers: HeaderInput | None = None,
              *, json: Any = None) -> ClientResponse:
        return self.request("PATCH", target, body, headers, json=json)


class MemoryConnection:
    """One connection, byte for byte: `send`, `close_write`, `receive`, `close`.

    Each `send` arrives at the server as one read, so tests control exactly
    where the stream is split. The server runs whenever bytes arrive, up to
    the point where it waits for more; `time_out()` makes that wait expire.
    """

    def __init__(self, site: Site, client_address: tuple[str, int] | None = None) -> None:
        self._lifecycle = Lifecycle(site, client_address, time.monotonic)
        self._inbox: deque[bytes] = deque()
        self._output = bytearray()
        self._waiting: Read | WebSocketRead | None = None
        self.closed = False
        self._advance(self._lifecycle.start())

    def send(self, data: bytes) -> None:
        """Deliver `data` to the server, as one read."""
        if data:
            self._inbox.append(data)
            self._resume()

    def close_write(self) -> None:
        """End the client's side of the connection (the server reads EOF)."""
        self._inbox.append(b"")
        self._resume()

    def time_out(self) -> None:
        """Make the server's pending read time out, as if the client went quiet."""
        if self._waiting is not None and not self.closed:
            self._waiting = None
            self._advance(self._lifecycle.send(None))

    def receive(self) -> bytes:
        """Everything the server has written since the last call."""
        output = bytes(self._output)
        self._output.clear()
        return output

    @property
    def waiting_for(self) -> str | None:
        """What the server waits for ("idle", "head", "body"), or None if closed."""
        return self._waiting.phase if self._waiting and not self.closed else None

    def close(self) -> None:
        """Drop the connection, as a client that disconnects does."""
        if not self.closed:
            self.closed = True
            self._lifecycle.close()

    # -- performing the lifecycle's actions ------------------------------------------

    def _resume(self) -> None:
        if self._waiting is not None and not self.closed:
            self._waiting = None
            self._advance(self._lifecycle.send(self._inbox.popleft()))

    def _advance(self, action: Any) -> None:
        lifecycle = self._lifecycle
        while action is not None:
            result: Any = None
            kind = type(action)
            if kind is Read or kind is WebSocketRead:
                if action is READ_DRAIN:
                    # Nothing is in flight in memory: what was sent is read, then "EOF".
                    result = self._inbox.popleft() if self._inbox else b""
                elif not self._inbox:
                    self._waiting = action
                    return
                else:
                    result = self._inbox.popleft()
            elif kind is Write:
                data = action.data
                self._output += data if isinstance(data, bytes) else b"".join(data)
            elif kind is SendFile:
                self._output += action.before
                action.file.seek(action.offset)
                self._output += action.file.read(action.count)
            elif kind is Acquire:
                result = acquire_blocking(action.lock, action.exclusive)
            elif kind is Handle:
                result = run_blocking(lifecycle, action, self._receive_for_handler,
                                      self._output.extend)
            elif kind is Pull:
                result = action.next()
            action = lifecycle.send(result)
        self.closed = True

    def _receive_for_handler(self) -> bytes | None:
        # A handler streaming its body can only read what has already been sent;
        # anything else would wait forever here, so it counts as a timeout.
        return self._inbox.popleft() if self._inbox else None
