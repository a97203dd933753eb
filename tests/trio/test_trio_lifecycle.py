"""Starting and stopping the trio server: readiness, graceful shutdown, the CLI."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading

import httpx
import pytest
import trio
from harness_trio import EXAMPLES, HANG_TIMEOUT, MemoryListener, Reader, request, run

import webpy as web
from webpy.transports.trio import serve, serve_listeners


class Hello(web.HTTPHandler):
    async def do_get(self) -> tuple[int, str]:
        return 200, "hello"


def test_serve_reports_its_bound_address_once_ready() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(serve, {"/": Hello}, "127.0.0.1", 0)
            [(host, port)] = addresses
            assert host == "127.0.0.1" and port > 0
            client = await trio.open_tcp_stream(host, port)  # accepting already
            await client.send_all(request("GET", "/"))
            response = await Reader(client).response()
            assert response is not None and response.text == "hello"
            await client.aclose()
            nursery.cancel_scope.cancel()

    run(main)


def test_request_in_flight_finishes_after_the_server_is_cancelled() -> None:
    entered, release = trio.Event(), trio.Event()

    class Slow(web.HTTPHandler):
        async def do_get(self) -> tuple[int, str]:
            entered.set()
            await release.wait()
            return 200, "finished"

    serving = trio.CancelScope()
    stopped = trio.Event()

    async def run_server(task_status: trio.TaskStatus[list[tuple[str, int]]]) -> None:
        with serving:
            await serve({"/": Slow}, "127.0.0.1", 0, grace_period=HANG_TIMEOUT,
                        task_status=task_status)
        stopped.set()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            [address] = await nursery.start(run_server)
            client = await trio.open_tcp_stream(*address)
            await client.send_all(request("GET", "/"))
            await entered.wait()
            serving.cancel()
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(OSError):  # no longer accepting...
                await trio.open_tcp_stream(*address)
            assert not stopped.is_set()
            release.set()  # ... but the request in flight completes
            response = await Reader(client).response()
            assert response is not None and response.text == "finished"
            await stopped.wait()
            await client.aclose()

    run(main)


def test_plain_handler_in_flight_finishes_after_the_server_is_cancelled() -> None:
    entered, release = threading.Event(), threading.Event()

    class Slow(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            entered.set()
            assert release.wait(HANG_TIMEOUT)
            return 200, "finished"

    listener = MemoryListener()
    serving = trio.CancelScope()

    async def run_server(task_status: trio.TaskStatus[object]) -> None:
        with serving:
            await serve_listeners({"/": Slow}, [listener], grace_period=HANG_TIMEOUT,
                                  task_status=task_status)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_server)
            client = await listener.connect()
            await client.send_all(request("GET", "/"))
            await trio.to_thread.run_sync(entered.wait, HANG_TIMEOUT)
            serving.cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert listener.closed
            release.set()
            response = await Reader(client).response()
            assert response is not None and response.text == "finished"

    run(main)


def test_idle_connections_close_at_once_when_the_server_stops() -> None:
    listener = MemoryListener()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(
                serve_listeners, {"/": Hello}, [listener], keepalive_timeout=1000 * HANG_TIMEOUT,
                grace_period=1000 * HANG_TIMEOUT))
            idle = await listener.connect()
            await idle.send_all(request("GET", "/"))
            reader = Reader(idle)
            assert await reader.response() is not None
            fresh = await listener.connect()  # connected, but has sent nothing yet
            nursery.cancel_scope.cancel()
        # serve_listeners returned well before either timeout...
        assert await reader.rest() == b""  # ... having closed both connections
        assert await Reader(fresh).rest() == b""

    run(main)


def test_request_still_running_when_the_grace_period_ends_is_cancelled() -> None:
    entered = trio.Event()
    outcome: list[str] = []

    class Stuck(web.HTTPHandler):
        async def do_get(self) -> tuple[int, str]:
            entered.set()
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                outcome.append("cancelled")
                raise
            return 200, "never"

    listener = MemoryListener()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(
                serve_listeners, {"/": Stuck}, [listener], grace_period=3.0))
            client = await listener.connect()
            await client.send_all(request("GET", "/"))
            await entered.wait()
            nursery.cancel_scope.cancel()
        assert outcome == ["cancelled"]
        assert await Reader(client).rest() == b""  # closed without a response

    run(main, mock_clock=True)


def test_serve_listeners_closes_its_listeners_when_cancelled() -> None:
    listeners = [MemoryListener(), MemoryListener()]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_listeners, {"/": Hello}, listeners)
            for listener in listeners:
                client = await listener.connect()
                await client.send_all(request("GET", "/"))
                assert (await Reader(client).response()) is not None
                await client.aclose()
            nursery.cancel_scope.cancel()
        assert all(listener.closed for listener in listeners)

    run(main)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_with_trio_and_stops_cleanly_on_a_signal(signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "webpy", "--app", "async_sleep:routes", "--transport", "trio",
         "--bind", "127.0.0.1", "--port", "0"],
        cwd=EXAMPLES, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Serving async_sleep:routes on http://127.0.0.1:")
        base = line.split(" on ")[1].split()[0]
        assert not base.endswith(":0/")  # the real port
        response = httpx.get(base + "sleep?seconds=0", timeout=HANG_TIMEOUT)
        assert response.status_code == 200
        process.send_signal(signum)
        assert process.wait(HANG_TIMEOUT) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
