"""Shared state for handlers: a key-value store that every worker and server sees.

The seed's example keeps its data in a module-level dict, which is right for
one process and wrong for several: each worker would have its own dict, and
a PUT on one would be a 404 on the next GET. A `Store` is a mutable mapping
of str to bytes, so a handler written against a dict works unchanged:
``saved[key]``, ``saved[key] = body``, ``del saved[key]``, `KeyError` when
absent. Swapping the dict for a store is the one-line switch:

=============================== ================================ =====================
store                           shared by                        needs
=============================== ================================ =====================
``{}``                          the threads of one process       nothing
`SQLiteStore` ``(path)``        the processes of one machine     nothing (sqlite3)
`PostgresStore` ``(conninfo)``  every server using the database  ``webpy[postgres]``
=============================== ================================ =====================

Each operation is one statement, committed at once; ordering several of them
(a read-modify-write) is the resource lock's job, which the server already
takes around every request. Values are stored as bytes; a str is stored as
its UTF-8 encoding. Stores open their connections lazily in each thread or
process, so one made before `HTTPServer(processes=N)` forks is safe.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._postgres import ConnectionPool


class Store(MutableMapping[str, bytes]):
    """A mutable mapping of str keys to bytes values, shared beyond one process.

    Subclasses provide `_get` (None when absent), `_put`, `_delete` (whether
    a row went) and `_keys`; the mapping methods are written once here.
    """

    def __getitem__(self, key: str) -> bytes:
        value = self._get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: bytes | bytearray | memoryview | str) -> None:
        self._put(key, value.encode() if isinstance(value, str) else bytes(value))

    def __delitem__(self, key: str) -> None:
        if not self._delete(key):
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._get(key) is not None

    def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _put(self, key: str, value: bytes) -> None:
        raise NotImplementedError

    def _delete(self, key: str) -> bool:
        raise NotImplementedError

    def _keys(self) -> list[str]:
        raise NotImplementedError


class SQLiteStore(Store):
    """A store in one SQLite file, in WAL mode: readers never wait for a writer.

    For the processes of one machine (`HTTPServer(processes=N)`) or several
    servers on it. With no `path`, the file is a private temporary one,
    shared by the worker processes forked after it is made and removed when
    the process that made it exits: a dict's lifetime, across workers.
    `timeout` is how long a write waits for another process's write to
    finish, in seconds. Each thread of each process has its own connection.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, table: str = "store",
                 timeout: float = 30.0) -> None:
        if not table.isidentifier():
            raise ValueError("table must be a plain identifier")
        if path is None:
            descriptor, path = tempfile.mkstemp(prefix="webpy-store-", suffix=".sqlite3")
            os.close(descriptor)
            atexit.register(_remove_database, path, os.getpid())
        self.path = os.fspath(path)
        self.table = table
        self.timeout = timeout
        self._local = threading.local()
        self._sql = {
            "get": f"SELECT value FROM {table} WHERE key = ?",
            "put": f"INSERT INTO {table} (key, value) VALUES (?, ?) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            "delete": f"DELETE FROM {table} WHERE key = ?",
            "keys": f"SELECT key FROM {table} ORDER BY key",
        }
        self._db()  # create the file and table now, so errors show at startup

    def _get(self, key: str) -> bytes | None:
        row = self._db().execute(self._sql["get"], (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def _put(self, key: str, value: bytes) -> None:
        self._db().execute(self._sql["put"], (key, value))

    def _delete(self, key: str) -> bool:
        return self._db().execute(self._sql["delete"], (key,)).rowcount > 0

    def _keys(self) -> list[str]:
        return [row[0] for row in self._db().execute(self._sql["keys"])]

    def close(self) -> None:
        """Close the calling thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            connection.close()
        self._local.connection = None
        self._local.pid = None

    def _db(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            return local.connection  # type: ignore[no-any-return]
        # isolation_level=None: autocommit, each statement its own transaction.
        connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                     check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; never corrupt
        connection.execute(f"CREATE TABLE IF NOT EXISTS {self.table} "
                           "(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
        local.connection, local.pid = connection, os.getpid()
        return connection


def _remove_database(path: str, owner: int) -> None:
    if os.getpid() == owner:
        for name in (path, path + "-wal", path + "-shm"):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass


class PostgresStore(Store):
    """A store in one PostgreSQL table, for servers on several machines (``webpy[postgres]``).

    `conninfo` is a libpq connection string or URL. The table is created if
    missing. Connections are pooled per process.
    """

    def __init__(self, conninfo: str, *, table: str = "webpy_store", max_idle: int = 16,
                 connect_timeout: float = 5.0) -> None:
        from ._postgres import ConnectionPool

        if not table.isidentifier():
            raise ValueError("table must be a plain identifier")
        self.table = table
        self._pool: ConnectionPool = ConnectionPool(conninfo, max_idle=max_idle,
                                                    connect_timeout=connect_timeout)
        self._sql = {
            "get": f"SELECT value FROM {table} WHERE key = %s",
            "put": f"INSERT INTO {table} (key, value) VALUES (%s, %s) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            "delete": f"DELETE FROM {table} WHERE key = %s",
            "keys": f"SELECT key FROM {table} ORDER BY key",
        }
        self._create()

    def _get(self, key: str) -> bytes | None:
        rows, _ = self._run("get", (key,))
        return None if not rows else bytes(rows[0][0])

    def _put(self, key: str, value: bytes) -> None:
        self._run("put", (key, value))

    def _delete(self, key: str) -> bool:
        return self._run("delete", (key,))[1] > 0

    def _keys(self) -> list[str]:
        return [row[0] for row in self._run("keys", ())[0]]

    def close(self) -> None:
        """Close this process's idle connections."""
        self._pool.close()

    def _run(self, name: str, parameters: tuple[Any, ...]) -> tuple[list[Any], int]:
        """Run one statement; a dead pooled connection is replaced once (all are idempotent)."""
        import psycopg

        for fresh in (False, True):
            connection = self._pool.get(fresh)
            try:
                cursor = connection.execute(self._sql[name], parameters)
                rows = cursor.fetchall() if cursor.description is not None else []
                count = cursor.rowcount
            except psycopg.OperationalError:
                connection.close()
                if fresh:
                    raise
                continue
            finally:
                self._pool.put(connection)
            return rows, count
        raise AssertionError("unreachable")

    def _create(self) -> None:
        import psycopg

        connection = self._pool.get()
        try:
            connection.execute(f"CREATE TABLE IF NOT EXISTS {self.table} "
                               "(key text PRIMARY KEY, value bytea NOT NULL)")
        except psycopg.errors.UniqueViolation:
            pass  # another server created it at the same moment
        finally:
            self._pool.put(connection)
