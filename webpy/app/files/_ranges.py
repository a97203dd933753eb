"""Byte ranges (RFC 9110 section 14): parsing `Range`, and multipart/byteranges bodies.

`parse_ranges` turns a Range field into the byte spans to send. A field that
does not parse, names another unit or lists more spans than a server should
have to serve is ignored (the whole file is sent, as the RFC allows);
overlapping spans are coalesced, so no byte is sent twice. A single span is
sent as a plain 206 from the file (so transports can use `sendfile`); several
become a `multipart/byteranges` body produced by `RangeParts`, which reads the
file piece by piece and knows its length before the first byte.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from typing import IO, Final

#: Returned by `parse_ranges` when no span overlaps the file (-> 416).
UNSATISFIABLE: Final = "unsatisfiable"
#: How much of the file a multipart body reads at a time.
READ_SIZE = 256 * 1024

_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
#: Numbers longer than this are beyond any file size, so are never parsed whole
#: (Python refuses to convert very long digit strings anyway).
_NUMBER_DIGITS = 18
_BEYOND_ANY_FILE = 1_000_000_000_000_000_000

Span = tuple[int, int]  # first and last byte position, inclusive


def parse_ranges(field: str, size: int, max_ranges: int) -> list[Span] | str | None:
    """The spans a `Range` field selects from `size` bytes.

    Returns a list of inclusive ``(first, last)`` spans, `UNSATISFIABLE`
    when the field is valid but selects nothing, or None when it must be
    ignored (malformed, not ``bytes``, more than `max_ranges` spans).
    """
    unit, equals, specs = field.partition("=")
    if not equals or unit.lower() != "bytes":
        return None
    items = [item.strip() for item in specs.split(",")]
    items = [item for item in items if item]  # the list syntax allows empty elements
    if not items or len(items) > max_ranges:
        return None
    spans: list[Span] = []
    for item in items:
        match = _SPEC.fullmatch(item)
        if match is None:
            return None
        first_digits, last_digits = match.groups()
        if not first_digits:
            if not last_digits:
                return None
            suffix = _number(last_digits)
            if suffix > 0 and size > 0:
                spans.append((max(size - suffix, 0), size - 1))
            continue
        first = _number(first_digits)
        last = _number(last_digits) if last_digits else _BEYOND_ANY_FILE
        if last < first:
            return None
        if first < size:
            spans.append((first, min(last, size - 1)))
    if not spans:
        return UNSATISFIABLE
    return _coalesce(spans)


def content_range(span: Span, size: int) -> str:
    first, last = span
    return f"bytes {first}-{last}/{size}"


class RangeParts:
    """The chunks of a multipart/byteranges body of `file`; closes the file when closed.

    An iterator class rather than a generator so that `close()` releases the
    file even when the body is never iterated (a HEAD, a client gone early).
    """

    def __init__(self, file: IO[bytes], spans: list[Span], size: int, content_type: str,
                 boundary: str) -> None:
        self._file = file
        self._spans = spans
        self._heads = [
            (b"\r\n" if n else b"") + (
                f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: {content_range(span, size)}\r\n\r\n"
            ).encode("latin-1")
            for n, span in enumerate(spans)
        ]
        self._tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
        self.length = (
            sum(len(head) for head in self._heads)
            + sum(last - first + 1 for first, last in spans)
            + len(self._tail)
        )
        self._chunks = self._produce()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()
        self._file.close()

    def _produce(self) -> Generator[bytes, None, None]:
        descriptor = self._file.fileno()
        for head, (first, last) in zip(self._heads, self._spans, strict=True):
            yield head
            position, end = first, last + 1
            while position < end:
                piece = os.pread(descriptor, min(READ_SIZE, end - position), position)
                if not piece:
                    raise OSError("file shrank while being sent")
                position += len(piece)
                yield piece
        yield self._tail


def _number(digits: str) -> int:
    if len(digits) > _NUMBER_DIGITS:
        return _BEYOND_ANY_FILE
    return int(digits)


def _coalesce(spans: list[Span]) -> list[Span]:
    """Merge overlapping spans; keep the client's order when none overlap."""
    ordered = sorted(spans)
    if all(ordered[n][1] < ordered[n + 1][0] for n in range(len(ordered) - 1)):
        return spans
    merged = [ordered[0]]
    for first, last in ordered[1:]:
        if first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged
