"""Ctrl-C and SIGTERM stop every server of the process: one policy, shared by all servers.

Theory of operation
-------------------
Signal handlers belong to the process, not to a server: Python keeps one
handler per signal, runs it in the main thread, and lets only the main
thread install or restore one. So servers do not install handlers; they
`register` here when they start and `unregister` when they stop, from any
thread, and this module keeps one handler for SIGINT and SIGTERM:

1. The first `register` (or an explicit `install`) made in the main thread
   installs the handler, for each signal whose handler is still the
   default. A handler the program set itself is left alone: the program
   has its own plan for that signal (the command line, trio, a test runner).
2. When a signal comes, every registered server is stopped, each from its
   own thread (a stop waits for requests in flight, which a signal handler
   must not do), whichever thread started it. The handler itself only
   writes the signal's number to a pipe, read by the "webpy-signals"
   thread, which starts the stops: a handler interrupts the main thread
   anywhere, even inside a lock the stops would need. SIGINT also raises
   KeyboardInterrupt in the main thread if that thread is running the
   program's own code rather than waiting in `serve_forever` (`waiting`):
   a program that started servers and went on to a loop of its own gets
   the Ctrl-C it expects.
3. When the last server unregisters, the previous handlers are restored if
   that happens in the main thread. Off the main thread they cannot be, so
   the handler stays and passes signals on as the previous handler would
   (KeyboardInterrupt for SIGINT, the default action for SIGTERM); it
   restores them itself the next time it runs, in the main thread.

A program whose first server starts in another thread, while the main
thread does something else, calls `install()` from the main thread first
(there is no way to install a handler from another thread).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any, Protocol

logger = logging.getLogger("webpy")

#: The signals that stop servers: Ctrl-C, and what service managers send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: For each signal, the handler Python starts with: the only one replaced here.
_DEFAULTS: dict[int, Any] = {signal.SIGINT: signal.default_int_handler,
                             signal.SIGTERM: signal.SIG_DFL}


class Stoppable(Protocol):
    """What a server offers this module: a `stop()` that may block until it has stopped."""

    def stop(self) -> None: ...


class _Policy:
    """The process's registered servers and the handlers this module replaced."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.servers: list[Stoppable] = []
        #: signal number -> the handler it had before ours; empty when ours is not installed.
        self.previous: dict[int, Any] = {}
        #: How many `waiting` blocks the main thread is in.
        self.waiting = 0
        #: The pipe from the handler to the thread that stops servers, made when installed.
        self.wake_write = -1


_policy = _Policy()


def register(server: Stoppable) -> frozenset[int]:
    """Stop `server` on SIGINT and SIGTERM from now on; any thread may call this.

    Returns the signals that will reach it: those whose handler is this
    module's. Fewer than both when the program handles a signal itself; none
    when nothing is installed yet and this is not the main thread.
    """
    with _policy.lock:
        if server not in _policy.servers:
            _policy.servers.append(server)
        if _in_main_thread():
            _install_locked()
        return frozenset(_policy.previous)


def unregister(server: Stoppable) -> None:
    """Forget `server`; the last one out restores the previous handlers (see rule 3)."""
    with _policy.lock:
        if server in _policy.servers:
            _policy.servers.remove(server)
        if not _policy.servers and _in_main_thread():
            _restore_locked()


def install() -> frozenset[int]:
    """Install the handler now, from the main thread; the signals it handles.

    Needed only when the first server starts in another thread.
    """
    if not _in_main_thread():
        raise RuntimeError("signal handlers can only be installed from the main thread")
    with _policy.lock:
        _install_locked()
        return frozenset(_policy.previous)


def registered() -> list[Stoppable]:
    """The servers a signal would stop now, in the order they registered."""
    with _policy.lock:
        return list(_policy.servers)


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Mark the main thread as waiting for servers (`serve_forever`): SIGINT then only stops.

    Outside such a block, SIGINT also raises KeyboardInterrupt in the main
    thread, which is running the program's own code. Other threads may use
    this too; it then has no effect.
    """
    if not _in_main_thread():
        yield
        return
    _policy.waiting += 1
    try:
        yield
    finally:
        _policy.waiting -= 1


def _install_locked() -> None:
    if _policy.wake_write < 0:
        wake_read, _policy.wake_write = os.pipe()
        threading.Thread(target=_stop_on_signals, args=(wake_read, _policy), daemon=True,
                         name="webpy-signals").start()
    for signum in STOP_SIGNALS:
        if signum in _policy.previous:
            continue
        current = signal.getsignal(signum)
        if current is _DEFAULTS[signum]:
            _policy.previous[signum] = signal.signal(signum, _on_signal)


def _restore_locked() -> None:
    for signum, previous in list(_policy.previous.items()):
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, previous)
        del _policy.previous[signum]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Runs in the main thread, between two bytecodes of whatever it was doing:
    # the lock may be held by this very thread, so state is read without it.
    if not _policy.servers:
        _pass_on(signum, frame)
        return
    os.write(_policy.wake_write, bytes([signum]))
    if (signum == signal.SIGINT and not _policy.waiting
            and threading.main_thread().is_alive()):
        raise KeyboardInterrupt  # the main program is running its own code: let it know


def _pass_on(signum: int, frame: FrameType | None) -> None:
    """No server left: do what the handler before ours would have done, and restore it."""
    previous = _policy.previous.get(signum, _DEFAULTS[signum])
    if _policy.lock.acquire(blocking=False):  # not if the main thread was inside register
        try:
            _restore_locked()
        finally:
            _policy.lock.release()
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # the default action: usually, end the process


def _stop_on_signals(wake_read: int, policy: _Policy) -> None:
    """The webpy-signals thread: for each signal the handler passes on, stop every server."""
    while os.read(wake_read, 1):
        with policy.lock:
            servers = list(policy.servers)
        for server in servers:
            threading.Thread(target=_stop, args=(server,), name="webpy-stop").start()


def _stop(server: Stoppable) -> None:
    try:
        server.stop()
    except Exception:
        logger.exception("stopping %r on a signal failed", server)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _forget_after_fork() -> None:
    """A forked child inherits the parent's registry, but not its servers' threads."""
    global _policy
    _policy = _Policy()


os.register_at_fork(after_in_child=_forget_after_fork)

