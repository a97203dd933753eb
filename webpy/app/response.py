"""What a handler builds of the response, and the body forms the transports send.

A handler returns its body as str, bytes, None, a dict or list (sent as
JSON, as Flask and FastAPI users expect), a binary file object or an
iterable of bytes (sync or async) other than a list. `normalize_body` turns
that into one of three forms, so transports never guess: `bytes`,
`FileBody` (a region of a real file, which a socket transport may hand to
`sendfile`) or `StreamBody` (chunks of possibly unknown length). A file
object's Content-Type comes from its name (`webpy.app.mediatypes`). Anything
else is a TypeError naming the type, which the dispatcher logs, naming the
handler, and answers with 500.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from .headers import Headers
from .mediatypes import guess_type

#: Content-Type of dict and list bodies.
JSON_TYPE = "application/json"
#: Size of the pieces a file-like object without a file descriptor is read in.
READ_SIZE = 64 * 1024


@dataclass(slots=True)
class FileBody:
    """`length` bytes of an open binary file from `offset`; closed after sending."""

    file: IO[bytes]
    offset: int
    length: int

    def close(self) -> None:
        self.file.close()


@dataclass(slots=True)
class StreamBody:
    """Body chunks from a sync or async iterator; `length` if known in advance."""

    chunks: Iterator[bytes] | AsyncIterator[bytes]
    length: int | None = None

    @property
    def is_async(self) -> bool:
        return isinstance(self.chunks, AsyncIterator)

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


Body = bytes | FileBody | StreamBody


class Response:
    """The response being prepared: `self.response` in a handler.

    Handlers set `headers` here and return the status and body; the
    dispatcher fills in `status`, `reason` and `body` from that.
    """

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int = 200, body: Body = b"", headers: Headers | None = None,
                 reason: str | None = None) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers if headers is not None else Headers()
        self.body: Body = body

    def __repr__(self) -> str:
        return f"<Response {self.status}>"


def normalize_body(body: Any, headers: Headers) -> Body:
    """Turn what a handler returned into a `Body`, setting a default Content-Type.

    str is sent as UTF-8 (text/plain unless the handler set a type); bytes are
    sent as they are; a dict or list as UTF-8 JSON (application/json unless
    the handler set a type); a file object is streamed, never read into
    memory whole. Raises TypeError for anything else, and for a dict or list
    that JSON cannot represent.
    """
    if body is None:
        return b""
    if isinstance(body, str):
        if "content-type" not in headers:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        if body and "content-type" not in headers:
            headers["Content-Type"] = "application/octet-stream"
        return bytes(body)
    if isinstance(body, dict | list):
        # Before the iterable case: iterating a dict would send its keys.
        if "content-type" not in headers:
            headers["Content-Type"] = JSON_TYPE
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    if isinstance(body, FileBody | StreamBody):
        return body
    if hasattr(body, "read"):
        if "content-type" not in headers:
            headers["Content-Type"] = _file_type(body)
        return _file_body(body)
    if isinstance(body, AsyncIterable):
        return StreamBody(aiter(body))
    if isinstance(body, Iterable):
        return StreamBody(iter(body))
    raise TypeError(f"a body of type {type(body).__name__} cannot be sent; a body is str, "
                    f"bytes, None, a dict or list (JSON), a binary file or an iterable of "
                    f"bytes")


def _file_type(file: Any) -> str:
    """A file's media type from its name (``open("notes.md", "rb")``), else octet-stream."""
    name = getattr(file, "name", None)
    kind, encoding = guess_type(name) if isinstance(name, str) else (None, None)
    if kind is None or encoding is not None:  # a .gz sent as it is: an archive, not its content
        return "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") else kind


def _file_body(file: Any) -> Body:
    try:
        status = os.fstat(file.fileno())
        offset = file.tell()
    except (AttributeError, OSError, ValueError):
        status = None
    if status is None or not stat.S_ISREG(status.st_mode):
        return StreamBody(_read_pieces(file))  # a pipe, socket or in-memory file
    return FileBody(file, offset, max(status.st_size - offset, 0))


def _read_pieces(file: Any) -> Iterator[bytes]:
    try:
        while piece := file.read(READ_SIZE):
            yield piece
    finally:
        file.close()
