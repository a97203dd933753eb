"""Strict framing of chunked request bodies, checked before h11 sees them.

h11 accepts any bytes after a chunk size as an "extension" (CR and NUL
included) and bare-LF trailer lines. This scanner walks the chunked framing
with the RFC 9112 grammar and also tells the connection where the message
ends, so bytes of a pipelined next request are never handed to h11 early.
"""

from __future__ import annotations

import re

from ._head import check_field_lines
from .errors import ProtocolError
from .limits import Limits

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_EXTENSION = (
    rb"[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?"
)
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:" + _EXTENSION + rb")*\r\n")

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedScanner:
    """Follows one chunked body through the byte stream; raises on bad framing."""

    __slots__ = (
        "_limits",
        "_line",
        "_max_body",
        "_remaining",
        "_state",
        "_total",
        "_trailer_bytes",
        "_trailer_count",
    )

    def __init__(self, limits: Limits, max_body: int) -> None:
        self._limits = limits
        self._max_body = max_body
        self._state = _SIZE
        self._line = bytearray()
        self._remaining = 0
        self._total = 0
        self._trailer_bytes = 0
        self._trailer_count = 0

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def set_max_body(self, max_body: int) -> None:
        self._max_body = max_body

    def scan(self, data: bytes | bytearray) -> int:
        """Consume framing from `data`; return how many bytes belong to this body."""
        pos, size = 0, len(data)
        while pos < size and self._state != _DONE:
            if self._state == _DATA:
                step = min(self._remaining, size - pos)
                pos += step
                self._remaining -= step
                if not self._remaining:
                    self._state = _DATA_END
                continue
            newline = data.find(b"\n", pos)
            if newline < 0:
                self._line += data[pos:]
                pos = size
                self._check_line_length()
                break
            self._line += data[pos:newline + 1]
            pos = newline + 1
            self._check_line_length()
            line = bytes(self._line)
            self._line.clear()
            self._take_line(line)
        return pos

    def _check_line_length(self) -> None:
        if self._state == _TRAILER:
            if self._trailer_bytes + len(self._line) > self._limits.max_header_bytes:
                raise ProtocolError(431, "trailer section too large")
        elif len(self._line) > self._limits.max_chunk_line:
            raise ProtocolError(400, "chunk size line too long")

    def _take_line(self, line: bytes) -> None:
        if self._state == _SIZE:
            match = _CHUNK_LINE.fullmatch(line)
            if match is None:
                raise ProtocolError(400, "malformed chunk size line")
            chunk_size = int(match[1], 16)
            self._total += chunk_size
            if self._total > self._max_body:
                raise ProtocolError(413, "request body too large")
            if chunk_size:
                self._remaining = chunk_size
                self._state = _DATA
            else:
                self._state = _TRAILER
        elif self._state == _DATA_END:
            if line != b"\r\n":
                raise ProtocolError(400, "chunk data not followed by CRLF")
            self._state = _SIZE
        else:  # _TRAILER
            if line == b"\r\n":
                self._state = _DONE
                return
            if line[:1] in (b" ", b"\t"):
                raise ProtocolError(400, "obsolete line folding")
            check_field_lines(line)
            self._trailer_bytes += len(line)
            self._trailer_count += 1
            if self._trailer_count > self._limits.max_header_count:
                raise ProtocolError(431, "too many trailer fields")
