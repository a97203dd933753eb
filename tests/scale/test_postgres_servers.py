"""The seed's ordering promise across two servers sharing one PostgreSQL (two machines' worth).

Each server is its own process with its own database sessions, started from
`raceapp.py`; requests alternate between them over real sockets. The
counter and document live in a `PostgresStore`, the locks are `PostgresLocks`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from scale.conftest import PostgresCluster

HANG_TIMEOUT = 20.0
CLIENTS = 8
ROOT = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, conninfo: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("raceapp.py")), conninfo, conninfo],
            stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.url = ""

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip().rstrip("/")
        assert self.url.startswith("http://127.0.0.1:"), "the server did not start"

    def expect(self, line: str) -> None:
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == line

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(HANG_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


class Cluster:
    """Two webpy servers on one database; `request` alternates between them."""

    def __init__(self, conninfo: str) -> None:
        self.servers = [Server(conninfo), Server(conninfo)]  # both start at once
        for server in self.servers:
            server.wait_ready()
        self.client = httpx.Client(timeout=HANG_TIMEOUT)
        self._turn = 0

    def request(self, method: str, path: str, body: bytes = b"", server: int | None = None
                ) -> httpx.Response:
        if server is None:
            server, self._turn = self._turn % 2, self._turn + 1
        return self.client.request(method, self.servers[server].url + path, content=body)


@pytest.fixture
def cluster(postgres: PostgresCluster) -> Iterator[Cluster]:
    import psycopg

    with psycopg.connect(postgres.conninfo, autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS webpy_store")
    servers = Cluster(postgres.conninfo)
    try:
        yield servers
    finally:
        servers.client.close()
        for server in servers.servers:
            server.stop()


def _together(jobs: list[Any]) -> list[httpx.Response]:
    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(lambda job: job(), jobs))


def test_read_modify_write_puts_through_two_servers_lose_no_update(cluster: Cluster) -> None:
    responses = _together([lambda: cluster.request("PUT", "/counter")] * 200)
    assert [response.status_code for response in responses] == [200] * 200
    assert len({response.headers["X-Worker"] for response in responses}) == 2
    assert sorted(int(response.text) for response in responses) == list(range(1, 201))
    assert cluster.request("GET", "/counter", server=0).text == "200"
    assert cluster.request("GET", "/counter", server=1).text == "200"


def test_readers_on_two_servers_never_see_a_document_half_written(cluster: Cluster) -> None:
    jobs: list[Any] = []
    for number in range(80):
        jobs.append(lambda number=number: cluster.request("PUT", "/doc", b"v%d" % number))
        jobs += [lambda: cluster.request("GET", "/doc")] * 3
    responses = _together(jobs)
    assert {response.status_code for response in responses} <= {200, 204}
    reads = [response.text.split(",") for response in responses if response.status_code == 200]
    assert len(reads) == 240
    assert [read for read in reads if len(set(read)) != 1] == []


def test_a_server_killed_while_holding_a_lock_blocks_no_other(cluster: Cluster) -> None:
    doomed = cluster.servers[0]
    with ThreadPoolExecutor(1) as pool:
        hanging = pool.submit(cluster.request, "PUT", "/doc?hang=1", b"half", 0)
        doomed.expect("inside")  # it now holds /doc's advisory lock
        doomed.process.kill()
        doomed.process.wait(HANG_TIMEOUT)
        with pytest.raises(httpx.TransportError):
            hanging.result(timeout=HANG_TIMEOUT)
    # PostgreSQL ended the dead server's session and with it its locks.
    assert cluster.request("PUT", "/doc", b"whole", server=1).status_code == 204
    assert cluster.request("GET", "/doc", server=1).text == ",".join(["whole"] * 4)


def test_a_lost_database_fails_requests_with_503_and_never_runs_them_unordered(
        cluster: Cluster, postgres: PostgresCluster) -> None:
    assert cluster.request("PUT", "/counter", server=0).text == "1"
    postgres.stop()
    try:
        refused = cluster.request("PUT", "/counter", server=0)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
    finally:
        postgres.start()
    # Back: the dead pooled sessions are replaced, and the refused PUT never counted.
    assert cluster.request("PUT", "/counter", server=0).text == "2"
    assert cluster.request("GET", "/counter", server=1).text == "2"
