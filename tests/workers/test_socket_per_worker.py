"""On Linux, each worker process accepts on its own SO_REUSEPORT socket of the port.

The kernel spreads new connections over the sockets, so every worker gets its
share. A replacement takes over its predecessor's socket, which the parent
keeps open: a connection queued on it while the workers change is served,
never reset. The sockets are counted where `ss -lt` counts them, in
/proc/net/tcp.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from harness import ResponseReader, SocketRawConnection

from webpy.transports.listeners import REUSE_PORT_BALANCES

from .load import Load
from .server import Workers
from .test_worker_restarts import assert_nothing_lost

pytestmark = pytest.mark.skipif(
    not REUSE_PORT_BALANCES, reason="the kernel balances SO_REUSEPORT sockets on Linux only")

LISTEN = "0A"


def listening_sockets(port: int) -> int:
    """How many sockets listen on `port` (any address), as `ss -lt` would list them."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == LISTEN and int(local.rpartition(":")[2], 16) == port:
                count += 1
    return count


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def answering_worker(address: tuple[str, int], tag: str) -> int:
    """The pid of the worker that answers one request on a new connection."""
    connection = SocketRawConnection(address)
    try:
        connection.send(f"GET /?id={tag} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        response = ResponseReader(connection).read()
    finally:
        connection.close()
    assert response is not None and response.status == 200
    return int(response.body.split()[2])


def test_every_worker_listens_on_its_own_socket_and_gets_new_connections(
        tmp_path: Path, transport: str) -> None:
    workers = Workers(tmp_path / "record", transport, "--processes", "3", "--threads", "2")
    try:
        assert listening_sockets(workers.address[1]) == 3
        # 60 new connections, hashed over 3 sockets: each worker answers some
        # (one getting none would happen about once in 10^10 runs).
        pids = {answering_worker(workers.address, f"c{n}") for n in range(60)}
        assert len(pids) == 3
        assert {parent_of(pid) for pid in pids} == {workers.process.pid}
    finally:
        assert workers.stop() == 0


def test_a_roll_serves_every_new_connection_queued_while_workers_change(
        tmp_path: Path, transport: str) -> None:
    workers = Workers(tmp_path / "record", transport, "--processes", "2", "--threads", "4")
    try:
        load = Load(workers.address, fresh_connections=True)
        load.wait_for_answers(20)
        before = {pid for _, pid in workers.handled()}
        workers.signal(signal.SIGHUP)
        workers.wait_for("restart done: worker processes")
        load.wait_for_answers(20, excluding=frozenset(before))
        workers.signal(signal.SIGHUP)
        workers.wait_for("restart done: worker processes", count=2)
        load.wait_for_answers(20)
        tally = load.finish()
        # The replacements took over the sockets: still one per worker, none added.
        assert listening_sockets(workers.address[1]) == 2
    finally:
        assert workers.stop() == 0
    assert tally.resent == []
    assert_nothing_lost(tally, workers.handled())
