"""A chunked request body, de-framed once, strictly, straight from the connection's buffer.

h11 accepts any bytes after a chunk size as an "extension" (CR and NUL
included) and bare-LF trailer lines, so the chunk framing is read here, with
the RFC 9112 section 7.1 grammar, and h11 never sees it. The reader takes
only complete units from the buffer (a size line, its CRLF after the data, a
trailer line); the rest stays in the connection's buffer for the next call,
which resumes its search for the line end where the last one stopped. So
limits do not depend on how the network split the bytes, and bytes of a
pipelined next request are never taken for this body.

All the data chunks found in one call come out as one byte string, so a body
of a million one-byte chunks costs memory in proportion to its bytes, not to
its chunk count. The trailer section, if there is one, is checked here for
the forms h11 would normalise away, then parsed by h11 like a head.
"""

from __future__ import annotations

import enum
import re

import h11

from ._head import check_field_lines, parse_with_h11
from .errors import ProtocolError
from .limits import Limits

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_EXTENSION = (
    rb"[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?"
)
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:" + _EXTENSION + rb")*\r\n")
_TRAILER_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"


class _Part(enum.Enum):
    """Which part of the chunked framing comes next."""

    SIZE = "size line"
    DATA = "chunk data"
    DATA_END = "CRLF after chunk data"
    TRAILER = "trailer line"
    DONE = "done"


class ChunkedReader:
    """Follows one chunked body through the connection's buffer; raises on bad framing."""

    __slots__ = ("_limits", "_max_body", "_part", "_remaining", "_searched", "_total",
                 "_trailer")

    def __init__(self, limits: Limits, max_body: int) -> None:
        self._limits = limits
        self._max_body = max_body
        self._part = _Part.SIZE
        self._remaining = 0  # data bytes left in the current chunk
        self._searched = 0  # bytes of an incomplete line already searched for its LF
        self._total = 0
        self._trailer = bytearray()

    @property
    def done(self) -> bool:
        """The last chunk and the trailer section have been read."""
        return self._part is _Part.DONE

    def set_max_body(self, max_body: int) -> None:
        self._max_body = max_body

    def read(self, buffer: bytearray) -> tuple[bytes, int]:
        """Return the payload found at the start of `buffer` and how many bytes it took.

        Raises `ProtocolError`: 400 for bad framing, 413 past the body limit,
        431 for a trailer section past the head limits.
        """
        payload = bytearray()
        pos, end = 0, len(buffer)
        while pos < end:
            part = self._part
            if part is _Part.SIZE:
                pos = self._read_chunks(buffer, pos, end, payload)
                if self._part is _Part.SIZE:
                    break  # an incomplete size line
            elif part is _Part.DATA:
                stop = min(pos + self._remaining, end)
                payload += memoryview(buffer)[pos:stop]
                self._remaining -= stop - pos
                pos = stop
                if not self._remaining:
                    self._part = _Part.DATA_END
            elif part is _Part.DATA_END:
                if buffer[pos:pos + 2] != b"\r\n"[:end - pos]:
                    raise ProtocolError(400, "chunk data not followed by CRLF")
                if end - pos < 2:
                    break
                pos += 2
                self._part = _Part.SIZE
            elif part is _Part.TRAILER:
                # Counted like a head's fields: field lines with their CRLFs up
                # to max_header_bytes, the closing blank line on top.
                limit = self._limits.max_header_bytes + 2 - len(self._trailer)
                line_end = self._line_end(buffer, pos, end, limit)
                if line_end < 0:
                    break
                self._take_trailer_line(buffer[pos:line_end])
                pos = line_end
            else:
                break
        return bytes(payload), pos

    def _read_chunks(self, buffer: bytearray, pos: int, end: int, payload: bytearray) -> int:
        """Take whole chunks from `pos` on while they are complete; return where it stopped.

        The hot path for bodies of many small chunks: one anchored match per
        size line, the data appended to `payload`. Anything else (a line not
        yet complete, too long or malformed, a chunk that goes on past `end`,
        the last chunk) leaves it to the careful path in `read`.
        """
        max_line = self._limits.max_chunk_line
        if self._searched:  # a size line that was incomplete at the last call
            line_end = self._line_end(buffer, pos, end, max_line)
            if line_end < 0:
                return pos
        match_line = _CHUNK_LINE.match
        total, max_body = self._total, self._max_body
        try:
            while pos < end:
                match = match_line(buffer, pos, pos + max_line)
                if match is None:
                    if self._line_end(buffer, pos, end, max_line) < 0:
                        return pos  # incomplete
                    raise ProtocolError(400, "malformed chunk size line")
                size = int(match[1], 16)
                total += size
                if total > max_body:
                    raise ProtocolError(413, "request body too large")
                pos = match.end()
                if not size:
                    self._part = _Part.TRAILER
                    return pos
                stop = pos + size
                if stop + 2 > end:  # the data or its CRLF goes on in a later read
                    self._remaining = size
                    self._part = _Part.DATA
                    return pos
                if buffer[stop] != 13 or buffer[stop + 1] != 10:
                    raise ProtocolError(400, "chunk data not followed by CRLF")
                payload += buffer[pos:stop]
                pos = stop + 2
            return pos
        finally:
            self._total = total

    def _line_end(self, buffer: bytearray, pos: int, end: int, limit: int) -> int:
        """The end of the line starting at `pos` (after its LF), or -1 if it is incomplete.

        A line longer than `limit` bytes (its CRLF included) is refused as
        soon as that many bytes have come without an LF.
        """
        newline = buffer.find(b"\n", pos + self._searched, min(end, pos + limit))
        if newline >= 0:
            self._searched = 0
            return newline + 1
        if end - pos >= limit:
            if self._part is _Part.TRAILER:
                raise ProtocolError(431, "trailer section too large")
            raise ProtocolError(400, "chunk size line too long")
        self._searched = end - pos
        return -1

    def _take_trailer_line(self, line: bytearray) -> None:
        if line == b"\r\n":
            self._part = _Part.DONE
            if self._trailer:
                _check_trailer_with_h11(bytes(self._trailer))
            return
        if line.startswith((b" ", b"\t")):
            raise ProtocolError(400, "obsolete line folding")
        check_field_lines(line)
        self._trailer += line
        if len(self._trailer) > self._limits.max_header_bytes:
            raise ProtocolError(431, "trailer section too large")
        if self._trailer.count(b"\n") > self._limits.max_header_count:
            raise ProtocolError(431, "too many trailer fields")


def _check_trailer_with_h11(trailer: bytes) -> None:
    """Have h11 parse a trailer section as it parses a head: same field rules, same errors."""
    parser = h11.Connection(h11.SERVER)
    parser.receive_data(_TRAILER_HEAD + trailer + b"\r\n")
    parse_with_h11(parser)  # the request head above
    while type(parse_with_h11(parser)) is not h11.EndOfMessage:
        pass
