"""Per-resource ordering: readers share a resource, a writer has it alone.

The seed promise is that concurrent requests on one resource are ordered:
requests that only read (GET, HEAD, OPTIONS) run together, a request that
changes the resource (PUT, POST, DELETE...) runs alone on it, and different
resources never wait for each other. `ResourceLocks` keeps one lock per
resource in use and forgets it when the last request on it is done; the lock
type is the transport's (threads block on `ReadWriteLock`, trio awaits its own).

Theory of operation
-------------------
The driver sees a lock table through two verbs, `hold(key)` and `drop(key)`,
and a lock through three: `try_acquire(exclusive)` (never waits), then, only
if that failed, `acquire(exclusive)` (waits), and `release(exclusive)`.
Anything with those verbs is a *lock backend*, chosen when the server starts;
handlers never see which one is in use. There are three:

================== ==================================== ==========================
backend            orders requests of                   module
================== ==================================== ==========================
`ResourceLocks`    one process (the default)            here
`FileLocks`        the processes of one machine         `locks_files`
`PostgresLocks`    every server sharing one database    `locks_postgres`
================== ==================================== ==========================

The two shared backends are `SharedLocks` tables (`locks_shared`): a
process first orders its own threads with a `ReadWriteLock`, so at most one
request per process and resource talks to the shared primitive, then takes
the shared lock on the resource's 64-bit `resource_slot`. Two resources
whose slots collide are ordered as if they were one: slower, never wrong.

Every backend prefers writers: once a writer waits, new readers wait behind
it, so a steady stream of GETs cannot starve a PUT. A shared backend that
cannot reach its primitive raises `LockUnavailable` (503): a request is
answered with an error rather than run unordered.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from .errors import HTTPError

L = TypeVar("L")
L_co = TypeVar("L_co", covariant=True)

#: Methods that only read a resource, so may run alongside each other.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ResourceLock(Protocol):
    """What the driver asks of one resource's lock (blocking form)."""

    def try_acquire(self, exclusive: bool) -> bool: ...
    def acquire(self, exclusive: bool) -> None: ...
    def release(self, exclusive: bool) -> None: ...


class LockTable(Protocol[L_co]):
    """What the driver asks of a lock backend: the lock of a resource, while used."""

    def hold(self, key: str) -> L_co: ...
    def drop(self, key: str) -> None: ...
    def __len__(self) -> int: ...


class LockUnavailable(HTTPError):
    """A shared lock backend lost its primitive (database gone, lock wait timed out).

    Raised by `try_acquire` or `acquire` instead of returning without the
    lock; the request is answered 503 with `Retry-After` and its handler
    never runs, because running it unordered could lose an update.
    """

    def __init__(self, message: str = "The resource lock service is unavailable.") -> None:
        super().__init__(503, message, headers={"Retry-After": "1"})


def acquire_blocking(lock: ResourceLock, exclusive: bool) -> HTTPError | None:
    """Wait in the calling thread for `lock`; return the refusal if its backend has none to give.

    What a thread-based transport does with the driver's `Acquire`: the
    refusal (`LockUnavailable`) goes back to the driver, which answers it
    instead of running the handler.
    """
    try:
        lock.acquire(exclusive)
    except HTTPError as refusal:
        return refusal
    return None


def resource_slot(key: str) -> int:
    """A stable signed 64-bit number for `key`, the same in every process and machine.

    Python's `hash` is salted per process, so a keyed BLAKE2b digest is used:
    every server of a deployment maps a resource to the same shared lock.
    """
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8,
                             person=b"webpy-lk").digest()
    return int.from_bytes(digest, "big", signed=True)


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


class ReadWriteState:
    """Who may hold a resource, with no waiting: the decisions every reader/writer lock shares.

    Many readers or one writer; a writer that waits holds back new readers
    (writer preference), so a steady stream of GETs cannot starve a PUT.
    The waiting itself is the caller's (a condition for threads, a parking
    lot for trio); the caller also provides mutual exclusion around every
    call. A waiter first tries `try_take`, then `enqueue`s and retries
    `try_take_queued` after each wake-up; one that gives up calls `dequeue`.
    `release` and `dequeue` return whether waiters should be woken.
    """

    __slots__ = ("readers", "writing", "writers_waiting")

    def __init__(self) -> None:
        self.readers = 0
        self.writing = False
        self.writers_waiting = 0

    def try_take(self, exclusive: bool) -> bool:
        """Enter at once if that needs no waiting; a new reader defers to waiting writers."""
        if self.writing or (self.readers if exclusive else self.writers_waiting):
            return False
        if exclusive:
            self.writing = True
        else:
            self.readers += 1
        return True

    def enqueue(self, exclusive: bool) -> None:
        """Count a writer that is about to wait, so that new readers queue behind it."""
        if exclusive:
            self.writers_waiting += 1

    def try_take_queued(self, exclusive: bool) -> bool:
        """Enter after `enqueue`, if the resource is free for this waiter now."""
        if not exclusive:
            return self.try_take(False)
        if self.writing or self.readers:
            return False
        self.writers_waiting -= 1
        self.writing = True
        return True

    def dequeue(self, exclusive: bool) -> bool:
        """Forget a waiter that gave up (cancelled); True if readers it held back may go."""
        if not exclusive:
            return False
        self.writers_waiting -= 1
        return not self.writing and not self.writers_waiting

    def release(self, exclusive: bool) -> bool:
        """Leave; True if someone waiting may now enter."""
        if exclusive:
            self.writing = False
            return True
        self.readers -= 1
        return not self.readers and bool(self.writers_waiting)


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers.

    Blocking, for threads: `ReadWriteState` decides, a condition waits.
    """

    __slots__ = ("_condition", "_mutex", "_state")

    def __init__(self) -> None:
        # The mutex is entered directly (a C-level context manager) on the paths
        # every request takes; the condition on it is only for waiting.
        self._mutex = threading.Lock()
        self._condition = threading.Condition(self._mutex)
        self._state = ReadWriteState()

    def try_acquire(self, exclusive: bool) -> bool:
        """Take the lock if that needs no waiting; return whether it was taken."""
        with self._mutex:
            return self._state.try_take(exclusive)

    def acquire(self, exclusive: bool) -> None:
        with self._mutex:
            state = self._state
            if state.try_take(exclusive):
                return
            state.enqueue(exclusive)
            while not state.try_take_queued(exclusive):
                self._condition.wait()

    def release(self, exclusive: bool) -> None:
        with self._mutex:
            if self._state.release(exclusive):
                self._condition.notify_all()
