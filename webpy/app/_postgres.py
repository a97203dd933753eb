"""A small pool of PostgreSQL connections that survives `fork`, for the lock backend and store.

Worker processes are forked from the process that made the pool, and a
PostgreSQL connection is a socket with a session on the other end: a child
that used or closed its parent's connection would talk inside, or end, the
parent's session (and drop the parent's advisory locks). So every process
keeps its own idle connections, the pool notices a new process by its pid,
and connections inherited across `fork` are set aside untouched.

Connections are in autocommit mode: advisory locks are session locks, and
no statement should hold a transaction open between requests.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import psycopg
from psycopg.pq import TransactionStatus


class ConnectionPool:
    """Idle connections to `conninfo`, at most `max_idle` kept; `get` opens more as needed.

    The number of connections in use is bounded by the caller (one per
    request holding a lock or reading the store), not here: a bound here
    would only add a second queue in front of PostgreSQL's own.
    """

    def __init__(self, conninfo: str, *, max_idle: int = 16, connect_timeout: float = 5.0,
                 configure: Callable[[psycopg.Connection[tuple[object, ...]]], None] | None = None
                 ) -> None:
        self.conninfo = conninfo
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self._configure = configure
        self._idle: list[psycopg.Connection[tuple[object, ...]]] = []
        self._inherited: list[psycopg.Connection[tuple[object, ...]]] = []
        self._pid = os.getpid()
        self._mutex = threading.Lock()

    def get(self, fresh: bool = False) -> psycopg.Connection[tuple[object, ...]]:
        """An idle connection, or a new one (`fresh` skips the idle ones); raises psycopg errors."""
        with self._mutex:
            if self._pid != os.getpid():
                # Forked: the idle connections are the parent's sessions. Keep
                # references so that nothing ever closes them from here.
                self._inherited.extend(self._idle)
                self._idle = []
                self._pid = os.getpid()
            if self._idle and not fresh:
                return self._idle.pop()
        connection = psycopg.connect(self.conninfo, autocommit=True,
                                     connect_timeout=max(int(self.connect_timeout), 1))
        if self._configure is not None:
            try:
                self._configure(connection)
            except BaseException:
                connection.close()
                raise
        return connection

    def put(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        """Give a connection back; a broken one, or one left inside a transaction, is closed."""
        if (connection.closed or connection.broken
                or connection.info.transaction_status != TransactionStatus.IDLE):
            connection.close()
            return
        with self._mutex:
            if self._pid == os.getpid() and len(self._idle) < self.max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close this process's idle connections."""
        with self._mutex:
            idle, self._idle = (self._idle, []) if self._pid == os.getpid() else ([], [])
        for connection in idle:
            connection.close()
