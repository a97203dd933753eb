"""Checks on the raw bytes of a request head, before h11 parses it.

h11 tolerates things a hardened server must refuse: bare LF line endings,
obs-fold continuation lines and control bytes in field values are normalised
away by the time h11 hands out an event, so they can only be caught here, on
the bytes as received. The size limits are also counted here, on the bytes
themselves, so that the same head gets the same status code however the
network split it (h11's own buffer cap depends on read sizes).
"""

from __future__ import annotations

import re

from .errors import ProtocolError
from .limits import Limits

# A blank line ends the head; a bare-LF blank line ends it too, so that such a
# head is refused promptly instead of waiting for a CRLF that never comes.
_HEAD_END = re.compile(rb"\n\r?\n")
# Control bytes other than HTAB, CR and LF (CR and LF are checked by count).
_CONTROL_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class HeadScanner:
    """Finds the end of a request head in a growing buffer, enforcing limits.

    Scanning resumes where it left off, so a client trickling a head one byte
    at a time costs linear, not quadratic, work.
    """

    __slots__ = ("_limits", "_line_count", "_request_line_end", "_scanned")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self.reset()

    def reset(self) -> None:
        self._scanned = 0
        self._request_line_end = -1
        self._line_count = 0

    def find_end(self, buffer: bytearray) -> int:
        """Return the length of the complete head at the start of `buffer`, or -1.

        Raises `ProtocolError` (414 or 431) as soon as the head can no longer
        fit the limits, complete or not.
        """
        limits = self._limits
        if not self._scanned:  # usually the whole head is there at the first look
            match = _HEAD_END.search(buffer)
            if match is not None:
                end = match.end()
                line_end = buffer.find(b"\n", 0, end)
                if line_end > limits.max_request_line + 1:
                    raise ProtocolError(414, "request line too long")
                if end - line_end - 1 > limits.max_header_bytes + 2:
                    raise ProtocolError(431, "header section too large")
                if buffer.count(b"\n", line_end + 1, end) - 1 > limits.max_header_count:
                    raise ProtocolError(431, "too many header fields")
                return end
        start = max(self._scanned - 2, 0)
        match = _HEAD_END.search(buffer, start)
        end = match.end() if match else len(buffer)
        if self._request_line_end < 0:
            self._request_line_end = buffer.find(b"\n", 0, end)
            if self._request_line_end < 0:
                if end > limits.max_request_line + 1:
                    raise ProtocolError(414, "request line too long")
                self._scanned = end
                return -1
            if self._request_line_end > limits.max_request_line + 1:
                raise ProtocolError(414, "request line too long")
            start = self._request_line_end + 1
        self._line_count += buffer.count(b"\n", max(start, self._scanned), end)
        self._scanned = end
        header_bytes = end - self._request_line_end - 1
        if header_bytes > limits.max_header_bytes + 2:
            raise ProtocolError(431, "header section too large")
        # Lines after the request line, less the closing blank line.
        if self._line_count - (1 if match else 0) > limits.max_header_count:
            raise ProtocolError(431, "too many header fields")
        return end if match else -1


def check_head_bytes(head: bytes | bytearray) -> None:
    """Refuse line-ending and field-value forms that h11 would accept."""
    check_field_lines(head)


def check_field_lines(lines: bytes | bytearray) -> None:
    """Refuse bare CR or LF, obs-fold and control bytes in a block of CRLF lines.

    Used for the request head and for the trailer section of a chunked body.
    """
    crlf = lines.count(b"\r\n")
    if lines.count(b"\n") != crlf:
        raise ProtocolError(400, "bare LF line ending")
    if lines.count(b"\r") != crlf:
        raise ProtocolError(400, "bare CR")
    if b"\n " in lines or b"\n\t" in lines:
        raise ProtocolError(400, "obsolete line folding")
    if _CONTROL_BYTE.search(lines):
        raise ProtocolError(400, "control byte in request head")
