"""The gateways called directly, for what a server cannot be made to do on cue."""

from __future__ import annotations

from typing import Any

import trio

import webpy as web
from webpy.gateway import asgi_app


class Store(web.HTTPHandler):
    def do_put(self) -> tuple[int, str]:
        return 200, f"stored {len(self.request.body)} bytes"


def test_asgi_client_leaving_during_the_body_ends_the_request_quietly() -> None:
    app = asgi_app({"/x": Store})
    incoming = [{"type": "http.request", "body": b"part", "more_body": True},
                {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "PUT", "path": "/x", "raw_path": b"/x",
             "query_string": b"", "headers": [(b"content-length", b"100")],
             "http_version": "1.1", "scheme": "http", "client": ("127.0.0.1", 1)}
    trio.run(app, scope, receive, send)
    assert sent == []  # nobody to answer, and no exception for the server to log
    assert incoming == []


def test_asgi_writers_waiting_on_a_resource_hold_no_threads() -> None:
    # One PUT holds /doc in a worker thread; 40 more wait for it, more than asyncio's
    # default pool has threads. A streamed GET elsewhere still gets its threads, and the
    # PUTs then run one at a time.
    import asyncio
    import threading

    holder_inside = threading.Event()
    release_holder = threading.Event()
    inside, most_inside = [0], [0]
    guard = threading.Lock()

    class Doc(web.HTTPHandler):
        def do_put(self) -> tuple[int, str]:
            with guard:
                inside[0] += 1
                most_inside[0] = max(most_inside[0], inside[0])
            if not holder_inside.is_set():
                holder_inside.set()
                release_holder.wait(10)
            with guard:
                inside[0] -= 1
            return 200, "stored"

    class Lines(web.HTTPHandler):
        def do_get(self) -> tuple[int, Any]:
            return 200, (b"line\n" for _ in range(20))  # each pulled in a worker thread

    app = asgi_app({"/doc": Doc, "/lines": Lines})

    async def call(method: str, path: str) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        body = [{"type": "http.request", "body": b"x" if method == "PUT" else b""}]

        async def receive() -> dict[str, Any]:
            return body.pop(0) if body else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
                 "query_string": b"", "headers": [], "http_version": "1.1", "scheme": "http",
                 "client": ("127.0.0.1", 1)}
        await app(scope, receive, send)
        return sent

    async def main() -> tuple[list[Any], list[Any]]:
        holder = asyncio.create_task(call("PUT", "/doc"))
        await asyncio.to_thread(holder_inside.wait, 10)
        waiters = [asyncio.create_task(call("PUT", "/doc")) for _ in range(40)]
        for _ in range(10_000):  # let every waiter reach the lock (yields, no timed sleep)
            await asyncio.sleep(0)
        lines = await asyncio.wait_for(call("GET", "/lines"), 10)
        release_holder.set()
        puts = await asyncio.wait_for(asyncio.gather(holder, *waiters), 10)
        return lines, puts

    lines, puts = asyncio.run(main())
    assert b"".join(message.get("body", b"") for message in lines) == b"line\n" * 20
    assert all(sent[0]["status"] == 200 for sent in puts)
    assert most_inside[0] == 1
