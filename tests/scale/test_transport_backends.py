"""Every transport takes a lock backend at start (`locks=`) and answers its failure with 503.

A backend whose lock service is unreachable (a PostgreSQL on a closed port)
must refuse: the request gets 503 with ``Retry-After`` and its handler never
runs, on the threaded, trio and in-memory transports alike. A blocking
backend on trio waits in a thread and still orders requests.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import webpy as web
from webpy.app.locks_files import FileLocks
from webpy.transports.memory import Client
from webpy.transports.trio import serve

pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'webpy[postgres]')")

from webpy.app.locks_postgres import PostgresLocks

UNREACHABLE = "host=127.0.0.1 port=1 user=postgres dbname=postgres"
HANG_TIMEOUT = 20.0


def _recording_routes() -> tuple[dict[str, Any], list[str]]:
    ran: list[str] = []

    class Page(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            ran.append("get")
            return 200, "page"

        def do_put(self) -> tuple[int, str]:
            ran.append("put")
            return 200, "stored"

    return {"/page": Page}, ran


def test_memory_client_answers_503_when_the_lock_service_is_down() -> None:
    routes, ran = _recording_routes()
    client = Client(routes, locks=PostgresLocks(UNREACHABLE, connect_timeout=1))
    for response in (client.put("/page", "x"), client.get("/page")):
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
    assert ran == []
    assert len(client.site.locks) == 0  # nothing left held


def test_threaded_server_answers_503_when_the_lock_service_is_down() -> None:
    routes, ran = _recording_routes()
    locks = PostgresLocks(UNREACHABLE, connect_timeout=1)
    with (web.HTTPServer(("127.0.0.1", 0), routes, locks=locks) as server,
          httpx.Client(timeout=HANG_TIMEOUT) as client):
        refused = client.put(server.url + "page", content=b"x")
        again = client.get(server.url + "page")  # the connection is still usable
    assert (refused.status_code, again.status_code) == (503, 503)
    assert refused.headers["Retry-After"] == "1"
    assert ran == []


def test_trio_server_answers_503_when_the_lock_service_is_down() -> None:
    routes, ran = _recording_routes()

    async def main() -> list[int]:
        async with trio.open_nursery() as nursery:
            (host, port), *_ = await nursery.start(
                lambda task_status: serve(routes, "127.0.0.1", 0, task_status=task_status,
                                          locks=PostgresLocks(UNREACHABLE, connect_timeout=1)))
            async with httpx.AsyncClient(timeout=HANG_TIMEOUT) as client:
                statuses = [(await client.put(f"http://{host}:{port}/page", content=b"x"))
                            .status_code,
                            (await client.get(f"http://{host}:{port}/page")).status_code]
            nursery.cancel_scope.cancel()
        return statuses

    assert trio.run(main) == [503, 503]
    assert ran == []


def test_trio_server_orders_requests_with_a_blocking_lock_backend(tmp_path: Path) -> None:
    counter = {"value": 0}
    overlapped = threading.Event()
    inside = threading.Lock()

    class Counter(web.HTTPHandler):
        def do_put(self) -> tuple[int, str]:  # a plain handler: trio runs it in a thread
            if not inside.acquire(blocking=False):
                overlapped.set()
                inside.acquire()
            try:
                current = counter["value"]
                time.sleep(0)  # an overlapping writer would read the same value here
                counter["value"] = current + 1
            finally:
                inside.release()
            return 200, str(current + 1)

    locks = FileLocks(tmp_path / "locks")

    async def main() -> list[int]:
        async with trio.open_nursery() as nursery:
            (host, port), *_ = await nursery.start(
                lambda task_status: serve({"/counter": Counter}, "127.0.0.1", 0,
                                          task_status=task_status, locks=locks))
            statuses: list[int] = []
            async with httpx.AsyncClient(timeout=HANG_TIMEOUT) as client:

                async def put() -> None:
                    response = await client.put(f"http://{host}:{port}/counter")
                    statuses.append(response.status_code)

                async with trio.open_nursery() as clients:
                    for _ in range(60):
                        clients.start_soon(put)
            nursery.cancel_scope.cancel()
        return statuses

    assert trio.run(main) == [200] * 60
    assert counter["value"] == 60
    assert not overlapped.is_set()
    assert len(locks) == 0
    locks.close()
