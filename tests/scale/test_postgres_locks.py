"""`PostgresLocks` and `PostgresStore` against a real PostgreSQL server.

Two `PostgresLocks` tables stand for two servers: each has its own pool,
so its own database sessions, exactly as two machines would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from webpy.app.locks import LockUnavailable
from webpy.app.locks_postgres import PostgresLocks
from webpy.app.store import PostgresStore

if TYPE_CHECKING:
    from scale.conftest import PostgresCluster

HANG_TIMEOUT = 10.0


@pytest.fixture
def servers(postgres: PostgresCluster) -> Iterator[tuple[PostgresLocks, PostgresLocks]]:
    first, second = PostgresLocks(postgres.conninfo), PostgresLocks(postgres.conninfo)
    yield first, second
    first.close()
    second.close()


def test_a_writer_on_one_server_shuts_out_readers_and_writers_on_another(
        servers: tuple[PostgresLocks, PostgresLocks]) -> None:
    one, two = servers
    writer = one.hold("/doc")
    assert writer.try_acquire(True)
    other = two.hold("/doc")
    assert not other.try_acquire(False)
    assert not other.try_acquire(True)
    writer.release(True)
    assert other.try_acquire(False)
    other.release(False)
    one.drop("/doc")
    two.drop("/doc")


def test_readers_on_two_servers_share_a_resource_and_different_resources_never_wait(
        servers: tuple[PostgresLocks, PostgresLocks]) -> None:
    one, two = servers
    reader = one.hold("/doc")
    assert reader.try_acquire(False)
    other = two.hold("/doc")
    assert other.try_acquire(False)
    assert not other.try_acquire(True)
    elsewhere = two.hold("/elsewhere")
    assert elsewhere.try_acquire(True)
    for lock, exclusive in ((reader, False), (other, False), (elsewhere, True)):
        lock.release(exclusive)
    one.drop("/doc")
    two.drop("/doc")
    two.drop("/elsewhere")


def test_a_writer_waiting_on_one_server_holds_back_new_readers_on_another(
        postgres: PostgresCluster) -> None:
    tables = [PostgresLocks(postgres.conninfo) for _ in range(3)]
    reading, writing, probing = (table.hold("/doc") for table in tables)
    try:
        reading.acquire(False)
        writer_in = threading.Event()

        def writer() -> None:
            writing.acquire(True)
            writer_in.set()
            writing.release(True)

        thread = threading.Thread(target=writer)
        thread.start()
        # Probe with new readers until one is refused: only a waiting writer does that.
        refused = False
        for _ in range(100_000):
            if not probing.try_acquire(False):
                refused = True
                break
            probing.release(False)
        assert refused, "new readers kept entering while a writer waited"
        assert not writer_in.is_set()
        reading.release(False)
        thread.join(HANG_TIMEOUT)
        assert writer_in.is_set()
    finally:
        for table in tables:
            table.drop("/doc")
            table.close()


def test_a_server_that_cannot_reach_the_database_gets_lock_unavailable() -> None:
    locks = PostgresLocks("host=127.0.0.1 port=1 user=postgres dbname=postgres",
                          connect_timeout=1)
    lock = locks.hold("/doc")
    with pytest.raises(LockUnavailable) as refused:
        lock.try_acquire(True)
    assert refused.value.status_code == 503
    assert refused.value.headers["Retry-After"] == "1"
    with pytest.raises(LockUnavailable):
        lock.acquire(False)
    # Neither layer is left held: the in-process lock is free again.
    assert lock._local.try_acquire(True)


def test_a_lock_wait_past_lock_timeout_gets_lock_unavailable(
        postgres: PostgresCluster) -> None:
    holder = PostgresLocks(postgres.conninfo)
    waiter = PostgresLocks(postgres.conninfo, lock_timeout=0.05)
    held = holder.hold("/doc")
    held.acquire(True)
    try:
        with pytest.raises(LockUnavailable, match="Timed out"):
            waiter.hold("/doc").acquire(False)
    finally:
        held.release(True)
        holder.close()
        waiter.close()


def test_a_pooled_connection_killed_by_the_database_is_replaced(
        postgres: PostgresCluster) -> None:
    import psycopg

    locks = PostgresLocks(postgres.conninfo)
    lock = locks.hold("/doc")
    assert lock.try_acquire(True)
    lock.release(True)  # its connection is now idle in the pool
    with psycopg.connect(postgres.conninfo, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
    assert lock.try_acquire(True)
    lock.release(True)
    locks.drop("/doc")
    locks.close()


def test_postgres_store_is_a_mapping_shared_by_servers(postgres: PostgresCluster) -> None:
    one = PostgresStore(postgres.conninfo, table="mapping_test")
    two = PostgresStore(postgres.conninfo, table="mapping_test")
    one["a"] = b"1"
    two["b"] = "two"
    assert two["a"] == b"1"
    assert one["b"] == b"two"
    assert sorted(one) == ["a", "b"] and len(two) == 2
    assert "a" in two and "zz" not in two
    del two["a"]
    with pytest.raises(KeyError):
        one["a"]
    with pytest.raises(KeyError):
        del one["a"]
    assert one.get("a") is None
    one.close()
    two.close()
