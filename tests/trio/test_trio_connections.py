"""Connections on the trio transport: backpressure, timeouts, disconnects, limits."""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
import trio.testing
from harness_trio import HANG_TIMEOUT, Reader, connect, fetch, request, run

import webpy as web
from webpy.transports.trio import Server, serve, serve_listeners

MiB = 1024 * 1024
CHUNK = 64 * 1024


def test_slow_reader_does_not_make_the_server_buffer_its_response() -> None:
    produced = 0

    class Big(web.HTTPHandler):
        def do_get(self) -> tuple[int, Iterator[bytes]]:
            def chunks() -> Iterator[bytes]:
                nonlocal produced
                for _ in range(50 * MiB // CHUNK):
                    produced += 1
                    yield b"x" * CHUNK

            return 200, chunks()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(serve, {"/": Big}, "127.0.0.1", 0)
            sock = trio.socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            await sock.connect(addresses[0])
            client = trio.SocketStream(sock)
            await client.send_all(request("GET", "/"))
            received = 0
            while received < MiB:  # the client reads one MiB, then stops reading
                received += len(await client.receive_some(CHUNK))
            await trio.testing.wait_all_tasks_blocked()
            # At most what the kernel's socket buffers hold is ahead: not 50 MiB.
            assert produced * CHUNK - received < 16 * MiB
            tail = b""
            while not tail.endswith(b"\r\n0\r\n\r\n"):
                data = await client.receive_some(MiB)
                assert data, "the response ended early"
                received += len(data)
                tail = (tail + data)[-16:]
            assert produced == 50 * MiB // CHUNK
            assert received > 50 * MiB
            await client.aclose()
            nursery.cancel_scope.cancel()

    run(main)


def test_slow_reader_holds_the_server_to_one_chunk_ahead() -> None:
    produced = 0

    class Big(web.HTTPHandler):
        async def do_get(self) -> tuple[int, AsyncIterator[bytes]]:
            async def chunks() -> AsyncIterator[bytes]:
                nonlocal produced
                for _ in range(1000):
                    produced += 1
                    yield b"x" * CHUNK

            return 200, chunks()

    server = Server({"/": Big})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            # A lockstep pair has no buffer: send_all returns once the client took it all.
            client, server_side = trio.testing.lockstep_stream_pair()
            nursery.start_soon(server.serve_stream, server_side)
            await client.send_all(request("GET", "/"))
            received = 0
            for _ in range(20):
                received += len(await client.receive_some(CHUNK))
                await trio.testing.wait_all_tasks_blocked()
                assert produced * CHUNK <= received + 2 * CHUNK
            await client.aclose()

    run(main)


def test_client_disconnecting_midway_costs_a_debug_line_and_closes_the_body(
        caplog: pytest.LogCaptureFixture) -> None:
    started = trio.Event()
    closed = threading.Event()

    class Endless(web.HTTPHandler):
        def do_get(self) -> tuple[int, Iterator[bytes]]:
            def chunks() -> Iterator[bytes]:
                try:
                    trio.from_thread.run_sync(started.set)
                    while True:
                        yield b"x" * CHUNK
                finally:
                    closed.set()

            return 200, chunks()

    class Hello(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 200, "still serving"

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(serve, {"/endless": Endless, "/": Hello},
                                            "127.0.0.1", 0)
            client = await trio.open_tcp_stream(*addresses[0])
            await client.send_all(request("GET", "/endless"))
            await started.wait()
            await client.receive_some(CHUNK)
            # Close with a reset, as a client that crashes does.
            client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await client.aclose()
            assert await trio.to_thread.run_sync(closed.wait, HANG_TIMEOUT)
            other = await trio.open_tcp_stream(*addresses[0])
            await other.send_all(request("GET", "/"))
            response = await Reader(other).response()
            assert response is not None and response.text == "still serving"
            await other.aclose()
            nursery.cancel_scope.cancel()

    with caplog.at_level(logging.DEBUG, logger="webpy"):
        run(main)
    assert [record.levelno for record in caplog.records if record.name == "webpy"] \
        in ([], [logging.DEBUG])


def test_async_body_is_closed_when_the_client_goes_away() -> None:
    finished = trio.Event()
    bodies: list[AsyncIterator[bytes]] = []  # kept alive: closing must not wait for the GC

    class Endless(web.HTTPHandler):
        async def do_get(self) -> tuple[int, AsyncIterator[bytes]]:
            async def chunks() -> AsyncIterator[bytes]:
                try:
                    while True:
                        await trio.sleep(0)
                        yield b"x" * 1024
                finally:
                    finished.set()

            bodies.append(chunks())
            return 200, bodies[-1]

    server = Server({"/": Endless})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            client = connect(server, nursery)
            await client.send_all(request("GET", "/"))
            await client.receive_some(1024)
            await client.aclose()
            await finished.wait()

    run(main)


def test_head_trickled_byte_by_byte_still_times_out() -> None:
    server = Server({}, head_timeout=1.0)

    async def trickle(client: trio.abc.Stream, data: bytes) -> None:
        for index in range(len(data)):  # each byte comes well within the timeout
            try:
                await client.send_all(data[index:index + 1])
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # the server (or the test, done) closed the connection
            await trio.sleep(0.3)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            client = connect(server, nursery)
            nursery.start_soon(trickle, client, request("GET", "/"))
            # The whole head arrives eventually; were it not timed as a whole, it would get 404.
            response = await Reader(client).response()
            assert response is not None and response.status == 408
            assert response.headers["connection"] == "close"
            await client.aclose()

    run(main, mock_clock=True)


def test_stalled_streamed_body_gets_408_from_the_handler() -> None:
    class Upload(web.HTTPHandler):
        stream_request_body = True

        async def do_post(self) -> tuple[int, bytes]:
            assert self.request.stream is not None
            return 200, await self.request.stream.read()

    server = Server({"/": Upload}, body_timeout=3.0)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            client = connect(server, nursery)
            await client.send_all(request("POST", "/", b"0123456789")[:-5])
            response = await Reader(client).response("POST")
            assert response is not None and response.status == 408

    run(main, mock_clock=True)


def test_client_that_stops_reading_is_dropped_after_write_timeout(
        caplog: pytest.LogCaptureFixture) -> None:
    class Big(web.HTTPHandler):
        async def do_get(self) -> tuple[int, bytes]:
            return 200, b"x" * MiB

    server = Server({"/": Big}, write_timeout=7.0)

    async def main() -> None:
        # A lockstep pair has no buffer: a client that never reads blocks every write.
        client, server_side = trio.testing.lockstep_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve_stream, server_side)
            await client.send_all(request("GET", "/"))
        # serve_stream returned: the server gave up on the client.
        await client.aclose()

    with caplog.at_level(logging.DEBUG, logger="webpy"):
        run(main, mock_clock=True)
    assert any("TooSlowError" in record.getMessage() for record in caplog.records)


def test_serve_listeners_serves_caller_made_listeners() -> None:
    class Hello(web.HTTPHandler):
        async def do_get(self) -> tuple[int, str]:
            return 200, f"hello {self.request.client and self.request.client[0]}"

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        async with trio.open_nursery() as nursery:
            started = await nursery.start(serve_listeners, {"/": Hello}, listeners)
            assert list(started) == listeners
            client = await trio.open_tcp_stream(*listeners[0].socket.getsockname())
            await client.send_all(request("GET", "/"))
            response = await Reader(client).response()
            assert response is not None and response.text == "hello 127.0.0.1"
            await client.aclose()
            nursery.cancel_scope.cancel()

    run(main)


def test_file_body_is_sent_from_its_position_in_pieces(tmp_path: Path) -> None:
    data = bytes(range(256)) * (5 * MiB // 256) + b"tail"
    path = tmp_path / "data.bin"
    path.write_bytes(data)

    class Download(web.HTTPHandler):
        async def do_get(self) -> tuple[int, object]:
            file = path.open("rb")
            file.seek(100)
            return 200, file

    server = Server({"/": Download})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            response = await fetch(server, nursery, "GET", "/")
            assert response.headers["content-length"] == str(len(data) - 100)
            assert response.body == data[100:]

    run(main)
