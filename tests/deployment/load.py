"""A bounded load through a proxy: every request sent is counted, every response checked."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

import httpx

import webpy as web

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


@dataclass
class Outcome:
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    upstream_ports: set[str] = field(default_factory=set)
    wrong: list[str] = field(default_factory=list)


def run(address: tuple[str, int], requests: int = REQUESTS, clients: int = CLIENTS) -> Outcome:
    """`requests` GETs and POSTs, alternating, from `clients` keep-alive clients at once."""
    outcome = Outcome()
    lock = threading.Lock()
    host, port = address

    def client(number: int) -> None:
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=TIMEOUT) as session:
            for index in range(number, requests, clients):
                if index % 2:
                    body = f"request {index}".encode()
                    response = session.post(f"/echo/{index}", content=body)
                    ok = response.content == body
                else:
                    response = session.get(f"/echo/{index}")
                    ok = response.text.isdigit()
                with lock:
                    outcome.statuses[response.status_code] += 1
                    if response.status_code == 200 and not index % 2:
                        outcome.upstream_ports.add(response.text)
                    if not ok:
                        outcome.wrong.append(f"{index}: {response.status_code} "
                                             f"{response.text[:80]!r}")

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(6 * TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "clients still running"
    return outcome
