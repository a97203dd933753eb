"""The ASGI ``websocket`` scope on trio: a Starlette WebSocket route and the `websockets` client."""

from __future__ import annotations

import queue
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .support import TIMEOUT

pytest.importorskip("starlette", reason="starlette not installed")

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .test_asgi_host import hosted


def make_app(seen: queue.Queue[Any]) -> Starlette:
    async def chat(ws: WebSocket) -> None:
        if ws.headers.get("x-token") != "ok":
            await ws.close(code=1008)  # before accept: the client gets 403
            return
        offered = ws.scope["subprotocols"]
        await ws.accept(subprotocol="chat.v2" if "chat.v2" in offered else None)
        await ws.send_text(f"hello {ws.query_params.get('name')}")
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    seen.put(("disconnect", message["code"]))
                    return
                if message.get("text") == "bye":
                    await ws.close(code=4001, reason="asked to")
                    seen.put("closed by the app")
                    return
                if message.get("text") == "fail":
                    raise ValueError("the app failed")
                if message.get("bytes") is not None:
                    await ws.send_bytes(message["bytes"][::-1])
                else:
                    await ws.send_text(message["text"].upper())
        except WebSocketDisconnect as gone:
            seen.put(("disconnect", gone.code))

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("plain http")

    return Starlette(routes=[WebSocketRoute("/chat", chat), Route("/chat", hello)])


def ws_url(base: str, path: str) -> str:
    return "ws" + base.removeprefix("http") + path


OK = {"x-token": "ok"}


def test_starlette_websocket_route_converses_until_the_client_closes() -> None:
    seen: queue.Queue[Any] = queue.Queue()
    with hosted(make_app(seen)) as (base, _), \
            connect(ws_url(base, "chat?name=ann"), additional_headers=OK,
                    subprotocols=["other", "chat.v2"], open_timeout=TIMEOUT) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.recv(TIMEOUT) == "hello ann"
        ws.send("shout")
        assert ws.recv(TIMEOUT) == "SHOUT"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(TIMEOUT) == b"\x03\x02\x01"
        ws.close(1000)
        assert seen.get(timeout=TIMEOUT) == ("disconnect", 1000)


def test_the_same_path_still_answers_plain_http() -> None:
    with hosted(make_app(queue.Queue())) as (base, _):
        assert httpx.get(base + "chat", timeout=TIMEOUT).text == "plain http"


def test_an_app_that_closes_before_accepting_refuses_with_403() -> None:
    with hosted(make_app(queue.Queue())) as (base, _), pytest.raises(InvalidStatus) as refused:
        connect(ws_url(base, "chat"), open_timeout=TIMEOUT)
    assert refused.value.response.status_code == 403


def test_the_app_closing_with_a_code_reaches_the_client() -> None:
    seen: queue.Queue[Any] = queue.Queue()
    with hosted(make_app(seen)) as (base, _), \
            connect(ws_url(base, "chat"), additional_headers=OK, open_timeout=TIMEOUT) as ws:
        assert ws.recv(TIMEOUT) == "hello None"
        ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(TIMEOUT)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "asked to")
        assert seen.get(timeout=TIMEOUT) == "closed by the app"


def test_an_app_that_raises_closes_with_1011() -> None:
    with hosted(make_app(queue.Queue())) as (base, _), \
            connect(ws_url(base, "chat"), additional_headers=OK, open_timeout=TIMEOUT) as ws:
        assert ws.recv(TIMEOUT) == "hello None"
        ws.send("fail")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


def test_a_graceful_stop_tells_the_app_1001() -> None:
    seen: queue.Queue[Any] = queue.Queue()
    with hosted(make_app(seen)) as (base, stop), \
            connect(ws_url(base, "chat"), additional_headers=OK, open_timeout=TIMEOUT) as ws:
        assert ws.recv(TIMEOUT) == "hello None"
        stop()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert seen.get(timeout=TIMEOUT) == ("disconnect", 1001)
