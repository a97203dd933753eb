"""webpy behind a real HAProxy in HTTP mode, reusing idle server connections."""

from __future__ import annotations

import webpy as web

from . import load
from .proxies import HAProxy


def test_thousand_requests_through_haproxy_connection_reuse_get_no_502(haproxy: HAProxy) -> None:
    # The README's settings: safe reuse, idle server connections purged every 2 s,
    # webpy keeping idle connections 30 s.
    with web.HTTPServer(("127.0.0.1", 0), load.ROUTES, keepalive_timeout=30.0) as server:
        address = haproxy.start(server.server_address[1],
                                server_options="pool-purge-delay 2s",
                                backend="http-reuse safe\n    retry-on conn-failure empty-response")
        outcome = load.run(address)
    assert outcome.statuses == {200: load.REQUESTS}, outcome.statuses
    assert outcome.wrong == []
    assert len(outcome.upstream_ports) < load.REQUESTS // 10, len(outcome.upstream_ports)
