"""Per-resource ordering across machines, on PostgreSQL advisory locks.

`PostgresLocks` is the backend for several webpy servers (on one machine or
many) that share a PostgreSQL database: a resource is locked with
``pg_advisory_lock_shared`` by readers and ``pg_advisory_lock`` by a
writer, keyed by its 64-bit `resource_slot`. PostgreSQL's lock manager queues
a new shared request behind a waiting exclusive one, so writers are preferred
across servers as they are within one.

Advisory locks belong to a database session, so the connection that took a
lock is kept out of the pool until the lock is released on it. Each process
orders its own threads first (`SharedLocks`), so a server holds at most one
connection per resource in use, whatever its number of readers.

Failure is loud, never silent:

- the database unreachable, or a lock not granted within `lock_timeout`:
  `LockUnavailable`, answered 503 with ``Retry-After``, and the handler does
  not run. A pooled connection found dead is replaced once first, so a
  database restart costs no failed request once it is back.
- the session lost while a handler runs (PostgreSQL then drops its locks):
  another server may have entered the resource meanwhile. That cannot be
  undone; it is logged as an error on the ``webpy`` logger when the lock is
  given back, naming the resource slot.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import pq

from ._postgres import ConnectionPool
from .locks import LockUnavailable
from .locks_shared import SharedLocks

logger = logging.getLogger("webpy")

#: Prepared once per connection; a lock costs one round trip with no parsing or planning.
_STATEMENTS = {
    (name + ("x" if exclusive else "s")).encode(): (
        f"SELECT {function}{'' if exclusive else '_shared'}($1::int8)").encode()
    for name, function in (("try_", "pg_try_advisory_lock"), ("wait_", "pg_advisory_lock"),
                           ("unlock_", "pg_advisory_unlock"))
    for exclusive in (True, False)
}
_TRY = {True: b"try_x", False: b"try_s"}
_WAIT = {True: b"wait_x", False: b"wait_s"}
_UNLOCK = {True: b"unlock_x", False: b"unlock_s"}
#: The SQLSTATE of a lock wait cut short by ``lock_timeout``.
_LOCK_NOT_AVAILABLE = b"55P03"


class _Lost(Exception):
    """The session is gone: the connection must be dropped, not reused."""


class _Refused(Exception):
    """The database answered with an error; `sqlstate` says which."""

    def __init__(self, sqlstate: bytes | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


Connection = psycopg.Connection[tuple[object, ...]]


class PostgresLocks(SharedLocks):
    """Order requests of every server using the database at `conninfo`.

    `conninfo` is a libpq connection string or URL (``postgresql://user@db/app``).
    `lock_timeout` (seconds) bounds a wait for a lock before the request gets
    503; `connect_timeout` bounds opening a connection. Make it once, before
    forking workers: connections are opened lazily in each process.
    """

    __slots__ = ()

    def __init__(self, conninfo: str, *, lock_timeout: float = 30.0,
                 connect_timeout: float = 5.0, max_idle: int = 16) -> None:
        super().__init__(AdvisoryLocks(conninfo, lock_timeout=lock_timeout,
                                       connect_timeout=connect_timeout, max_idle=max_idle))


class AdvisoryLocks:
    """The `SharedPrimitive` of `PostgresLocks`; a token is the connection holding the lock."""

    def __init__(self, conninfo: str, *, lock_timeout: float = 30.0,
                 connect_timeout: float = 5.0, max_idle: int = 16) -> None:
        milliseconds = max(int(lock_timeout * 1000), 1)

        def configure(connection: Connection) -> None:
            connection.execute(f"SET lock_timeout = {milliseconds}")
            for name, statement in _STATEMENTS.items():
                _check(connection, connection.pgconn.prepare(name, statement))

        self._pool = ConnectionPool(conninfo, max_idle=max_idle,
                                    connect_timeout=connect_timeout, configure=configure)

    def try_lock(self, slot: int, exclusive: bool) -> object | None:
        connection, taken = self._run(_TRY[exclusive], slot)
        if taken:
            return connection
        self._pool.put(connection)
        return None

    def lock(self, slot: int, exclusive: bool) -> object:
        connection, _ = self._run(_WAIT[exclusive], slot)
        return connection

    def unlock(self, slot: int, exclusive: bool, token: object) -> None:
        connection: Connection = token  # type: ignore[assignment]
        try:
            held = _execute(connection, _UNLOCK[exclusive], slot)
        except (_Lost, _Refused):
            held = False
        if not held:
            logger.error("PostgreSQL session lost while it held the lock of resource slot %d: "
                         "requests on that resource may have overlapped", slot)
        self._pool.put(connection)

    def close(self) -> None:
        self._pool.close()

    def _run(self, statement: bytes, slot: int) -> tuple[Connection, bool]:
        """Run a lock statement on a pooled connection, retrying once on a fresh one."""
        for fresh in (False, True):
            try:
                connection = self._pool.get(fresh)
            except (psycopg.Error, _Lost, _Refused) as error:
                raise LockUnavailable() from error
            try:
                return connection, _execute(connection, statement, slot)
            except _Lost as error:
                connection.close()  # a dead session holds nothing
                if fresh:
                    raise LockUnavailable() from error
            except _Refused as error:
                self._pool.put(connection)
                if error.sqlstate == _LOCK_NOT_AVAILABLE:
                    raise LockUnavailable("Timed out waiting for the resource lock.") from error
                raise LockUnavailable() from error
        raise AssertionError("unreachable")


def _execute(connection: Connection, statement: bytes, slot: int) -> bool:
    """One prepared lock statement through libpq (psycopg's `pq` layer); its boolean result."""
    try:
        result = connection.pgconn.exec_prepared(statement, [str(slot).encode()])
    except psycopg.OperationalError as error:
        raise _Lost() from error
    _check(connection, result)
    return result.get_value(0, 0) != b"f"  # pg_advisory_lock returns void: an empty value


def _check(connection: Connection, result: pq.abc.PGresult) -> None:
    if result.status in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
        return
    if connection.pgconn.status != pq.ConnStatus.OK:
        raise _Lost()
    raise _Refused(result.error_field(pq.DiagnosticField.SQLSTATE))
