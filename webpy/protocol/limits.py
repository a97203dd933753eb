"""The byte limits the protocol layer enforces, in one frozen object.

Timeouts are not here: this layer has no clock. They are the transports'
(`webpy.transports.settings.Timeouts`); a server takes fields of both as keywords.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one client may make the server hold or wait for.

    Sizes are in bytes. Exceeding a limit gets the client the status code named
    beside it, then the connection is closed.
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

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive")
