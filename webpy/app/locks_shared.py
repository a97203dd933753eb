"""Per-resource ordering shared by several processes: the in-process lock, then a shared one.

A shared lock service (a lock file, a database) is slow next to a mutex and
usually owned per process, not per thread: a process that holds a read lock
on a file range and takes it again has taken nothing new, and releasing it
once releases it for every thread. So each process first orders its own
threads on the resource with an ordinary `ReadWriteLock`, and only then
takes the shared lock:

- a writer, alone in its process, takes the shared lock exclusively;
- the first reader of a process takes it shared, later readers of the same
  process join without asking, and the last one to leave gives it back.

Both layers prefer writers, so a waiting PUT holds back new GETs in its own
process and, through the primitive, in the others.

Resources are keyed by `resource_slot`, a 64-bit hash, and so is the
in-process table: two resources whose slots collide share one lock, which
orders them together (slower, never wrong). Keying the local table by the
resource name instead would let two threads of one process each believe they
hold a colliding slot, and the first to release would free it for both.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from .locks import ReadWriteLock, resource_slot


class SharedPrimitive(Protocol):
    """A lock service shared between processes: many readers or one writer per slot.

    `try_lock` and `lock` return a token that `unlock` gets back (the
    connection that holds a database lock, for example); `try_lock` returns
    None when the lock is taken. Both raise `LockUnavailable` when the
    service cannot be reached. Implementations must prefer writers.
    """

    def try_lock(self, slot: int, exclusive: bool) -> object | None: ...
    def lock(self, slot: int, exclusive: bool) -> object: ...
    def unlock(self, slot: int, exclusive: bool, token: object) -> None: ...
    def close(self) -> None: ...


class SharedLocks:
    """A lock table (`hold`/`drop`) whose locks order requests across processes.

    Made once, before any worker process is forked: primitives open their
    files and connections lazily in each process that uses them.
    """

    __slots__ = ("_mutex", "_primitive", "_slots", "_spares", "_table")

    #: Tells a transport that `acquire` blocks the calling thread (trio runs it in one).
    blocking = True

    def __init__(self, primitive: SharedPrimitive) -> None:
        self._primitive = primitive
        self._table: dict[int, _Entry] = {}
        self._spares: list[_Entry] = []
        #: Recent keys' slots: a dict lookup instead of hashing twice per request.
        self._slots: dict[str, int] = {}
        self._mutex = threading.Lock()

    def hold(self, key: str) -> SharedLock:
        """Return the lock for `key`; pair every call with `drop(key)`."""
        slot = self._slot(key)
        with self._mutex:
            entry = self._table.get(slot)
            if entry is None:
                if self._spares:
                    entry = self._spares.pop()
                    entry.lock.slot = slot
                else:
                    entry = _Entry(SharedLock(self._primitive, slot))
                self._table[slot] = entry
            entry.users += 1
            return entry.lock

    def drop(self, key: str) -> None:
        slot = self._slot(key)
        with self._mutex:
            entry = self._table[slot]
            entry.users -= 1
            if not entry.users:
                del self._table[slot]
                if len(self._spares) < 64:
                    self._spares.append(entry)

    def __len__(self) -> int:
        return len(self._table)

    def close(self) -> None:
        """Give back the primitive's files or connections in this process."""
        self._primitive.close()

    def _slot(self, key: str) -> int:
        slot = self._slots.get(key)
        if slot is None:
            slot = resource_slot(key)
            if len(self._slots) >= 4096:  # bounded: many distinct paths start it afresh
                self._slots.clear()
            self._slots[key] = slot
        return slot


class SharedLock:
    """One slot's lock in one process: a `ReadWriteLock`, then the shared primitive."""

    __slots__ = ("_entry", "_local", "_primitive", "_readers", "_token", "slot")

    blocking = True

    def __init__(self, primitive: SharedPrimitive, slot: int) -> None:
        self._primitive = primitive
        self.slot = slot
        self._local = ReadWriteLock()
        # Held by the reader that takes or gives back the shared lock for the
        # process, so other readers of the process wait for it, not around it.
        self._entry = threading.Lock()
        self._readers = 0
        self._token: Any = None

    def try_acquire(self, exclusive: bool) -> bool:
        """Take both layers if neither needs waiting; return whether taken."""
        if not self._local.try_acquire(exclusive):
            return False
        try:
            taken = self._try_shared(exclusive)
        except BaseException:
            self._local.release(exclusive)
            raise
        if not taken:
            self._local.release(exclusive)
        return taken

    def acquire(self, exclusive: bool) -> None:
        """Wait for both layers; raises `LockUnavailable` with neither held."""
        self._local.acquire(exclusive)
        try:
            self._take_shared(exclusive)
        except BaseException:
            self._local.release(exclusive)
            raise

    def release(self, exclusive: bool) -> None:
        try:
            if exclusive:
                token, self._token = self._token, None
                self._primitive.unlock(self.slot, True, token)
            else:
                with self._entry:
                    self._readers -= 1
                    if not self._readers:
                        token, self._token = self._token, None
                        self._primitive.unlock(self.slot, False, token)
        finally:
            self._local.release(exclusive)

    def _try_shared(self, exclusive: bool) -> bool:
        if exclusive:  # alone in this process on the slot: no one else touches _token
            token = self._primitive.try_lock(self.slot, True)
            if token is None:
                return False
            self._token = token
            return True
        if not self._entry.acquire(blocking=False):
            return False  # another reader is taking it: wait in `acquire`
        try:
            if not self._readers:
                token = self._primitive.try_lock(self.slot, False)
                if token is None:
                    return False
                self._token = token
            self._readers += 1
            return True
        finally:
            self._entry.release()

    def _take_shared(self, exclusive: bool) -> None:
        if exclusive:
            self._token = self._primitive.lock(self.slot, True)
            return
        with self._entry:
            if not self._readers:
                self._token = self._primitive.lock(self.slot, False)
            self._readers += 1


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self, lock: SharedLock) -> None:
        self.lock = lock
        self.users = 0
