"""`request.server`: the address the client connected to, on each socket transport.

It is the server's own (host, port), or, behind a proxy that sends a PROXY
header, the address the client reached at the proxy. The ASGI scope's
``server`` is the same, and a WSGI request with no Host falls back to it for
SERVER_NAME and SERVER_PORT.
"""

from __future__ import annotations

import pytest

import webpy as web

from .serving import TRANSPORTS, ServerFactory, factory, raw_exchange


class WhereTo(web.HTTPHandler):
    def do_get(self):  # type: ignore[no-untyped-def]
        return 200, repr(self.request.server)


@pytest.fixture(params=sorted(TRANSPORTS))
def serve(request: pytest.FixtureRequest) -> ServerFactory:
    return factory(request.param)


def test_request_server_is_the_address_the_client_connected_to(serve: ServerFactory) -> None:
    with serve({"/": WhereTo}) as address:
        answer = raw_exchange(address, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert answer == repr(("127.0.0.1", address[1]))


def test_behind_a_proxy_header_the_server_is_the_address_reached_at_the_proxy(
        serve: ServerFactory) -> None:
    with serve({"/": WhereTo}, proxy_protocol=True) as address:
        answer = raw_exchange(address, b"PROXY TCP4 203.0.113.5 198.51.100.7 51000 443\r\n"
                                       b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert answer == repr(("198.51.100.7", 443))


def environ_names(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['SERVER_NAME']} {environ['SERVER_PORT']}".encode()]


def test_wsgi_server_name_and_port_come_from_host_else_from_the_server(
        serve: ServerFactory) -> None:
    from webpy.app import wsgi

    with serve(wsgi.mount("/", environ_names)) as address:
        with_host = raw_exchange(address, b"GET / HTTP/1.1\r\nHost: shop.example:8080\r\n"
                                          b"Connection: close\r\n\r\n")
        without = raw_exchange(address, b"GET / HTTP/1.0\r\n\r\n")
    assert with_host == "shop.example 8080"
    assert without == f"127.0.0.1 {address[1]}"


async def scope_server(scope, receive, send):  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": repr(scope["server"]).encode()})


def test_asgi_scope_server_is_the_address_the_client_connected_to() -> None:
    from webpy.app import asgi

    with factory("trio")(asgi.mount("/", scope_server)) as address:
        answer = raw_exchange(address, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert answer == repr(("127.0.0.1", address[1]))
