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
