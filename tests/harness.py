"""One way to reach a server over every transport, for the conformance suite.

A `Harness` starts a server for some routes (`serve`) and hands out raw
connections to it. Each transport has one: in memory, threaded sockets, trio
over TCP, trio over in-memory streams. Tests written against `RawConnection`
run unchanged on all of them.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any, Protocol

import h11

from webpy.app import Headers
from webpy.transports.memory import Client, ClientResponse, MemoryConnection

#: How long a socket test waits for the server before calling it a hang.
CLIENT_TIMEOUT = 10.0


class RawConnection(Protocol):
    """Bytes to the server, responses back."""

    def send(self, data: bytes) -> None: ...
    def close_write(self) -> None: ...
    def receive(self) -> bytes:
        """Bytes the server has sent so far (for sockets: wait for some, or EOF)."""
        ...
    def receive_until_closed(self) -> bytes: ...
    def close(self) -> None: ...


class Server(Protocol):
    def connect(self) -> RawConnection: ...


class Harness(Protocol):
    name: str

    def serve(self, routes: Any, error_routes: Any = None, **options: Any
              ) -> contextlib.AbstractContextManager[Server]: ...


class ResponseReader:
    """Parses the responses on one connection, in order, with h11's client side."""

    def __init__(self, connection: RawConnection) -> None:
        self.connection = connection
        self._leftover = b""
        self.closed = False

    def read(self, method: str = "GET") -> ClientResponse | None:
        """The next response (for a request with `method`), or None if the server closed."""
        peer = h11.Connection(h11.CLIENT)
        peer.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        peer.send(h11.EndOfMessage())
        data, self._leftover = self._leftover, b""
        response: h11.Response | None = None
        interim: list[int] = []
        body = bytearray()
        while True:
            if data:
                peer.receive_data(data)
                data = b""
            try:
                event = peer.next_event()
            except h11.RemoteProtocolError:
                if response is None and not body:
                    return None
                raise
            if event is h11.NEED_DATA:
                if self.closed:
                    peer.receive_data(b"")
                    continue
                data = self.connection.receive()
                if not data:
                    self.closed = True
                    if response is None and peer.their_state is h11.IDLE:
                        return None
                    peer.receive_data(b"")
                continue
            if type(event) is h11.InformationalResponse:
                interim.append(event.status_code)
            elif type(event) is h11.Response:
                response = event
            elif type(event) is h11.Data:
                body += event.data
            elif type(event) in (h11.EndOfMessage, h11.ConnectionClosed):
                break
        self._leftover = peer.trailing_data[0]
        assert response is not None
        headers = Headers([(n.decode("latin-1"), v.decode("latin-1"))
                           for n, v in response.headers.raw_items()])
        return ClientResponse(response.status_code, response.reason.decode("latin-1"),
                              headers, bytes(body), response.http_version.decode(),
                              tuple(interim))

    def at_eof(self) -> bool:
        """Whether the server closed the connection with nothing more to send."""
        if self._leftover:
            return False
        if not self.closed:
            self.closed = self.connection.receive_until_closed() == b""
        return self.closed


# -- in memory -------------------------------------------------------------------


class MemoryRawConnection:
    def __init__(self, connection: MemoryConnection) -> None:
        self._connection = connection

    def send(self, data: bytes) -> None:
        self._connection.send(data)

    def close_write(self) -> None:
        self._connection.close_write()

    def receive(self) -> bytes:
        return self._connection.receive()

    def receive_until_closed(self) -> bytes:
        # In memory the server has already done all it can; if it still waits
        # for bytes, make that wait time out as a quiet client's would.
        output = self._connection.receive()
        while not self._connection.closed and self._connection.waiting_for is not None:
            self._connection.time_out()
            output += self._connection.receive()
        return output

    def close(self) -> None:
        self._connection.close()


class MemoryServer:
    def __init__(self, client: Client) -> None:
        self.client = client

    def connect(self) -> MemoryRawConnection:
        return MemoryRawConnection(self.client.connect())


class MemoryHarness:
    name = "memory"

    @contextlib.contextmanager
    def serve(self, routes: Any, error_routes: Any = None,
              **options: Any) -> Iterator[MemoryServer]:
        yield MemoryServer(Client(routes, error_routes, **options))


# -- sockets -----------------------------------------------------------------------


class SocketRawConnection:
    def __init__(self, address: tuple[str, int], wrap: Any = None) -> None:
        sock = socket.create_connection(address, timeout=CLIENT_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = wrap(sock) if wrap else sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def receive(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def receive_until_closed(self) -> bytes:
        chunks = []
        while chunk := self.receive():
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()


class SocketServer:
    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    def connect(self) -> SocketRawConnection:
        return SocketRawConnection(self.address)


class ThreadedHarness:
    name = "threaded"

    @contextlib.contextmanager
    def serve(self, routes: Any, error_routes: Any = None,
              **options: Any) -> Iterator[SocketServer]:
        from webpy import HTTPServer

        server = HTTPServer(("127.0.0.1", 0), routes, error_routes, threads=4, **options)
        server.start()
        try:
            yield SocketServer(server.server_address)
        finally:
            server.stop()


HARNESSES: dict[str, Any] = {"memory": MemoryHarness, "threaded": ThreadedHarness}

from harness_trio import TrioHarness, TrioMemoryHarness  # noqa: E402

HARNESSES.update({"trio": TrioHarness, "trio-memory": TrioMemoryHarness})
