"""Routes and byte-level functions shared by the conformance suite.

Everything here goes through `harness.RawConnection`, so a test written with
these functions runs unchanged on every transport.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence
from typing import Any

from harness import Harness, RawConnection, ResponseReader, Server

import webpy as web
from webpy.transports.memory import ClientResponse


class Echo(web.HTTPHandler):
    """Answers GET with the decoded path and query, and writes with the body it got."""

    def do_get(self) -> tuple[int, str]:
        query = "&".join(f"{name}={value}" for name, value in self.request.query.items())
        return 200, f"path={self.request.path} query={query}"

    def do_post(self) -> tuple[int, bytes]:
        return 200, self.request.body

    def do_put(self) -> tuple[int, bytes]:
        return 200, self.request.body

    def helper(self) -> tuple[int, str]:
        return 200, "SECRET helper"

    def get_helper(self) -> tuple[int, str]:
        return 200, "SECRET get_helper"


class Stream(web.HTTPHandler):
    """A body of unknown length: an iterable of bytes."""

    def do_get(self) -> tuple[int, Iterator[bytes]]:
        self.response.headers["Content-Type"] = "text/plain"
        return 200, (b"part %d;" % number for number in range(5))


class Endless(web.HTTPHandler):
    """A body that never ends: for clients that stop reading."""

    def do_get(self) -> tuple[int, Iterator[bytes]]:
        def chunks() -> Iterator[bytes]:
            while True:
                yield b"x" * 65536

        return 200, chunks()


class StreamFails(web.HTTPHandler):
    """A streamed body whose producer fails after the head and one chunk went out."""

    def do_get(self) -> tuple[int, Iterator[bytes]]:
        def pieces() -> Iterator[bytes]:
            yield b"first"
            raise RuntimeError("producer bug for the test")

        return 200, pieces()


class Refuses(web.HTTPHandler):
    """Refuses every request in `prepare`, before any body is read."""

    def prepare(self) -> None:
        raise web.HTTPError(401, headers={"WWW-Authenticate": 'Basic realm="test"'})

    def do_put(self) -> tuple[int, str]:
        return 200, "should not run"


class ReadsNothing(web.HTTPHandler):
    """Streams its body but answers without reading it."""

    stream_request_body = True

    def do_put(self) -> tuple[int, str]:
        return 202, "not read"


class Small(web.HTTPHandler):
    """A resource with its own, smaller body limit."""

    max_body_bytes = 8

    def do_put(self) -> tuple[int, bytes]:
        return 200, self.request.body


class Boom(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        raise RuntimeError("handler bug for the test")


class InjectsHeader(web.HTTPHandler):
    """Sets a header whose value would split the response if written."""

    value = "a\r\nInjected: yes"

    def do_get(self) -> tuple[int, str]:
        self.response.headers["X-Test"] = self.value
        return 200, "must not be sent"


class InjectsNul(InjectsHeader):
    value = "a\x00b"


class InjectsLF(InjectsHeader):
    value = "a\nInjected: yes"


class InjectsName(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        self.response.headers["X-Bad\r\nInjected"] = "yes"
        return 200, "must not be sent"


class InjectsReason(web.HTTPHandler):
    """Returns a reason phrase that would end the status line early if written."""

    def do_get(self) -> tuple[int, str, str]:
        return 200, "OK\r\nInjected: yes", "must not be sent"


ROUTES: dict[str, type[web.HTTPHandler]] = {
    "/stream": Stream,
    "/stream-fails": StreamFails,
    "/refuses": Refuses,
    "/reads-nothing": ReadsNothing,
    "/small": Small,
    "/boom": Boom,
    "/inject/crlf": InjectsHeader,
    "/inject/lf": InjectsLF,
    "/inject/nul": InjectsNul,
    "/inject/name": InjectsName,
    "/inject/reason": InjectsReason,
    "/echo(/.*)?": Echo,
}


class ClosingServer:
    """A served app whose connections are all closed when the test is done with it.

    A connection the client leaves open keeps a server's graceful stop waiting
    for it, so every test closes what it opened, even when an assertion fails.
    """

    def __init__(self, server: Server) -> None:
        self._server = server
        self._connections: list[RawConnection] = []

    def connect(self) -> RawConnection:
        connection = self._server.connect()
        self._connections.append(connection)
        return connection

    def close_all(self) -> None:
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.close()


@contextlib.contextmanager
def serving(harness: Harness, routes: Any = None, error_routes: Any = None,
            **limits: Any) -> Iterator[ClosingServer]:
    """`harness.serve` for `routes` (default `ROUTES`), closing every connection on exit."""
    with harness.serve(routes or ROUTES, error_routes, **limits) as server:
        closing = ClosingServer(server)
        try:
            yield closing
        finally:
            closing.close_all()


def request(method: str, target: str, *headers: str, body: bytes = b"",
            version: str = "1.1") -> bytes:
    """The bytes of one request; `Host` is added for HTTP/1.1."""
    lines = [f"{method} {target} HTTP/{version}"]
    if version == "1.1":
        lines.append("Host: test")
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(server: Server, data: bytes, method: str = "GET"
             ) -> tuple[ClientResponse, ResponseReader]:
    """Open a connection, send `data` in one piece and read the first response."""
    connection = server.connect()
    reader = ResponseReader(connection)
    connection.send(data)
    response = reader.read(method)
    assert response is not None, "the server closed without answering"
    return response, reader


def send_in_pieces(connection: RawConnection, data: bytes, sizes: Sequence[int]) -> None:
    """Send `data` cut into pieces of `sizes` (cycled), as separate writes.

    Stops quietly if the server has already closed: a server that refused a
    head early may reset the rest of it.
    """
    position, index = 0, 0
    while position < len(data):
        size = max(1, sizes[index % len(sizes)])
        try:
            connection.send(data[position:position + size])
        except (BrokenPipeError, ConnectionResetError):
            return
        position += size
        index += 1


def random_sizes(seed: int, count: int = 64, largest: int = 40) -> list[int]:
    """Reproducible piece sizes for splitting a byte stream at random points."""
    generator = random.Random(seed)
    return [generator.randint(1, largest) for _ in range(count)]


def read_informational(connection: RawConnection) -> tuple[bytes, bytes]:
    """Read one interim response head; return its status line and any bytes after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = connection.receive()
        if not piece:
            break
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], rest
