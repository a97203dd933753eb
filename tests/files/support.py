"""What the static-file tests share besides fixtures."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from webpy.transports.memory import Client

#: Deterministic, not compressible, not text: catches any byte the server mangles.
BINARY = bytes((n * 7919 + n // 256) % 256 for n in range(300_000))
SECRET = b"the secret outside the root\n"

ClientFactory = Callable[..., Client]


def leftovers(directory: Path) -> list[str]:
    """Temporary upload files left in `directory` (there should be none)."""
    return [name for name in os.listdir(directory) if name.endswith(".part")]


def parse_byteranges(content_type: str, body: bytes) -> list[tuple[str, str, bytes]]:
    """The parts of a multipart/byteranges body: (Content-Type, Content-Range, data) each.

    Parsed by hand, strictly, so that a framing mistake (a missing CRLF, a
    wrong boundary) fails the test instead of being forgiven.
    """
    match = re.fullmatch(r"multipart/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})",
                         content_type)
    assert match, content_type
    delimiter = b"--" + match.group(1).encode()
    assert body.startswith(delimiter + b"\r\n")
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n")
    inner = body[len(delimiter) + 2: -len(delimiter) - 6]
    parts = []
    for chunk in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, separator, data = chunk.partition(b"\r\n\r\n")
        assert separator, chunk[:200]
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
        parts.append((fields[b"Content-Type"].decode(), fields[b"Content-Range"].decode(), data))
    return parts
