"""TLS on the trio transport, over real TCP, with certificates from trustme."""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from harness_trio import HANG_TIMEOUT, Reader, request, run

import webpy as web
from webpy.transports.trio import serve, url


class Whoami(web.HTTPHandler):
    async def do_get(self) -> tuple[int, str]:
        client = self.request.client
        return 200, f"{self.request.scheme} {client and client[1]}"

    def do_post(self) -> tuple[int, bytes]:
        return 200, self.request.body


class Streams(web.HTTPHandler):
    async def do_get(self) -> tuple[int, AsyncIterator[bytes]]:
        async def pieces() -> AsyncIterator[bytes]:
            for _ in range(64):
                yield b"y" * 16384

        return 200, pieces()


ROUTES = {"/": Whoami, "/stream": Streams}


def _serving(context: ssl.SSLContext, **options: Any
             ) -> functools.partial[Coroutine[Any, Any, None]]:
    return functools.partial(serve, ROUTES, "127.0.0.1", 0, ssl_context=context, **options)


def test_https_requests_share_one_kept_alive_connection(
        server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext) -> None:
    def client(base: str) -> list[httpx.Response]:
        with httpx.Client(verify=client_ssl_context, timeout=HANG_TIMEOUT) as session:
            return [session.get(base), session.post(base, content=b"secret"),
                    session.get(base + "stream"), session.get(base)]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(_serving(server_ssl_context))
            first, posted, streamed, last = await trio.to_thread.run_sync(
                client, url(addresses[0], "https"))
            assert first.status_code == 200 and first.text.startswith("https ")
            assert posted.text == "secret"
            assert streamed.content == b"y" * 16384 * 64
            assert last.text == first.text  # the same client port: one connection
            nursery.cancel_scope.cancel()

    run(main)


def test_stalled_handshake_does_not_delay_other_clients(
        server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(_serving(server_ssl_context))
            stalled = await trio.open_tcp_stream(*addresses[0])  # says nothing at all
            response = await trio.to_thread.run_sync(functools.partial(
                httpx.get, url(addresses[0], "https"), verify=client_ssl_context,
                timeout=HANG_TIMEOUT))
            assert response.status_code == 200
            await stalled.aclose()
            nursery.cancel_scope.cancel()

    run(main)


def test_unfinished_handshake_is_closed_after_the_keepalive_timeout(
        server_ssl_context: ssl.SSLContext) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(_serving(server_ssl_context, keepalive_timeout=0.2))
            stalled = await trio.open_tcp_stream(*addresses[0])
            assert await stalled.receive_some(1) == b""  # closed by the server
            await stalled.aclose()
            nursery.cancel_scope.cancel()

    run(main)


def test_plain_http_on_a_tls_port_is_closed_with_only_a_debug_line(
        server_ssl_context: ssl.SSLContext, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(_serving(server_ssl_context))
            plain = await trio.open_tcp_stream(*addresses[0])
            await plain.send_all(request("GET", "/"))
            try:  # a TLS alert, then the close (or a reset)
                while await plain.receive_some(65536):
                    pass
            except trio.BrokenResourceError:
                pass
            await plain.aclose()
            nursery.cancel_scope.cancel()

    with caplog.at_level(logging.DEBUG, logger="webpy"):
        run(main)
    levels = {record.levelno for record in caplog.records if record.name == "webpy"}
    assert levels == {logging.DEBUG}


def test_raw_tls_client_reads_a_response_and_the_close(
        server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(_serving(server_ssl_context))
            host, port = addresses[0]
            client = await trio.open_ssl_over_tcp_stream(
                host, port, ssl_context=client_ssl_context, https_compatible=True)
            await client.send_all(request("GET", "/", b"", ("Connection", "close")))
            reader = Reader(client)
            response = await reader.response()
            assert response is not None and response.text.startswith("https ")
            assert await reader.rest() == b""
            await client.aclose()
            nursery.cancel_scope.cancel()

    run(main)


def test_file_body_over_tls(server_ssl_context: ssl.SSLContext,
                            client_ssl_context: ssl.SSLContext, tmp_path: Path) -> None:
    data = b"0123456789abcdef" * 100_000
    path = tmp_path / "data.bin"
    path.write_bytes(data)

    class Download(web.HTTPHandler):
        def do_get(self) -> tuple[int, object]:
            return 200, path.open("rb")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(functools.partial(
                serve, {"/": Download}, "127.0.0.1", 0, ssl_context=server_ssl_context))
            response = await trio.to_thread.run_sync(functools.partial(
                httpx.get, url(addresses[0], "https"), verify=client_ssl_context,
                timeout=HANG_TIMEOUT))
            assert response.content == data
            nursery.cancel_scope.cancel()

    run(main)
