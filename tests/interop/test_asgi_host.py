"""ASGI applications hosted on webpy's trio transport: Starlette, FastAPI and the spec's details."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trio

from webpy.app import asgi
from webpy.transports.trio import serve, url

from .support import TIMEOUT, running_trio

pytest.importorskip("starlette", reason="starlette not installed")
pytest.importorskip("fastapi", reason="fastapi not installed")

from . import asgi_apps


async def _host(app: Any, prefix: str, options: dict[str, Any], stopped: threading.Event,
                task_status: trio.TaskStatus[Any]) -> None:
    """Lifespan around the trio server; reports (base URL, the server's cancel scope, token)."""
    try:
        async with asgi.Lifespan(app) as lifespan, trio.open_nursery() as nursery:
            routes = asgi.mount(prefix, app, lifespan=lifespan, **options)
            addresses = await nursery.start(functools.partial(
                serve, routes, "127.0.0.1", 0, grace_period=1.0))
            task_status.started((url(addresses[0]), nursery.cancel_scope,
                                 trio.lowlevel.current_trio_token()))
    finally:
        stopped.set()


@contextlib.contextmanager
def hosted(app: Any, prefix: str = "/", **options: Any) -> Iterator[tuple[str, Any]]:
    """Serve `app` at `prefix`; yield (base URL, a function that stops the server gracefully).

    `stop()` returns once the lifespan's shut-down has run.
    """
    stopped = threading.Event()
    start = functools.partial(_host, app, prefix, options, stopped)
    with running_trio(start) as (base, scope, token):
        def stop() -> None:
            trio.from_thread.run_sync(scope.cancel, trio_token=token)
            assert stopped.wait(TIMEOUT), "the server did not stop"

        yield base, stop


# -- Starlette -------------------------------------------------------------------------------


def test_starlette_json_with_lifespan_state_and_mount() -> None:
    with hosted(asgi_apps.starlette_app, "/star") as (base, _):
        response = httpx.get(base + "star/", timeout=TIMEOUT)
    assert response.json() == {"greeting": "hello from lifespan", "root_path": "/star",
                               "path": "/star/"}


def test_starlette_request_body_streams_in_and_streaming_response_out() -> None:
    data = os.urandom(300_000)
    with hosted(asgi_apps.starlette_app) as (base, _), httpx.Client(timeout=TIMEOUT) as client:
        sized = client.post(base + "echo", content=data).json()
        chunked = client.post(base + "echo", content=iter([data[:1000], data[1000:]])).json()
        with client.stream("GET", base + "numbers?count=500") as response:
            assert response.headers["transfer-encoding"] == "chunked"
            text = response.read().decode()
        sync = client.get(base + "sync").text
        tagged = client.get(base + "numbers?count=3").headers["x-through-middleware"]
    expected = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert tagged == "yes"  # BaseHTTPMiddleware streams the body from a task of its own
    assert sized == expected
    assert chunked == expected
    assert text.split() == [str(number) for number in range(500)]
    assert sync == "sync in a thread: True"


def test_starlette_background_task_runs_after_the_response() -> None:
    asgi_apps.background_done.clear()
    with hosted(asgi_apps.starlette_app) as (base, _):
        response = httpx.get(base + "background", timeout=TIMEOUT)
        assert response.text == "sent first"
        assert asgi_apps.background_done.wait(TIMEOUT)
    assert "ran after" in asgi_apps.events


def test_starlette_lifespan_shutdown_runs_when_the_server_stops() -> None:
    asgi_apps.events.clear()
    with hosted(asgi_apps.starlette_app) as (base, stop):
        assert httpx.get(base, timeout=TIMEOUT).status_code == 200
        assert asgi_apps.events == ["starlette started"]
        stop()
    assert asgi_apps.events == ["starlette started", "starlette stopped"]


# -- FastAPI ---------------------------------------------------------------------------------


def test_fastapi_json_validation_streaming_background_and_lifespan() -> None:
    asgi_apps.events.clear()
    asgi_apps.background_done.clear()
    with hosted(asgi_apps.fastapi_app) as (base, stop), httpx.Client(timeout=TIMEOUT) as client:
        assert asgi_apps.events == ["fastapi started"]
        stored = client.put(base + "items/7", json={"name": "pen", "price": 1.5})
        invalid = client.put(base + "items/7", json={"name": "pen"})
        fetched = client.get(base + "items/7")
        with client.stream("GET", base + "stream?count=4") as response:
            streamed = response.read()
        queued = client.post(base + "notify")
        assert asgi_apps.background_done.wait(TIMEOUT)
        stop()
    assert stored.json() == {"id": 7, "name": "pen", "price": 1.5}
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "price"]
    assert fetched.json() == {"name": "pen", "price": 1.5}
    assert streamed == b"word0 word1 word2 word3 "
    assert queued.json() == {"queued": "yes"}
    assert asgi_apps.events == ["fastapi started", "fastapi background ran", "fastapi stopped"]


# -- the spec's details, with plain ASGI applications -------------------------------------------


def test_more_body_marks_every_piece_but_the_last() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("no lifespan here")  # allowed: the server carries on without
        flags = []
        while True:
            message = await receive()
            flags.append([len(message["body"]), message["more_body"]])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(flags).encode()})

    pieces = [b"a" * 100_000, b"b" * 100_000, b"c"]
    with hosted(app) as (base, _):
        result = httpx.post(base, content=iter(pieces), timeout=TIMEOUT).json()
    assert result[-1][1] is False
    assert all(more for _, more in result[:-1])
    assert sum(size for size, _ in result) == 200_001


def test_message_ordering_errors_are_raised_in_the_application() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        errors = []
        try:
            await send({"type": "http.response.body", "body": b"too early"})
        except RuntimeError as error:
            errors.append(str(error))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        except RuntimeError as error:
            errors.append(str(error))
        await send({"type": "http.response.body", "body": "\n".join(errors).encode()})
        try:
            await send({"type": "http.response.body", "body": b"after the end"})
        except RuntimeError:
            pass
        else:
            raise AssertionError("a body after the last one was accepted")

    with hosted(app) as (base, _):
        text = httpx.get(base, timeout=TIMEOUT).text
    first, second = text.split("\n")
    assert "'http.response.body' sent; expected http.response.start" in first
    assert "'http.response.start' sent; expected http.response.body" in second


def test_send_raises_oserror_and_receive_says_disconnect_once_the_client_has_gone() -> None:
    seen: list[str] = []
    finished = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x" * 65536,
                            "more_body": True})
        except OSError as error:
            seen.append(type(error).__name__)
            seen.append((await receive())["type"])
        finally:
            finished.set()

    with hosted(app) as (base, _):
        host, port = base.removeprefix("http://").rstrip("/").split(":")
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert finished.wait(TIMEOUT)
    assert seen == ["ClientDisconnected", "http.disconnect"]


def test_an_application_that_fails_before_responding_is_a_logged_500() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise KeyError("broken app")

    async def silent(scope: dict[str, Any], receive: Any, send: Any) -> None:
        return None

    with hosted(app) as (base, _):
        assert httpx.get(base, timeout=TIMEOUT).status_code == 500
    with hosted(silent) as (base, _):
        assert httpx.get(base, timeout=TIMEOUT).status_code == 500


def test_a_body_over_the_limit_is_413_whatever_the_application_answers() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (message := await receive())["type"] == "http.request" and message["more_body"]:
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"fine"})

    with hosted(app, max_body_bytes=1000) as (base, _), httpx.Client(timeout=TIMEOUT) as client:
        assert client.post(base, content=iter([b"x" * 600, b"x" * 600])).status_code == 413
        assert client.post(base, content=b"x" * 1001).status_code == 413
        assert client.post(base, content=b"x" * 1000).text == "fine"


def test_head_gets_the_length_of_get_without_a_body() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"hello"})

    with hosted(app) as (base, _), httpx.Client(timeout=TIMEOUT) as client:
        head = client.head(base)
        get = client.get(base)
    assert head.headers["content-length"] == "5"
    assert head.content == b""
    assert get.content == b"hello"


def test_lifespan_startup_failure_raises_with_the_applications_message() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})

    async def main() -> None:
        async with asgi.Lifespan(app):
            raise AssertionError("served although start-up failed")

    with pytest.raises(asgi.LifespanFailure, match="startup failed: database unreachable"):
        trio.run(main)


def test_lifespan_shutdown_failure_raises_with_the_applications_message() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})

    async def main() -> None:
        async with asgi.Lifespan(app):
            pass

    with pytest.raises(asgi.LifespanFailure, match="shutdown failed: flush failed"):
        trio.run(main)


def test_receive_after_the_body_waits_on_the_transports_disconnect_signal() -> None:
    # The contract asked of the transport (wait_disconnected on the body stream), played here
    # by a wrapper whose signal the test gives: receive() returns http.disconnect only then.
    signal_ready = threading.Event()
    state: dict[str, Any] = {}

    class Signalled:
        def __init__(self, stream: Any) -> None:
            self._stream = stream

        async def read(self, size: int = -1) -> bytes:
            return await self._stream.read(size)  # type: ignore[no-any-return]

        async def wait_disconnected(self) -> None:
            state["gone"] = trio.Event()
            state["token"] = trio.lowlevel.current_trio_token()
            signal_ready.set()
            await state["gone"].wait()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        state["seen"] = [(await receive())["more_body"], (await receive())["type"]]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        except OSError as error:
            state["seen"].append(type(error).__name__)

    mounted = next(iter(asgi.mount("/", app).values()))

    class WithSignal(mounted):  # type: ignore[valid-type,misc]
        async def do_get(self) -> Any:
            self.request.stream = Signalled(self.request.stream)
            return await super().do_get()

    async def start(task_status: trio.TaskStatus[Any]) -> None:
        await serve({"/": WithSignal}, "127.0.0.1", 0, grace_period=1.0, task_status=task_status)

    with running_trio(start) as addresses, httpx.Client(timeout=TIMEOUT) as client:
        result: list[httpx.Response] = []
        request = threading.Thread(target=lambda: result.append(client.get(url(addresses[0]))))
        request.start()
        assert signal_ready.wait(TIMEOUT)
        assert not result  # still waiting: nothing said the client had gone
        trio.from_thread.run_sync(state["gone"].set, trio_token=state["token"])
        request.join(TIMEOUT)
    assert state["seen"] == [False, "http.disconnect", "ClientDisconnected"]
    assert result[0].status_code == 500  # (the client was in fact still there to see it)


def test_head_of_an_endless_stream_is_answered_and_the_application_abandoned() -> None:
    abandoned = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"data: x\n\n",
                            "more_body": True})
        finally:
            abandoned.set()

    with hosted(app) as (base, _):
        response = httpx.head(base, timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert abandoned.wait(TIMEOUT)


def test_receive_says_http_disconnect_when_the_client_goes_before_a_response() -> None:
    # A long poll: the application waits for the client to go; the client goes.
    seen: list[str] = []
    told = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append((await receive())["type"])
        seen.append((await receive())["type"])
        told.set()

    with hosted(app) as (base, _):
        host, port = base.removeprefix("http://").rstrip("/").split(":")
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
        assert told.wait(TIMEOUT)
    assert seen == ["http.request", "http.disconnect"]


def test_starlette_is_disconnected_answers_at_once_while_the_client_is_there() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def check(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"disconnected: {await request.is_disconnected()}")

    app = Starlette(routes=[Route("/", check)])
    with hosted(app) as (base, _), httpx.Client(timeout=TIMEOUT) as client:
        assert client.get(base).text == "disconnected: False"
        assert client.get(base).text == "disconnected: False"  # the connection is kept
