"""Leader/follower for the threaded server: one thread runs the event loop at a time.

Python threads share one interpreter lock. If every worker waited on epoll,
each readiness event would wake another thread that then fights the running
one for that lock, and most of the time would go to handing it over. So only
one thread, the *leader*, polls and serves connections; it runs handlers
itself, one after another, as a single-threaded event loop would.

A handler may block (a database call, a slow upload, `time.sleep`), and then
the rest must not wait. One of the idle threads, the *watcher*, checks how
long the leader has been busy with its current connection; past
`handoff_after` seconds it takes over as leader, and the old leader rejoins
the followers when its handler returns. Ready events the old leader had not
reached are in a shared queue that the new leader drains first.

The watcher's clock costs one wakeup every `handoff_after` seconds while the
leader is busy and a few a second when it is idle: cheap next to a handover
per request.
"""

from __future__ import annotations

import threading
import time


class Leadership:
    """Who leads, who watches, and how many threads are free to take over."""

    __slots__ = ("_condition", "_watcher", "busy_since", "handoff_after", "idle", "leader",
                 "stopping")

    def __init__(self, handoff_after: float = 0.002) -> None:
        self._condition = threading.Condition(threading.Lock())
        self.handoff_after = handoff_after
        #: The leading thread's ident, or None before anyone leads.
        self.leader: int | None = None
        self._watcher: int | None = None
        #: When the leader started on its current connection (monotonic), 0.0 if idle.
        self.busy_since = 0.0
        #: Threads waiting to lead (the watcher included).
        self.idle = 0
        self.stopping = False

    def lead(self, me: int) -> bool:
        """Block until thread `me` leads; False once the server is stopping."""
        with self._condition:
            self.idle += 1
            try:
                while not self.stopping:
                    if self.leader is None:
                        self.leader = me
                        return True
                    if self._watcher is None:
                        self._watcher = me
                    if self._watcher != me:
                        self._condition.wait()
                        continue
                    busy = self.busy_since
                    self._condition.wait(self.handoff_after if busy else 0.1)
                    busy = self.busy_since
                    if busy and time.monotonic() - busy >= self.handoff_after:
                        self.leader = me  # the leader is stuck in a handler: take over
                        self.busy_since = 0.0
                        self._watcher = None
                        self._condition.notify()  # another idle thread becomes the watcher
                        return True
                return False
            finally:
                self.idle -= 1

    def stop(self) -> None:
        with self._condition:
            self.stopping = True
            self.leader = None
            self._condition.notify_all()
