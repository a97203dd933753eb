"""``async for message in ws`` and ``await ws.receive()`` in async handlers, on trio,
with the `websockets` client."""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from webpy.app.websocket import WebSocketClosed, WebSocketHandler

from .test_websocket_servers import HANG, on_trio


def make_routes(seen: queue.Queue[Any]) -> dict[str, Any]:
    class Loop(WebSocketHandler):
        """Echoes numbered replies from one `async for` loop that lasts the conversation."""

        async def on_connect(self) -> None:
            count = 0
            async for message in self:
                count += 1
                await self.send(f"{count}: {message!r}")
            seen.put(("loop ended", count))

        def on_message(self, message: str | bytes) -> None:
            seen.put(("on_message", message))  # must not happen: the loop took them all

        def on_close(self, code: int, reason: str) -> None:
            seen.put(("closed", code))

    class Ask(WebSocketHandler):
        """Asks, awaits one answer, then closes with a code of its own."""

        async def on_connect(self) -> None:
            await self.send("name?")
            name = await self.receive()
            await self.send(f"bye {name}")
            self.close(4000, "done")
            try:
                await self.receive()
            except WebSocketClosed:
                seen.put("receive after close raised")

    class Waiting(WebSocketHandler):
        """Waits in receive(); another thread pushes meanwhile."""

        async def on_connect(self) -> None:
            seen.put(self)
            seen.put(("received", await self.receive()))

    return {"/loop": Loop, "/ask": Ask, "/waiting": Waiting}


def test_async_for_receives_every_message_until_the_client_closes() -> None:
    seen: queue.Queue[Any] = queue.Queue()
    with on_trio(make_routes(seen)) as (host, port), \
            connect(f"ws://{host}:{port}/loop", open_timeout=HANG) as ws:
        ws.send("one")
        assert ws.recv(HANG) == "1: 'one'"
        ws.send(b"\x02")
        assert ws.recv(HANG) == "2: b'\\x02'"
        ws.send(["frag", "mented"])
        assert ws.recv(HANG) == "3: 'fragmented'"
        ws.close(1000)
        assert seen.get(timeout=HANG) == ("loop ended", 3)
        assert seen.get(timeout=HANG) == ("closed", 1000)


def test_receive_awaits_one_answer_and_close_sends_the_code() -> None:
    seen: queue.Queue[Any] = queue.Queue()
    with on_trio(make_routes(seen)) as (host, port), \
            connect(f"ws://{host}:{port}/ask", open_timeout=HANG) as ws:
        assert ws.recv(HANG) == "name?"
        ws.send("alice")
        assert ws.recv(HANG) == "bye alice"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(HANG)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "done")
        assert seen.get(timeout=HANG) == "receive after close raised"


def test_a_push_from_another_thread_reaches_the_client_while_receive_waits() -> None:
    seen: queue.Queue[Any] = queue.Queue()
    with on_trio(make_routes(seen)) as (host, port), \
            connect(f"ws://{host}:{port}/waiting", open_timeout=HANG) as ws:
        handler = seen.get(timeout=HANG)
        pusher = threading.Thread(target=handler.send, args=("pushed",))
        pusher.start()
        assert ws.recv(HANG) == "pushed"
        pusher.join(HANG)
        ws.send("answer")
        assert seen.get(timeout=HANG) == ("received", "answer")


def test_a_graceful_stop_ends_the_loop_with_1001() -> None:
    seen: queue.Queue[Any] = queue.Queue()
    with contextlib.ExitStack() as stack:
        with on_trio(make_routes(seen)) as (host, port):
            ws = stack.enter_context(connect(f"ws://{host}:{port}/loop", open_timeout=HANG))
            ws.send("before the stop")
            assert ws.recv(HANG) == "1: 'before the stop'"
        # Leaving the block stopped the server while the loop waited for a message.
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(HANG)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert seen.get(timeout=HANG) == ("loop ended", 1)
    assert seen.get(timeout=HANG) == ("closed", 1001)
