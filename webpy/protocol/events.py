"""What the protocol layer reports about the client's side of a connection.

Events are small immutable values, one per thing that happened, in order:
a `RequestHead`, zero or more `BodyChunk`, a `RequestEnd`; then the next
request, or `ConnectionClosed`. `NEED_DATA` and `PAUSED` are not events but
answers to "what next?" when there is nothing to report yet.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple


class RequestHead(NamedTuple):
    """A request line and its header fields, validated.

    `headers` keeps each field's name as the client spelled it, in the order
    received. `content_length` is None for a chunked body; a request without a
    body has `content_length == 0`.

    Immutable like the other events, but a named tuple rather than a frozen
    dataclass: one is made for every request, and a frozen dataclass's
    `__init__` (a `object.__setattr__` call per field) cost about 5% of the
    protocol's work for a small request.
    """

    method: bytes
    target: bytes
    http_version: bytes
    headers: list[tuple[bytes, bytes]]
    content_length: int | None
    expects_continue: bool
    keep_alive: bool


@dataclass(frozen=True, slots=True)
class BodyChunk:
    """Some bytes of the request body, with any chunked framing removed."""

    data: bytes


@dataclass(frozen=True, slots=True)
class RequestEnd:
    """The request body (and trailer section, if any) is complete."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The client closed its side between requests: nothing more will come."""


Event = RequestHead | BodyChunk | RequestEnd | ConnectionClosed


class Wait(enum.Enum):
    """Why `ServerConnection.next_event` has no event to give."""

    #: More bytes from the client are needed.
    NEED_DATA = "need data"
    #: The current request is complete; send its response before asking again.
    PAUSED = "paused"


NEED_DATA = Wait.NEED_DATA
PAUSED = Wait.PAUSED

REQUEST_END = RequestEnd()
CONNECTION_CLOSED = ConnectionClosed()
