"""webpy behind a real nginx: HTTP/1.1 with upstream keep-alive, no 502."""

from __future__ import annotations

import webpy as web

from . import load
from .proxies import Nginx


def test_thousand_requests_through_nginx_keepalive_upstream_get_no_502(nginx: Nginx) -> None:
    # nginx closes idle upstream connections after 4 s; webpy keeps them 5 s (its default):
    # the proxy always closes first, so it never sends a request on a connection webpy closed.
    with web.HTTPServer(("127.0.0.1", 0), load.ROUTES, keepalive_timeout=5.0) as server:
        address = nginx.start(server.server_address[1], upstream_idle="4s")
        outcome = load.run(address)
    assert outcome.statuses == {200: load.REQUESTS}, outcome.statuses
    assert outcome.wrong == []
    # Keep-alive upstream really was in use: a handful of connections carried them all.
    assert len(outcome.upstream_ports) <= 16 + load.CLIENTS, len(outcome.upstream_ports)
