from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

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


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl_context(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_ssl_context(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context
