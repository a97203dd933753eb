"""The limits and timeouts every layer obeys, in one frozen object.

The protocol layer enforces the byte limits; transports enforce the timeouts
(the protocol layer has no clock). Both read them from the same `Limits` so a
server is configured in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one client may make the server hold or wait for.

    Byte sizes are in bytes, times in seconds. Exceeding a byte limit gets the
    client the status code named beside it, then the connection is closed.
    """

    #: Longest request line (method, target, version) -> 414 URI Too Long.
    max_request_line: int = 8 * 1024
    #: Largest header section, all header lines together -> 431.
    max_header_bytes: int = 32 * 1024
    #: Most header fields in one request (or trailer section) -> 431.
    max_header_count: int = 100
    #: Largest request body, unless a handler sets its own -> 413.
    max_body_bytes: int = 16 * 1024 * 1024
    #: Longest chunk-size line, extensions included, of a chunked body -> 400.
    max_chunk_line: int = 4 * 1024

    #: Time a client has to send a complete request head once it has started -> 408.
    head_timeout: float = 10.0
    #: Time an idle keep-alive connection is kept open (closed silently after).
    keepalive_timeout: float = 5.0
    #: Longest pause while receiving a request body -> 408.
    body_timeout: float = 30.0
    #: Longest a response write may wait on a client that stopped reading.
    write_timeout: float = 30.0
    #: After an error response that closes the connection, how long and how much
    #: of the client's unread request is read and discarded, so the client sees
    #: the response instead of a connection reset.
    drain_timeout: float = 2.0
    drain_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive")
