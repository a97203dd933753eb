"""A server of each socket transport, started with options, as its (host, port)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

from harness import ThreadedHarness
from harness_trio import TrioHarness

TRANSPORTS = {"threaded": ThreadedHarness, "trio": TrioHarness}

ServerFactory = Callable[..., contextlib.AbstractContextManager[tuple[str, int]]]
TIMEOUT = 10.0


def factory(transport: str) -> ServerFactory:
    """``with serve(routes, **options) as (host, port):`` on `transport`."""

    @contextlib.contextmanager
    def serve(routes: Any, **options: Any) -> Iterator[tuple[str, int]]:
        with TRANSPORTS[transport]().serve(routes, **options) as server:
            yield server.address

    return serve


def raw_exchange(address: tuple[str, int], data: bytes) -> str:
    """Send `data` on a new connection; the body of the 200 response, read until the close."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return body.decode()
