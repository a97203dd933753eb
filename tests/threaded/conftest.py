from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import webpy as web

ServerFactory = Callable[..., web.HTTPServer]


@pytest.fixture
def start_server() -> Iterator[ServerFactory]:
    """Start an HTTPServer on a free loopback port; every one is stopped after the test."""
    servers: list[web.HTTPServer] = []

    def start(routes: Any, error_routes: Any = None, **options: Any) -> web.HTTPServer:
        options.setdefault("threads", 4)
        server = web.HTTPServer(("127.0.0.1", 0), routes, error_routes, **options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(timeout=2)
