"""The seed's ordering promise through `HTTPServer(processes=2)`: real workers, one lock file.

Requests go over real sockets on fresh connections, so the kernel spreads
them over both workers; each test checks that both workers served. The
state lives in a `SQLiteStore` every worker opens, as a user's would.
"""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import webpy as web
from webpy.app.store import SQLiteStore

from .raceapp import routes

HANG_TIMEOUT = 20.0
CLIENTS = 8


class Workers:
    def __init__(self, tmp_path: Path) -> None:
        self.reading, self.writing = os.pipe()
        self.store = SQLiteStore(tmp_path / "store.sqlite3")
        # No lock backend named: processes=2 orders the workers on a lock file by itself.
        self.server = web.HTTPServer(("127.0.0.1", 0), routes(self.store, self._inside),
                                     processes=2, threads=8)
        self.url = self.server.url.rstrip("/")
        # A new connection per request, so the kernel spreads them over the workers.
        self.client = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0),
                                   timeout=HANG_TIMEOUT)

    def _inside(self, pid: int) -> None:  # runs in a worker
        os.write(self.writing, f"{pid}\n".encode())

    def pid_inside(self) -> int:
        ready, _, _ = select.select([self.reading], [], [], HANG_TIMEOUT)
        assert ready, "the hanging PUT never started"
        return int(os.read(self.reading, 64))

    def request(self, method: str, path: str, body: bytes = b"") -> httpx.Response:
        return self.client.request(method, self.url + path, content=body)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    served = Workers(tmp_path)
    served.server.start()
    try:
        yield served
    finally:
        served.server.stop()
        served.client.close()
        os.close(served.reading)
        os.close(served.writing)


def _together(jobs: list[Any]) -> list[httpx.Response]:
    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(lambda job: job(), jobs))


def test_read_modify_write_puts_through_two_workers_lose_no_update(workers: Workers) -> None:
    responses = _together([lambda: workers.request("PUT", "/counter")] * 200)
    assert [response.status_code for response in responses] == [200] * 200
    assert len({response.headers["X-Worker"] for response in responses}) == 2
    assert workers.request("GET", "/counter").text == "200"
    # Every PUT saw a different value: no two ran on the same count.
    assert sorted(int(response.text) for response in responses) == list(range(1, 201))


def test_readers_through_two_workers_never_see_a_document_half_written(
        workers: Workers) -> None:
    jobs: list[Any] = []
    for number in range(80):
        jobs.append(lambda number=number: workers.request("PUT", "/doc", b"v%d" % number))
        jobs += [lambda: workers.request("GET", "/doc")] * 3
    responses = _together(jobs)
    assert {response.status_code for response in responses} <= {200, 204}
    reads = [response.text.split(",") for response in responses if response.status_code == 200]
    assert len(reads) == 240
    assert [read for read in reads if len(set(read)) != 1] == []
    assert len({response.headers["X-Worker"] for response in responses}) == 2


def test_a_worker_killed_while_holding_a_lock_blocks_no_other(workers: Workers) -> None:
    with ThreadPoolExecutor(1) as pool:
        hanging = pool.submit(workers.request, "PUT", "/doc?hang=1", b"half")
        pid = workers.pid_inside()  # that worker now holds /doc exclusively
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(httpx.TransportError):
            hanging.result(timeout=HANG_TIMEOUT)
    # The kernel released the dead worker's lock: the resource is served again,
    # by the surviving worker or the one that replaced the dead one.
    assert workers.request("PUT", "/doc", b"whole").status_code == 204
    assert workers.request("GET", "/doc").text == ",".join(["whole"] * 4)
    responses = _together([lambda: workers.request("PUT", "/counter")] * 20)
    assert all(response.headers["X-Worker"] != str(pid) for response in responses)
    assert workers.request("GET", "/counter").text == "20"


def test_the_automatic_lock_file_is_removed_when_the_server_stops(tmp_path: Path) -> None:
    server = web.HTTPServer(("127.0.0.1", 0), routes({}), processes=2)
    server.start()
    try:
        path = Path(server.site.locks.path)  # type: ignore[attr-defined]
        assert path.exists()
    finally:
        server.stop()
    assert not path.exists()


def test_the_store_keeps_data_across_workers(workers: Workers) -> None:
    assert workers.request("PUT", "/doc", b"kept").status_code == 204
    reads = _together([lambda: workers.request("GET", "/doc")] * 40)
    assert {response.text for response in reads} == {",".join(["kept"] * 4)}
    assert len({response.headers["X-Worker"] for response in reads}) == 2
