"""Per-resource ordering: readers share a resource, a writer has it alone.

The seed promise is that concurrent requests on one resource are ordered:
requests that only read (GET, HEAD, OPTIONS) run together, a request that
changes the resource (PUT, POST, DELETE...) runs alone on it, and different
resources never wait for each other. `ResourceLocks` keeps one lock per
resource in use and forgets it when the last request on it is done; the lock
type is the transport's (threads block on `ReadWriteLock`, trio awaits its own).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

L = TypeVar("L")

#: Methods that only read a resource, so may run alongside each other.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ResourceLocks(Generic[L]):
    """A table of locks by resource key, each kept only while someone uses it.

    Locks no longer in use go to a small pool of spares, so the common case of
    one request at a time on a resource makes no new lock per request.
    """

    __slots__ = ("_mutex", "_new_lock", "_spares", "_table")

    def __init__(self, new_lock: Callable[[], L]) -> None:
        self._new_lock = new_lock
        self._table: dict[str, _Entry[L]] = {}
        self._spares: list[_Entry[L]] = []
        self._mutex = threading.Lock()

    def hold(self, key: str) -> L:
        """Return the lock for `key`; pair every call with `drop(key)`."""
        with self._mutex:
            entry = self._table.get(key)
            if entry is None:
                entry = self._spares.pop() if self._spares else _Entry(self._new_lock())
                self._table[key] = entry
            entry.users += 1
            return entry.lock

    def drop(self, key: str) -> None:
        with self._mutex:
            entry = self._table[key]
            entry.users -= 1
            if not entry.users:
                del self._table[key]
                if len(self._spares) < 64:
                    self._spares.append(entry)

    def __len__(self) -> int:
        return len(self._table)


class _Entry(Generic[L]):
    __slots__ = ("lock", "users")

    def __init__(self, lock: L) -> None:
        self.lock = lock
        self.users = 0


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers.

    Blocking, for threads. Writer preference keeps a stream of readers from
    starving a PUT.
    """

    __slots__ = ("_condition", "_mutex", "_readers", "_writers_waiting", "_writing")

    def __init__(self) -> None:
        # The mutex is entered directly (a C-level context manager) on the paths
        # every request takes; the condition on it is only for waiting.
        self._mutex = threading.Lock()
        self._condition = threading.Condition(self._mutex)
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    def try_acquire(self, exclusive: bool) -> bool:
        """Take the lock if that needs no waiting; return whether it was taken."""
        with self._mutex:
            if self._writing or (self._readers if exclusive else self._writers_waiting):
                return False
            if exclusive:
                self._writing = True
            else:
                self._readers += 1
            return True

    def acquire(self, exclusive: bool) -> None:
        with self._mutex:
            if exclusive:
                self._writers_waiting += 1
                while self._writing or self._readers:
                    self._condition.wait()
                self._writers_waiting -= 1
                self._writing = True
            else:
                while self._writing or self._writers_waiting:
                    self._condition.wait()
                self._readers += 1

    def release(self, exclusive: bool) -> None:
        with self._mutex:
            if exclusive:
                self._writing = False
                self._condition.notify_all()
            else:
                self._readers -= 1
                if not self._readers and self._writers_waiting:
                    self._condition.notify_all()
