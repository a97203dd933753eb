"""Several worker processes on one port (`HTTPServer(processes=N)`).

Python threads share one interpreter lock, so a CPU-bound application gets
more from processes. The parent binds the listening sockets, forks N
children that each run the ordinary threaded server (or a trio server,
`trio_worker.py`), and supervises them. The parent serves nothing itself;
on SIGHUP the command line may first give it a new version of the
application (`HTTPServer.restart_workers(routes)`), which the new workers run.

Each worker has a number, 0 to N-1, that its replacements inherit. Where the
kernel balances `SO_REUSEPORT` sockets (Linux), the parent binds one socket
per number (`listeners.tcp_group`) and worker k accepts on socket k only:
each socket has its own accept queue, the kernel spreads new connections
evenly over them, and no worker can take more than its share because its
threads happened to wake first. Otherwise (and for unix sockets, inherited
and systemd sockets) every worker accepts on every socket.

Theory of operation
-------------------
One supervisor thread in the parent waits (``poll``, no sleeping) on three
kinds of descriptor: a command pipe (`restart` and `stop` write to it), a
status pipe every child writes to, and one pidfd per child, readable when
that child exits. Each child is in one state of this table:

=========== =================================== ==============================
state       meaning                             leaves it when
=========== =================================== ==============================
STARTING    forked, not yet accepting           it reports READY -> SERVING
SERVING     accepting on its socket(s)          it is replaced -> RETIRING
RETIRING    sent SIGTERM: accepts nothing new,  it exits
            finishes what it has (its `stop`)
=========== =================================== ==============================

Replacing a worker (SIGHUP's roll, or a worker that reached `max_requests`)
is always done the same way, one worker at a time: fork the new one with the
old one's number, wait for its READY, and only then SIGTERM the old one; the
next replacement starts when the old one has exited. The old and the new
worker accept on the same socket meanwhile, and the socket stays open in the
parent when the old worker closes its copy: a connection queued on it is not
reset (as it would be if the socket closed, unless the kernel migrates it,
``tcp_migrate_req``), it waits for the new worker. The same holds for a
worker that crashes: its connections wait for its replacement.

A worker that exits when it was not told to has crashed: it is replaced. A
crash soon after start-up (`QUICK_CRASH` seconds) counts towards a back-off
(`Backoff`): an application that cannot start is not forked in a tight loop.

How long a stopping worker may take to finish its requests (the grace
period), and whether it is being replaced, is written by the parent into a
shared page before each SIGTERM, so `stop(timeout)` and a roll each give
their own. A replaced worker hands its socket over: a client it accepted
just before its SIGTERM, whose request is still on the way, is served, not
closed as an idle connection would be (`Site.stop`).

A child must not outlive its parent: killed with SIGKILL, a parent cannot
stop its children, and orphans would go on serving the port with nobody to
stop them. So the parent holds the only write end of a pipe (each child
closes its copy at once) and every child watches the read end in a thread:
the kernel closes the write end when the parent exits, however it exits,
the read returns end-of-file, and the child stops as on SIGTERM. (Linux's
PR_SET_PDEATHSIG would do it too, but fires when the forking *thread*
exits, and the supervisor thread forks replacements.)
"""

from __future__ import annotations

import collections
import logging
import mmap
import os
import random
import select
import signal
import struct
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .threaded import HTTPServer

logger = logging.getLogger("webpy")

STARTING, SERVING, RETIRING = "starting", "serving", "retiring"
#: A worker that dies within this many seconds of its start counts towards the back-off.
QUICK_CRASH = 1.0

#: Child -> parent messages: one byte of kind and the child's pid, written atomically.
_MESSAGE = struct.Struct("=ci")
_READY, _RETIRE = b"R", b"M"
#: Parent -> supervisor commands.
_ROLL, _STOP = b"H", b"S"
#: The grace period shared with the children, and whether the worker is replaced.
_GRACE = struct.Struct("=d?")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How workers are recycled: after `max_requests` (0: never) plus up to
    `max_requests_jitter` more, drawn per worker so they do not all restart
    together; `grace_period` seconds for a replaced worker's requests."""

    max_requests: int = 0
    max_requests_jitter: int = 0
    grace_period: float = 5.0

    def budget(self) -> int:
        """This worker's request budget (0: unlimited)."""
        if self.max_requests <= 0:
            return 0
        return self.max_requests + random.randint(0, max(self.max_requests_jitter, 0))


class Backoff:
    """How long to wait before forking a replacement for a crashed worker.

    Each quick crash in a row doubles the wait, from `first` up to `longest`
    seconds; a worker that ran longer than `QUICK_CRASH` resets it.
    """

    def __init__(self, first: float = 0.1, longest: float = 5.0) -> None:
        self.first, self.longest = first, longest
        self.crashes = 0

    def delay(self, lived: float) -> float:
        """The wait before the next fork, after a worker crashed having `lived` seconds."""
        if lived >= QUICK_CRASH:
            self.crashes = 0
            return 0.0
        self.crashes += 1
        return min(self.first * 2.0 ** (self.crashes - 1), self.longest)


class _Worker:
    __slots__ = ("number", "pid", "pidfd", "replaces", "started", "state")

    def __init__(self, number: int, pid: int, pidfd: int, replaces: int | None) -> None:
        self.number, self.pid, self.pidfd, self.replaces = number, pid, pidfd, replaces
        self.started = time.monotonic()
        self.state = STARTING


class WorkerProcesses:
    """Forks and supervises `count` copies of `server`; see the module docstring."""

    def __init__(self, server: HTTPServer, count: int,
                 options: WorkerOptions = WorkerOptions()) -> None:
        self._server = server
        self._count = count
        self.options = options
        self._workers: dict[int, _Worker] = {}
        self._lock = threading.Lock()
        self._backoff = Backoff()
        #: Workers to replace, in order (a roll, or a worker at its request budget).
        self._to_replace: collections.deque[int] = collections.deque()
        #: The numbers of crashed workers not yet replaced, and when the next may be forked.
        self._missing: list[int] = []
        self._fork_after = 0.0
        self._stopping = False
        #: A roll (`restart`) is under way: its end is logged.
        self._rolling = False
        self._stop_deadline = 0.0
        self._supervisor = threading.Thread(target=self._supervise, name="webpy-supervisor")
        #: The pipe whose end-of-file tells children the parent is gone (see above).
        self._parent_alive_read, self._parent_alive_write = os.pipe()
        self._status_read, self._status_write = os.pipe()
        self._command_read, self._command_write = os.pipe()
        self._grace = mmap.mmap(-1, _GRACE.size)
        self._poll = select.poll()
        for fd in (self._status_read, self._command_read):
            self._poll.register(fd, select.POLLIN)

    @property
    def pids(self) -> list[int]:
        """The worker processes alive now, in any state."""
        with self._lock:
            return sorted(self._workers)

    def serving(self) -> list[int]:
        """The workers accepting connections now."""
        with self._lock:
            return sorted(pid for pid, worker in self._workers.items()
                          if worker.state == SERVING)

    def signal(self, signum: int) -> None:
        """Send `signum` to every worker process alive."""
        for pid in self.pids:
            _signal(pid, signum)

    def start(self) -> None:
        for number in range(self._count):
            self._spawn(number, None)
        self._supervisor.start()

    def restart(self) -> None:
        """Replace every worker, one at a time, losing no request (SIGHUP); returns at once."""
        os.write(self._command_write, _ROLL)

    def stop(self, timeout: float) -> None:
        """SIGTERM every child, give them `timeout` seconds to finish, then SIGKILL."""
        self._grace[:] = _GRACE.pack(timeout, False)
        self._stop_deadline = time.monotonic() + timeout + 1.0  # their stop closes, too
        os.write(self._command_write, _STOP)
        self._supervisor.join()
        for fd in (self._parent_alive_read, self._parent_alive_write, self._status_read,
                   self._status_write, self._command_read, self._command_write):
            os.close(fd)
        self._grace.close()

    # -- the supervisor thread -----------------------------------------------------------

    def _supervise(self) -> None:
        pending = b""
        while self._workers or not self._stopping:
            if self._stopping:
                wait = self._stop_deadline - time.monotonic()
                if wait <= 0:
                    self._kill_all()
                    continue
            else:
                wait = (self._fork_after - time.monotonic()
                        if self._missing or self._to_replace else -1.0)
            timeout = None if wait < 0 else max(int(wait * 1000) + 1, 0)
            for fd, _ in self._poll.poll(timeout):
                if fd == self._command_read:
                    for command in os.read(self._command_read, 64):
                        self._command(bytes([command]))
                elif fd == self._status_read:
                    pending += os.read(self._status_read, 4096)
                    usable = len(pending) - len(pending) % _MESSAGE.size
                    for kind, pid in _MESSAGE.iter_unpack(pending[:usable]):
                        self._message(kind, pid)
                    pending = pending[usable:]
                else:
                    self._exited(fd)
            if not self._stopping:
                self._advance()

    def _command(self, command: bytes) -> None:
        if command == _STOP:
            self._stopping = True
            for pid in self.pids:
                self._retire(pid)
        elif command == _ROLL and not self._stopping:
            logger.info("restarting the %d worker processes, one at a time", self._count)
            self._rolling = True
            for pid in self.serving():
                if pid not in self._to_replace:
                    self._to_replace.append(pid)

    def _message(self, kind: bytes, pid: int) -> None:
        worker = self._workers.get(pid)
        if worker is None:
            return
        if kind == _READY and worker.state == STARTING:
            worker.state = SERVING
            if worker.replaces is not None:  # the new one accepts: the old one may go
                logger.info("worker process %d replaces %d", pid, worker.replaces)
                self._retire(worker.replaces)
                worker.replaces = None
        elif kind == _RETIRE and worker.state == SERVING and pid not in self._to_replace:
            logger.info("worker process %d served its %d requests; replacing it", pid,
                        self.options.max_requests)
            self._to_replace.appendleft(pid)

    def _exited(self, pidfd: int) -> None:
        worker = next((w for w in self._workers.values() if w.pidfd == pidfd), None)
        if worker is None:
            return
        self._poll.unregister(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(worker.pid, 0)
        except ChildProcessError:
            status = 0
        with self._lock:
            del self._workers[worker.pid]
        if worker.state == RETIRING or self._stopping:
            if self._rolling and not self._to_replace and all(
                    w.state == SERVING for w in self._workers.values()):
                self._rolling = False
                logger.info("restart done: worker processes %s",
                            " ".join(map(str, sorted(self._workers))))
            return
        lived = time.monotonic() - worker.started
        delay = self._backoff.delay(lived)
        logger.warning("worker process %d died (%s) after %.1f s; starting another%s",
                       worker.pid, _how(status), lived,
                       f" in {delay:g} s" if delay else "")
        self._fork_after = time.monotonic() + delay
        if worker.replaces is not None and worker.replaces in self._workers:  # still STARTING
            self._to_replace.appendleft(worker.replaces)  # the old one serves on; try again
        else:
            self._missing.append(worker.number)

    def _advance(self) -> None:
        """Fork what is missing (after any back-off), and the next replacement of a roll."""
        now = time.monotonic()
        if self._missing and now >= self._fork_after:
            for number in self._missing:
                self._spawn(number, None)
            self._missing = []
        busy = any(w.state != SERVING for w in self._workers.values())
        while self._to_replace and not busy and now >= self._fork_after:
            old = self._to_replace.popleft()
            if old in self._workers and self._workers[old].state == SERVING:
                self._spawn(self._workers[old].number, old)
                busy = True

    def _retire(self, pid: int) -> None:
        worker = self._workers.get(pid)
        if worker is None:
            return
        if not self._stopping:
            self._grace[:] = _GRACE.pack(self.options.grace_period, True)
        worker.state = RETIRING
        _signal(pid, signal.SIGTERM)

    def _kill_all(self) -> None:
        for worker in list(self._workers.values()):
            logger.warning("worker process %d did not stop in time; killing it", worker.pid)
            _signal(worker.pid, signal.SIGKILL)
            os.waitpid(worker.pid, 0)
            self._poll.unregister(worker.pidfd)
            os.close(worker.pidfd)
            with self._lock:
                del self._workers[worker.pid]

    def _spawn(self, number: int, replaces: int | None) -> None:
        pid = os.fork()
        if pid == 0:  # the child: serve until SIGTERM, never return into the caller
            code = 1
            try:
                for fd in (self._parent_alive_write, self._status_read, self._command_read,
                           self._command_write, *(w.pidfd for w in self._workers.values())):
                    os.close(fd)
                code = _run_child(self._server, number, self._parent_alive_read,
                                  self._status_write, self._grace, self.options.budget())
            except BaseException:
                logger.exception("worker process %d failed", os.getpid())
            finally:
                os._exit(code)
        pidfd = os.pidfd_open(pid)
        with self._lock:
            self._workers[pid] = _Worker(number, pid, pidfd, replaces)
        self._poll.register(pidfd, select.POLLIN)


def _run_child(server: HTTPServer, number: int, parent_alive: int, status: int,
               grace: mmap.mmap, budget: int) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # ... and when to restart
    threading.Thread(target=_stop_when_orphaned, args=(parent_alive, stop), daemon=True,
                     name="webpy-parent-watch").start()
    server.become_worker(number)
    if budget:
        _count_requests(server, budget, lambda: _tell(status, _RETIRE))
    server.start()
    _tell(status, _READY)
    while not stop.wait(1.0):
        pass
    timeout, replaced = _GRACE.unpack(grace[:])
    server.stop(timeout, handing_over=replaced)
    return 0


def _count_requests(server: HTTPServer, budget: int, spent: Any) -> None:
    """Call `spent()` once this worker has begun `budget` requests; it serves on until replaced.

    The count is taken where every request begins (`Application.begin`), so a
    request refused before it reaches the application is not counted.
    """
    app = server.site.app
    begin = app.begin
    count = 0

    def counted(request: Any) -> Any:
        nonlocal count
        count += 1  # under the interpreter lock; a request or two more is harmless
        if count == budget:
            spent()
        return begin(request)

    app.begin = counted  # type: ignore[method-assign]


def _tell(status: int, kind: bytes) -> None:
    os.write(status, _MESSAGE.pack(kind, os.getpid()))


def _stop_when_orphaned(parent_alive: int, stop: threading.Event) -> None:
    """Wait for end-of-file on the parent's pipe: the parent is gone, so stop serving."""
    while os.read(parent_alive, 1):  # the parent never writes; only its exit ends the wait
        pass
    if not stop.is_set():
        logger.warning("worker process %d: parent process gone; stopping", os.getpid())
        stop.set()


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
