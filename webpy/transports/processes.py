"""Several worker processes sharing one listening socket (`HTTPServer(processes=N)`).

Python threads share one interpreter lock, so a CPU-bound application gets
more from processes. The parent binds the socket, forks N children that each
run the ordinary threaded server on it (the kernel spreads connections over
the processes accepting on it), replaces a child that dies, and stops them
all with SIGTERM when it is stopped. The parent serves nothing itself.

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

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .threaded import HTTPServer

logger = logging.getLogger("webpy")


class WorkerProcesses:
    """Forks and supervises `count` copies of `server`."""

    def __init__(self, server: HTTPServer, count: int) -> None:
        self._server = server
        self._count = count
        self._children: set[int] = set()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(target=self._supervise, name="webpy-supervisor")
        #: The pipe whose end-of-file tells children the parent is gone (see above).
        self._parent_alive_read, self._parent_alive_write = os.pipe()

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return sorted(self._children)

    def start(self) -> None:
        for _ in range(self._count):
            self._spawn()
        self._supervisor.start()

    def stop(self, timeout: float) -> None:
        """SIGTERM every child, give them `timeout` seconds to finish, then SIGKILL."""
        self._stopping.set()
        for pid in self.pids:
            _signal(pid, signal.SIGTERM)
        self._supervisor.join()
        deadline = time.monotonic() + timeout
        while self.pids and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)  # no portable way to wait for any one of several children
        for pid in self.pids:
            _signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            with self._lock:
                self._children.discard(pid)
        os.close(self._parent_alive_read)
        os.close(self._parent_alive_write)

    def _spawn(self) -> None:
        pid = os.fork()
        if pid == 0:  # the child: serve until SIGTERM, never return into the caller
            code = 1
            try:
                os.close(self._parent_alive_write)
                code = _run_child(self._server, self._parent_alive_read)
            finally:
                os._exit(code)
        with self._lock:
            self._children.add(pid)

    def _supervise(self) -> None:
        while not self._stopping.wait(0.2):
            for pid in self._reap():
                if not self._stopping.is_set():
                    logger.warning("worker process %d died; starting another", pid)
                    self._spawn()

    def _reap(self) -> list[int]:
        """Collect our children that have exited (only ours: other children are left alone)."""
        exited = []
        for pid in self.pids:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                exited.append(pid)
                with self._lock:
                    self._children.discard(pid)
        return exited


def _run_child(server: HTTPServer, parent_alive: int) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    threading.Thread(target=_stop_when_orphaned, args=(parent_alive, stop), daemon=True,
                     name="webpy-parent-watch").start()
    server.become_worker()
    server.start()
    while not stop.wait(1.0):
        pass
    server.stop()
    return 0


def _stop_when_orphaned(parent_alive: int, stop: threading.Event) -> None:
    """Wait for end-of-file on the parent's pipe: the parent is gone, so stop serving."""
    while os.read(parent_alive, 1):  # the parent never writes; only its exit ends the wait
        pass
    if not stop.is_set():
        logger.warning("worker process %d: parent process gone; stopping", os.getpid())
        stop.set()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
