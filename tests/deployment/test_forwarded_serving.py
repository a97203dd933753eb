"""Trusted proxies end to end: nginx in front sets X-Forwarded-*, webpy believes it."""

from __future__ import annotations

import logging

import httpx
import pytest

import webpy as web

from .proxies import Nginx
from .serving import TRANSPORTS, ServerFactory, factory, raw_exchange

TIMEOUT = 10.0


class WhoAmI(web.HTTPHandler):
    def do_get(self):  # type: ignore[no-untyped-def]
        request = self.request
        client = request.client[0] if request.client else "-"
        return 200, f"{client} {request.scheme} {request.headers.get('Host')}"


ROUTES = {"/": WhoAmI}


@pytest.fixture(params=sorted(TRANSPORTS))
def serve(request: pytest.FixtureRequest) -> ServerFactory:
    return factory(request.param)


def raw_get(address: tuple[str, int], headers: str) -> str:
    return raw_exchange(address, f"GET / HTTP/1.1\r\nHost: internal:8000\r\n{headers}"
                                 "Connection: close\r\n\r\n".encode())


def test_trusted_peer_gives_client_scheme_and_host(serve: ServerFactory) -> None:
    with serve(ROUTES, forwarded_allow="127.0.0.1") as address:
        answer = raw_get(address, "X-Forwarded-For: 1.1.1.1, 203.0.113.5\r\n"
                                  "X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\n")
    assert answer == "203.0.113.5 https shop.example"


def test_forwarded_header_family_when_chosen(serve: ServerFactory) -> None:
    with serve(ROUTES, forwarded_allow=["127.0.0.0/8"], forwarded_header="forwarded") as address:
        answer = raw_get(address, 'Forwarded: for="[2001:db8::5]:4711";proto=https\r\n'
                                  "X-Forwarded-For: 6.6.6.6\r\n")
    assert answer == "2001:db8::5 https internal:8000"


def test_headers_are_ignored_without_an_allowlist(serve: ServerFactory) -> None:
    with serve(ROUTES) as address:
        answer = raw_get(address, "X-Forwarded-For: 203.0.113.5\r\nX-Forwarded-Proto: https\r\n")
    assert answer == "127.0.0.1 http internal:8000"


def test_headers_are_ignored_from_a_peer_off_the_allowlist(serve: ServerFactory) -> None:
    with serve(ROUTES, forwarded_allow="10.0.0.0/8") as address:
        answer = raw_get(address, "X-Forwarded-For: 203.0.113.5\r\n")
    assert answer == "127.0.0.1 http internal:8000"


def test_behind_real_nginx_the_client_and_access_log_show_the_real_client(
        serve: ServerFactory, nginx: Nginx, caplog: pytest.LogCaptureFixture) -> None:
    # The client connects from 127.0.0.2 and pretends, in its own X-Forwarded-For, to be
    # 6.6.6.6; nginx (127.0.0.1, trusted) appends the address it really saw.
    # The server stops (its last access record written) before the log level is restored.
    with caplog.at_level(logging.INFO, logger="webpy.access"), \
            serve(ROUTES, forwarded_allow="127.0.0.1") as upstream:
        address = nginx.start(upstream[1])
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
            response = client.get(f"http://{address[0]}:{address[1]}/",
                                  headers={"X-Forwarded-For": "6.6.6.6"})
    assert response.text == f"127.0.0.2 http {address[0]}:{address[1]}"
    records = [r.getMessage() for r in caplog.records if r.name == "webpy.access"]
    assert records and records[-1].startswith("127.0.0.2 - - ")
    assert not any("6.6.6.6" in record for record in records)


def test_malformed_forwarding_header_is_ignored_and_logged_once(
        serve: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="webpy"), \
            serve(ROUTES, forwarded_allow="127.0.0.1") as address:
        for _ in range(3):
            answer = raw_get(address, "X-Forwarded-For: not-an-address\r\n")
            assert answer == "127.0.0.1 http internal:8000"
    assert len([r for r in caplog.records if "logged once" in r.getMessage()]) == 1


def wsgi_app(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['REMOTE_ADDR']} {environ['wsgi.url_scheme']} "
            f"{environ['HTTP_HOST']}".encode()]


def test_wsgi_environ_reflects_the_forwarded_client(serve: ServerFactory) -> None:
    from webpy.app import wsgi

    with serve(wsgi.mount("/", wsgi_app), forwarded_allow="127.0.0.1") as address:
        answer = raw_get(address, "X-Forwarded-For: 203.0.113.5\r\n"
                                  "X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\n")
    assert answer == "203.0.113.5 https shop.example"


async def asgi_app(scope, receive, send):  # type: ignore[no-untyped-def]
    host = dict(scope["headers"]).get(b"host", b"").decode()
    body = f"{scope['client'][0]} {scope['scheme']} {host}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def test_asgi_scope_reflects_the_forwarded_client() -> None:
    from webpy.app import asgi

    serve = factory("trio")
    with serve(asgi.mount("/", asgi_app), forwarded_allow="127.0.0.1") as address:
        answer = raw_get(address, "X-Forwarded-For: 203.0.113.5\r\n"
                                  "X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\n")
    assert answer == "203.0.113.5 https shop.example"
