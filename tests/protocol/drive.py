"""A minimal server loop over `ServerConnection`, for tests that feed it bytes directly.

`serve` plays the part of the driver with none of its I/O: it feeds pieces,
asks for events, reads every body, answers every request with an empty 200
and every protocol error with its error response, and records what a server
would act on. Body chunks are joined per
request, since where the chunks break depends on the pieces, not the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from webpy.protocol import (
    NEED_DATA,
    PAUSED,
    BodyChunk,
    ConnectionClosed,
    Limits,
    ProtocolError,
    RequestEnd,
    RequestHead,
    ServerConnection,
)

DATE = b"Thu, 01 Jan 2026 00:00:00 GMT"


@dataclass
class Exchange:
    """One request as the server saw it."""

    head: RequestHead
    body: bytes = b""
    complete: bool = False


@dataclass
class Outcome:
    """Everything a connection produced from one byte stream."""

    requests: list[Exchange] = field(default_factory=list)
    error: int | None = None  # status code of the ProtocolError, if one was raised
    closed: bool = False  # the connection reported ConnectionClosed
    interim: int = 0  # how many 100 Continue responses were sent
    output: bytes = b""  # everything written to the client

    def summary(self) -> tuple[object, ...]:
        """What must not depend on how the bytes were split.

        A body is streamed as it arrives, so how much of a body that turns out
        to be malformed was handed on before the error depends on the pieces;
        only complete bodies are compared.
        """
        return (
            [(r.head, r.body if r.complete else None, r.complete) for r in self.requests],
            self.error,
            self.closed,
        )


def split(data: bytes, points: Iterable[int]) -> list[bytes]:
    """Cut `data` at `points` (positions, any order, duplicates and out-of-range ignored)."""
    cuts = sorted({point for point in points if 0 < point < len(data)})
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return pieces


def serve(
    pieces: Sequence[bytes],
    limits: Limits | None = None,
    *,
    end_with_eof: bool = True,
    accept_body: bool = True,
) -> Outcome:
    """Run one connection over `pieces`; raise AssertionError if it fails to make progress.

    Every call to `next_event` must either consume input or report something,
    so the number of calls is bounded by the input; more means a loop.
    """
    connection = ServerConnection(limits or Limits())
    outcome = Outcome()
    queue = [piece for piece in pieces if piece]
    if end_with_eof:
        queue.append(b"")
    budget = 8 * (sum(len(piece) for piece in queue) + len(queue)) + 32
    output = bytearray()
    current: Exchange | None = None
    for _ in range(budget):
        try:
            event = connection.next_event()
        except ProtocolError as error:
            outcome.error = error.status_code
            _answer_error(connection, error, output)
            break
        if event is NEED_DATA:
            if not queue:
                # Only reachable without a final EOF: after EOF the connection must
                # decide (a transport would otherwise read EOF again forever).
                assert not end_with_eof, "NEED_DATA after the client closed"
                break
            connection.receive_data(queue.pop(0))
        elif event is PAUSED:
            raise AssertionError("PAUSED although every request was answered")
        elif type(event) is RequestHead:
            current = Exchange(event)
            outcome.requests.append(current)
            if accept_body:
                try:
                    interim = connection.accept_body()
                except ProtocolError as error:
                    outcome.error = error.status_code
                    _answer_error(connection, error, output)
                    break
                if interim:
                    outcome.interim += 1
                    output += interim
        elif type(event) is BodyChunk:
            assert current is not None
            current.body += event.data
        elif type(event) is RequestEnd:
            assert current is not None
            current.complete = True
            output += connection.respond(200, [], b"", DATE)
        elif type(event) is ConnectionClosed:
            outcome.closed = True
            break
    else:
        raise AssertionError(f"no end after {budget} calls to next_event")
    outcome.output = bytes(output)
    return outcome


def _answer_error(connection: ServerConnection, error: ProtocolError, output: bytearray) -> None:
    """Send the error response as a server does: it must always be writable."""
    if connection.can_respond:
        body = error.detail.encode()
        response = connection.respond(error.status_code, [], body, DATE, close=True)
        if connection.response_has_body:
            assert response.endswith(b"\r\n\r\n" + body), response
        else:  # refusing a HEAD request: its response never has a body
            assert response.endswith(b"\r\n\r\n"), response
        output += response
    assert connection.will_close
