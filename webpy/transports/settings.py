"""Server and transport settings: timeouts, the worker queue, the connection bound.

The protocol layer's `Limits` are byte limits and nothing else: it has no
clock. Everything measured in seconds, and what a server does when it is
full, lives here, read by the connection lifecycle that every transport runs.
`split_options` lets a server take any field of either as a keyword
(``HTTPServer(..., head_timeout=5, max_body_bytes=1024)``).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, fields, replace
from typing import Any

from ..protocol import Limits


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long a client may make the server wait, and how the server waits for itself.

    Times are in seconds. Every default is safe for a server facing the internet.
    """

    #: Time a client has to send a complete request head once it has started -> 408.
    head_timeout: float = 10.0
    #: Time an idle keep-alive connection is kept open (closed silently after); also
    #: the time a TLS client has to finish its handshake.
    keepalive_timeout: float = 5.0
    #: Longest pause while receiving a request body -> 408.
    body_timeout: float = 30.0
    #: Longest a response write may stall on a client that stopped reading (then dropped).
    write_timeout: float = 30.0
    #: After an error response that closes the connection, how long and how much of
    #: the client's unread request is read and discarded, so the client sees the
    #: response instead of a connection reset.
    drain_timeout: float = 2.0
    drain_bytes: int = 1024 * 1024
    #: Longest a request waits for a free worker thread before it is answered 503
    #: with Retry-After.
    queue_timeout: float = 5.0

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) <= 0:
                raise ValueError(f"Timeouts.{field.name} must be positive")

    def sweep_interval(self) -> float:
        """How often a transport looks for expired waits: a quarter of the shortest timeout.

        Bounded to 20-500 ms, so a deadline is enforced at most a quarter late.
        """
        shortest = min(self.head_timeout, self.keepalive_timeout, self.body_timeout,
                       self.write_timeout, self.drain_timeout, self.queue_timeout)
        return max(0.02, min(0.5, shortest / 4))


_LIMIT_FIELDS = frozenset(field.name for field in fields(Limits))
_TIMEOUT_FIELDS = frozenset(field.name for field in fields(Timeouts))


def split_options(limits: Limits | None, timeouts: Timeouts | None,
                  options: dict[str, Any]) -> tuple[Limits, Timeouts]:
    """`limits` and `timeouts` with any of their fields in `options` replaced.

    Raises TypeError for a keyword that is a field of neither.
    """
    unknown = set(options) - _LIMIT_FIELDS - _TIMEOUT_FIELDS
    if unknown:
        raise TypeError(f"unknown server option(s): {', '.join(sorted(unknown))}")
    limits = replace(limits or Limits(),
                     **{k: v for k, v in options.items() if k in _LIMIT_FIELDS})
    timeouts = replace(timeouts or Timeouts(),
                       **{k: v for k, v in options.items() if k in _TIMEOUT_FIELDS})
    return limits, timeouts


#: File descriptors kept back from `max_connections` for listeners, files being
#: served, logs, pipes and connections being refused with a 503.
FD_HEADROOM = 0.05
FD_HEADROOM_MIN = 64


def default_max_connections() -> int:
    """As many connections as the process's file limit allows, with headroom.

    With a soft RLIMIT_NOFILE of 20,000 that is 18,936. Past the bound a client
    is answered 503, which itself needs a descriptor for a moment: hence the headroom.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(16, soft - max(FD_HEADROOM_MIN, int(soft * FD_HEADROOM)))
