"""webpy behind a real nginx: HTTP/1.1 with upstream keep-alive, no 502."""

from __future__ import annotations

import collections
import threading

import httpx

import webpy as web

from .proxies import Nginx

CLIENTS = 8
REQUESTS = 1000
TIMEOUT = 10.0


class Echo(web.HTTPHandler):
    """GET answers with the port of the connection it came in on; POST echoes its body."""

    def do_get(self):  # type: ignore[no-untyped-def]
        client = self.request.client
        return 200, str(client[1] if client else 0)

    def do_post(self):  # type: ignore[no-untyped-def]
        return 200, self.request.body


ROUTES = {"/echo/.*": Echo}


def test_thousand_requests_through_nginx_keepalive_upstream_get_no_502(nginx: Nginx) -> None:
    # nginx closes idle upstream connections after 4 s; webpy keeps them 5 s (its default):
    # the proxy always closes first, so it never sends a request on a connection webpy closed.
    with web.HTTPServer(("127.0.0.1", 0), ROUTES, keepalive_timeout=5.0) as server:
        host, port = nginx.start(server.server_address[1], upstream_idle="4s")
        statuses: collections.Counter[int] = collections.Counter()
        upstream_ports: set[str] = set()
        wrong: list[str] = []
        lock = threading.Lock()

        def client(number: int) -> None:
            with httpx.Client(base_url=f"http://{host}:{port}", timeout=TIMEOUT) as session:
                for index in range(number, REQUESTS, CLIENTS):
                    if index % 2:
                        body = f"request {index}".encode()
                        response = session.post(f"/echo/{index}", content=body)
                        ok = response.content == body
                    else:
                        response = session.get(f"/echo/{index}")
                        ok = response.text.isdigit()
                    with lock:
                        statuses[response.status_code] += 1
                        if response.status_code == 200 and not index % 2:
                            upstream_ports.add(response.text)
                        if not ok:
                            wrong.append(f"{index}: {response.status_code} {response.text[:80]}")

        threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(4 * TIMEOUT)
        assert not any(thread.is_alive() for thread in threads)
    assert statuses == {200: REQUESTS}, statuses
    assert wrong == []
    # Keep-alive upstream really was in use: a handful of connections carried them all.
    assert len(upstream_ports) <= 16 + CLIENTS, len(upstream_ports)
