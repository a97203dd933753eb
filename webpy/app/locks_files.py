"""Per-resource ordering across the worker processes of one machine, on a lock file.

`FileLocks` is the backend `HTTPServer(processes=N)` wants: the requests of
every worker on one resource are ordered as if they ran in one process.

Each resource slot is two bytes of one lock file (the file stays empty: byte
ranges past the end can be locked), locked with `fcntl`:

- the *data* byte at ``2 * slot + 1`` is the lock itself, shared by readers,
  exclusive for a writer;
- the *gate* byte at ``2 * slot`` gives writers preference, which POSIX
  record locks lack (a read lock is granted while a writer waits). Whoever
  must wait passes through the gate exclusively; a writer keeps it while it
  waits for the readers inside to leave, so new readers queue behind it. A
  reader that need not wait only looks at the gate (``F_GETLK``) before
  taking the data byte, and a writer that need not wait takes the data byte
  alone: two system calls per request instead of four on the common path.
  Between a reader's look and its lock a writer may close the gate; that
  writer then waits for one reader more, and never for an endless stream.
  Lock order is always gate, then data, so the two cannot deadlock.

The kernel releases a process's locks when it dies, however it dies, so a
worker killed while holding a lock blocks no one: a lock table kept in shared
memory or in files would need its own recovery. Linux's open-file-description
locks (``F_OFD_SETLK``) are used where present: they belong to the opened
file rather than to the process, so the kernel does not report false
deadlocks between processes whose threads wait on different resources, and
closing some other descriptor of the file does not drop them. Each process
opens the file itself, after `fork`, so workers never share a description.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import tempfile
import threading
import time

from .locks import LockUnavailable
from .locks_shared import SharedLocks

#: `struct flock` on 64-bit Linux and the BSDs: type, whence, start, length, pid.
_FLOCK = struct.Struct("hhqqi4x")
_GET = getattr(fcntl, "F_OFD_GETLK", fcntl.F_GETLK)
_SET_NOWAIT = getattr(fcntl, "F_OFD_SETLK", fcntl.F_SETLK)
_SET_WAIT = getattr(fcntl, "F_OFD_SETLKW", fcntl.F_SETLKW)
#: Slots are folded to 61 bits so both byte offsets fit a signed 64-bit off_t.
_SLOT_MASK = (1 << 61) - 1
_BUSY = (errno.EAGAIN, errno.EACCES)


class FileLocks(SharedLocks):
    """Order requests across the processes of one machine that share `path`.

    With no `path`, a private lock file is made in the temporary directory
    and removed by `close()` in the process that made it. Make this object
    before forking workers, and pass the same path to separately started
    servers that should be ordered together.
    """

    __slots__ = ()

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(LockFile(path))

    @property
    def path(self) -> str:
        return self._primitive.path  # type: ignore[attr-defined, no-any-return]


class LockFile:
    """The `SharedPrimitive` of `FileLocks`: two locked bytes per slot of one file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._owner = -1
        if path is None:
            descriptor, path = tempfile.mkstemp(prefix="webpy-locks-")
            os.close(descriptor)
            self._owner = os.getpid()
        self.path = os.fspath(path)
        self._descriptor = -1
        self._pid = -1
        self._opening = threading.Lock()

    def try_lock(self, slot: int, exclusive: bool) -> object | None:
        fd = self._file()
        gate = (slot & _SLOT_MASK) * 2
        if exclusive:
            return fd if _set(fd, _SET_NOWAIT, fcntl.F_WRLCK, gate + 1) else None
        if _gate_closed(fd, gate):  # a writer waits: queue behind it
            return None
        return fd if _set(fd, _SET_NOWAIT, fcntl.F_RDLCK, gate + 1) else None

    def lock(self, slot: int, exclusive: bool) -> object:
        fd = self._file()
        gate = (slot & _SLOT_MASK) * 2
        _wait(fd, fcntl.F_WRLCK, gate)
        try:
            _wait(fd, fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK, gate + 1)
        finally:
            _set(fd, _SET_NOWAIT, fcntl.F_UNLCK, gate)
        return fd

    def unlock(self, slot: int, exclusive: bool, token: object) -> None:
        assert isinstance(token, int)
        _set(token, _SET_NOWAIT, fcntl.F_UNLCK, (slot & _SLOT_MASK) * 2 + 1)

    def close(self) -> None:
        """Close this process's descriptor (dropping its locks); the maker removes the file."""
        with self._opening:
            if self._pid == os.getpid() and self._descriptor >= 0:
                os.close(self._descriptor)
            self._descriptor, self._pid = -1, -1
        if self._owner == os.getpid():
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self._owner = -1

    def _file(self) -> int:
        """This process's own descriptor of the lock file, opened on first use."""
        if self._pid == os.getpid():
            return self._descriptor
        with self._opening:
            if self._pid != os.getpid():  # first use here, or inherited across fork
                try:
                    self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                except OSError as error:
                    raise LockUnavailable("The resource lock file cannot be opened.") from error
                self._pid = os.getpid()
            return self._descriptor


def _set(fd: int, command: int, kind: int, offset: int) -> bool:
    """One record-lock call on the byte at `offset`; False if it is held elsewhere."""
    try:
        fcntl.fcntl(fd, command, _FLOCK.pack(kind, os.SEEK_SET, offset, 1, 0))
    except OSError as error:
        if error.errno in _BUSY:
            return False
        raise
    return True


def _gate_closed(fd: int, offset: int) -> bool:
    """Whether another process holds the gate byte (a writer waiting, or one passing)."""
    query = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0)
    kind = _FLOCK.unpack(fcntl.fcntl(fd, _GET, query))[0]
    return bool(kind != fcntl.F_UNLCK)


def _wait(fd: int, kind: int, offset: int) -> None:
    """Wait for a record lock; classic POSIX locks may report a false deadlock, so retry."""
    delay = 0.001
    while True:
        try:
            _set(fd, _SET_WAIT, kind, offset)
            return
        except OSError as error:
            if error.errno != errno.EDEADLK:
                raise
        # Only reached without OFD locks, when the kernel sees a cycle between
        # processes that is really between different threads' resources.
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
