"""Async and plain handlers on the trio transport: concurrency, ordering, streaming."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import trio
import trio.testing
from harness_trio import HANG_TIMEOUT, Reader, connect, fetch, load_example, request, run

import webpy as web
from webpy.transports.trio import AsyncBodyStream, Server


def test_async_sleep_example_sleeps_concurrently() -> None:
    example = load_example("async_sleep")
    server = Server(example["routes"])
    clients = 10
    bodies: list[bytes] = []

    async def one(nursery: trio.Nursery) -> None:
        response = await fetch(server, nursery, "GET", "/sleep?seconds=5")
        assert response.status == 200
        bodies.append(response.body)

    async def main() -> None:
        async with trio.open_nursery() as servers:
            async with trio.open_nursery() as nursery:
                for _ in range(clients):
                    nursery.start_soon(one, servers)
            servers.cancel_scope.cancel()

    run(main, mock_clock=True)
    assert len(bodies) == clients
    # The first to wake found every request asleep: none waited for another.
    together = [int(body.split(b"; ")[1].split()[0]) for body in bodies]
    assert max(together) == clients
    assert example["Sleep"].asleep == 0


def test_async_sleep_example_rejects_a_bad_duration() -> None:
    server = Server(load_example("async_sleep")["routes"])

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            assert (await fetch(server, nursery, "GET", "/sleep?seconds=x")).status == 400
            assert (await fetch(server, nursery, "GET", "/sleep?seconds=-1")).status == 400

    run(main, mock_clock=True)


def test_plain_handler_in_a_thread_does_not_block_async_handlers() -> None:
    release = threading.Event()
    entered = trio.Event()

    class Blocking(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            trio.from_thread.run_sync(entered.set)
            assert release.wait(HANG_TIMEOUT)
            return 200, "blocking done"

    class Quick(web.HTTPHandler):
        async def do_get(self) -> tuple[int, str]:
            await trio.sleep(0)
            return 200, "quick"

    server = Server({"/blocking": Blocking, "/quick": Quick})
    order: list[str] = []

    async def blocking(nursery: trio.Nursery) -> None:
        response = await fetch(server, nursery, "GET", "/blocking")
        order.append(response.text)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocking, nursery)
            await entered.wait()
            order.append((await fetch(server, nursery, "GET", "/quick")).text)
            release.set()

    run(main)
    assert order == ["quick", "blocking done"]


def test_async_readers_of_one_resource_run_together() -> None:
    readers = 5
    inside = 0
    all_inside = trio.Event()

    class Shared(web.HTTPHandler):
        async def do_get(self) -> tuple[int, str]:
            nonlocal inside
            inside += 1
            if inside == readers:
                all_inside.set()
            await all_inside.wait()  # hangs unless every reader is in at once
            return 200, "read"

    server = Server({"/r": Shared})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(readers):
                nursery.start_soon(fetch, server, nursery, "GET", "/r")

    run(main)
    assert all_inside.is_set()


def _ordered_routes(log: list[str], release: trio.Event) -> dict[str, type[web.HTTPHandler]]:
    class Resource(web.HTTPHandler):
        async def do_get(self) -> tuple[int, str]:
            name = self.request.query.get("name") or "get"
            log.append(f"{name} start")
            if name == "first":
                await release.wait()
            await trio.sleep(0)
            log.append(f"{name} end")
            return 200, name

        async def do_put(self) -> tuple[int, str]:
            log.append("put start")
            await trio.sleep(0)
            log.append("put end")
            return 200, "put"

    return {"/r/.*": Resource}


def test_async_writer_waits_for_readers_and_holds_back_later_ones() -> None:
    log: list[str] = []
    release = trio.Event()
    server = Server(_ordered_routes(log, release))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fetch, server, nursery, "GET", "/r/a?name=first")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(fetch, server, nursery, "PUT", "/r/a", b"x")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(fetch, server, nursery, "GET", "/r/a?name=later")
            await trio.testing.wait_all_tasks_blocked()
            # Another resource is not held up by any of this.
            assert (await fetch(server, nursery, "GET", "/r/b?name=other")).text == "other"
            assert log == ["first start", "other start", "other end"]
            release.set()

    run(main)
    assert log[3:] == ["first end", "put start", "put end", "later start", "later end"]


def test_plain_writer_waits_for_a_plain_reader_of_its_resource() -> None:
    log: list[str] = []
    log_lock = threading.Lock()
    release = threading.Event()
    reading = trio.Event()

    class Resource(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            self._note("get start")
            trio.from_thread.run_sync(reading.set)
            assert release.wait(HANG_TIMEOUT)
            self._note("get end")
            return 200, "got"

        def do_put(self) -> tuple[int, str]:
            self._note("put start")
            self._note("put end")
            return 200, "put"

        def _note(self, entry: str) -> None:
            with log_lock:
                log.append(entry)

    server = Server({"/r": Resource})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fetch, server, nursery, "GET", "/r")
            await reading.wait()
            nursery.start_soon(fetch, server, nursery, "PUT", "/r", b"x")
            await trio.testing.wait_all_tasks_blocked()
            with log_lock:
                assert log == ["get start"]
            release.set()

    run(main)
    assert log == ["get start", "get end", "put start", "put end"]


def test_async_handler_reads_its_body_as_it_arrives() -> None:
    first_piece = trio.Event()

    class Upload(web.HTTPHandler):
        stream_request_body = True

        async def do_post(self) -> tuple[int, str]:
            stream = self.request.stream
            assert isinstance(stream, AsyncBodyStream)
            head = await stream.read(5)
            first_piece.set()
            rest = [piece async for piece in stream]
            return 200, f"{head.decode()}|{b''.join(rest).decode()}"

    server = Server({"/upload": Upload})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            client = connect(server, nursery)
            data = request("POST", "/upload", b"hello world")
            await client.send_all(data[:-6])  # the head and "hello"
            await first_piece.wait()  # read before the rest was even sent
            await client.send_all(data[-6:])
            response = await Reader(client).response("POST")
            assert response is not None and response.text == "hello| world"
            await client.aclose()

    run(main)


def test_plain_handler_reads_its_body_as_it_arrives() -> None:
    first_piece = trio.Event()

    class Upload(web.HTTPHandler):
        stream_request_body = True

        def do_post(self) -> tuple[int, str]:
            stream = self.request.stream
            assert stream is not None
            head = stream.read(5)
            trio.from_thread.run_sync(first_piece.set)
            return 200, f"{head.decode()}|{stream.read().decode()}"

    server = Server({"/upload": Upload})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            client = connect(server, nursery)
            data = request("POST", "/upload", b"", ("Transfer-Encoding", "chunked"))
            await client.send_all(data + b"3\r\nabc\r\n2\r\nde\r\n")
            await first_piece.wait()
            await client.send_all(b"2\r\nfg\r\n0\r\n\r\n")
            response = await Reader(client).response("POST")
            assert response is not None
            first, rest = response.text.split("|")
            assert first in ("abc", "abcde") and first + rest == "abcdefg"
            await client.aclose()

    run(main)


def test_streamed_body_gets_100_continue_on_its_first_read() -> None:
    class Upload(web.HTTPHandler):
        stream_request_body = True

        async def do_put(self) -> tuple[int, bytes]:
            assert self.request.stream is not None
            return 200, await self.request.stream.read()

    server = Server({"/": Upload})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            client = connect(server, nursery)
            await client.send_all(request("PUT", "/", b"", ("Expect", "100-continue"),
                                          ("Content-Length", "4")))
            reader = Reader(client)
            interim = await client.receive_some(65536)
            assert interim.startswith(b"HTTP/1.1 100 ")
            await client.send_all(b"data")
            response = await reader.response("PUT")
            assert response is not None and response.body == b"data"
            await client.aclose()

    run(main)


def test_streamed_body_over_its_limit_is_refused_with_413() -> None:
    class Upload(web.HTTPHandler):
        stream_request_body = True
        max_body_bytes = 4

        async def do_post(self) -> tuple[int, bytes]:
            assert self.request.stream is not None
            return 200, await self.request.stream.read()

    server = Server({"/": Upload})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            response = await fetch(server, nursery, "POST", "/", b"too long")
            assert response.status == 413

    run(main)


def test_async_iterable_body_is_sent_chunked_in_order() -> None:
    class Counting(web.HTTPHandler):
        async def do_get(self) -> tuple[int, AsyncIterator[bytes]]:
            async def count() -> AsyncIterator[bytes]:
                for number in range(5):
                    await trio.sleep(0)
                    yield b"%d;" % number

            return 200, count()

    server = Server({"/": Counting})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            response = await fetch(server, nursery, "GET", "/")
            assert response.headers["transfer-encoding"] == "chunked"
            assert response.body == b"0;1;2;3;4;"

    run(main)


def test_plain_handler_may_return_an_async_iterable() -> None:
    class Lines(web.HTTPHandler):
        def do_get(self) -> tuple[int, AsyncIterator[bytes]]:
            async def lines() -> AsyncIterator[bytes]:
                yield b"one\n"
                yield b"two\n"

            return 200, lines()

    server = Server({"/": Lines})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            assert (await fetch(server, nursery, "GET", "/")).body == b"one\ntwo\n"

    run(main)


def test_async_body_failing_midway_cuts_the_response_short() -> None:
    class Broken(web.HTTPHandler):
        async def do_get(self) -> tuple[int, AsyncIterator[bytes]]:
            async def broken() -> AsyncIterator[bytes]:
                yield b"start"
                raise RuntimeError("the database went away")

            return 200, broken()

    server = Server({"/": Broken})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            client = connect(server, nursery)
            await client.send_all(request("GET", "/"))
            data = await Reader(client).rest()
            assert data.startswith(b"HTTP/1.1 200 ")
            assert not data.endswith(b"0\r\n\r\n")  # no last chunk: the client sees it failed

    run(main)


def test_blocking_sync_body_does_not_block_other_connections() -> None:
    release = threading.Event()
    first_sent = trio.Event()

    class Slow(web.HTTPHandler):
        def do_get(self) -> tuple[int, Iterator[bytes]]:
            def pieces() -> Iterator[bytes]:
                yield b"first;"
                trio.from_thread.run_sync(first_sent.set)
                assert release.wait(HANG_TIMEOUT)
                yield b"second"

            return 200, pieces()

    class Quick(web.HTTPHandler):
        async def do_get(self) -> tuple[int, str]:
            return 200, "quick"

    server = Server({"/slow": Slow, "/quick": Quick})
    order: list[str] = []

    async def slow(nursery: trio.Nursery) -> None:
        order.append((await fetch(server, nursery, "GET", "/slow")).text)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow, nursery)
            await first_sent.wait()
            order.append((await fetch(server, nursery, "GET", "/quick")).text)
            release.set()

    run(main)
    assert order == ["quick", "first;second"]


def test_async_handler_error_is_a_500_and_the_server_carries_on() -> None:
    class Failing(web.HTTPHandler):
        async def do_get(self) -> tuple[int, str]:
            await trio.sleep(0)
            raise ValueError("bug")

        async def do_put(self) -> tuple[int, str]:
            raise web.HTTPError(409, "conflict")

    server = Server({"/": Failing})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            assert (await fetch(server, nursery, "GET", "/")).status == 500
            assert (await fetch(server, nursery, "PUT", "/", b"x")).status == 409

    run(main)


def test_async_head_is_answered_from_do_get_without_a_body() -> None:
    class Page(web.HTTPHandler):
        async def do_get(self) -> tuple[int, str]:
            return 200, "page"

    server = Server({"/": Page})

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            response = await fetch(server, nursery, "HEAD", "/")
            assert response.headers["content-length"] == "4"
            assert response.body == b""

    run(main)
