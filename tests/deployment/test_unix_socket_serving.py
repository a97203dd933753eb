"""Serving HTTP on a unix domain socket made by `listeners.unix`, over trio."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

import webpy as web
from webpy.transports import listeners
from webpy.transports.trio import Server

TIMEOUT = 10.0


class WhoAmI(web.HTTPHandler):
    def do_get(self):  # type: ignore[no-untyped-def]
        return 200, f"client={self.request.client} scheme={self.request.scheme}"


@pytest.fixture
def socket_path() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="webpy-")  # short: unix paths are at most 107 bytes
    yield os.path.join(directory, "web.sock")
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    os.rmdir(directory)


def serve_and_get(path: str, mode: int) -> tuple[httpx.Response, int]:
    """Serve on a fresh unix socket at `path`; GET / over it with httpx; stop."""
    sock = listeners.unix(path, mode=mode)
    file_mode = stat.S_IMODE(os.stat(path).st_mode)

    async def main() -> httpx.Response:
        server = Server({"/": WhoAmI})
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve_listeners, [listener])

            def get() -> httpx.Response:
                transport = httpx.HTTPTransport(uds=path)
                with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
                    return client.get("http://localhost/")

            response = await trio.to_thread.run_sync(get)
            nursery.cancel_scope.cancel()
        return response

    return trio.run(main), file_mode


def test_http_over_a_unix_socket_with_its_mode(socket_path: str) -> None:
    response, mode = serve_and_get(socket_path, 0o660)
    assert mode == 0o660
    assert response.status_code == 200
    assert response.text == "client=None scheme=http"  # a unix peer has no address


def test_server_restarted_on_the_same_path_replaces_its_stale_socket(socket_path: str) -> None:
    first, _ = serve_and_get(socket_path, 0o600)
    assert Path(socket_path).exists()  # left behind by the stopped server
    second, mode = serve_and_get(socket_path, 0o666)
    assert first.status_code == second.status_code == 200
    assert mode == 0o666
