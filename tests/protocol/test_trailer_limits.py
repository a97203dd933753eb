"""The trailer section's size limit answers 431 as soon as it is passed, by any route.

A trailer is limited like a head (`max_header_bytes`). Two checks enforce it:
a line that runs past the limit before its LF, and a complete line that
takes the section past it. Each must answer 431 on its own, and at once,
without waiting for bytes the client may never send.
"""

from __future__ import annotations

from protocol.drive import serve
from webpy.protocol import NEED_DATA, Limits, ProtocolError, ServerConnection

LIMITS = Limits(max_request_line=64, max_header_bytes=256, max_header_count=6,
                max_body_bytes=100, max_chunk_line=32)
LAST_CHUNK = (b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"1\r\nc\r\n0\r\n")


def _status_of(*pieces: bytes) -> int | None:
    """The status `next_event` refuses `pieces` with, or None if it waits for more."""
    connection = ServerConnection(LIMITS)
    try:
        for piece in pieces:
            connection.receive_data(piece)
            while connection.next_event() is not NEED_DATA:
                pass
    except ProtocolError as refused:
        return refused.status_code
    return None


def test_trailer_line_longer_than_the_limit_before_its_lf_is_431() -> None:
    line = b"T: " + b"v" * 400 + b"\r\n"
    assert serve([LAST_CHUNK + line + b"\r\n"], LIMITS).error == 431
    # Refused once the limit has passed without an LF, not only when the line ends.
    assert _status_of(LAST_CHUNK + line[:300]) == 431


def test_complete_trailer_line_past_the_limit_is_431_without_waiting_for_more() -> None:
    line = b"T: " + b"v" * (257 - len(b"T: \r\n")) + b"\r\n"  # the section: 257 bytes
    assert _status_of(LAST_CHUNK + line) == 431


def test_trailer_ended_by_a_bare_lf_blank_line_is_400_at_once() -> None:
    # After a complete field line, the next line is looked for from its first byte.
    assert _status_of(LAST_CHUNK + b"T: v\r\n\n") == 400
    # Also when that LF is the first byte of a read.
    assert _status_of(LAST_CHUNK + b"T: v\r\n", b"\n") == 400
