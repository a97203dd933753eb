"""What the WSGI and ASGI gateways share: a request in, a response's status and headers out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import quote

from ..app import FileBody, HTTPError, Response, StreamBody
from ..app.handler import status_phrase

#: The body limit when a handler sets none: the same default as webpy's own servers.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
#: Pieces a file body is read in.
FILE_PIECE = 256 * 1024
#: Characters left as they are when a decoded path is turned back into a request target.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def request_target(path: bytes, query_string: str) -> str:
    """The request target for a path the server has already percent-decoded."""
    target = quote(path, safe=_PATH_SAFE) or "/"
    return f"{target}?{query_string}" if query_string else target


def body_limit(max_body_bytes: int | None, default: int) -> int:
    """The handler's body limit, or the gateway's when the handler sets none."""
    return default if max_body_bytes is None else max_body_bytes


def too_large(length: int, limit: int) -> HTTPError | None:
    """The 413 for a body of `length` bytes over `limit`, else None."""
    if length > limit:
        return HTTPError(413, "The request body is larger than this resource accepts.")
    return None


def response_head(response: Response, method: str) -> tuple[int, str, list[tuple[str, str]],
                                                            bool]:
    """The status, reason, header fields and whether a body is sent.

    Content-Length is added for bodies of known length; HEAD, 204 and 304
    responses carry no body.
    """
    status = response.status
    fields = response.headers.items()
    body = response.body
    length = len(body) if type(body) is bytes else body.length  # type: ignore[union-attr]
    no_body = method == "HEAD" or status in (204, 304) or status < 200
    fields = [(name, value) for name, value in fields
              if name.lower() not in ("content-length", "transfer-encoding", "connection")]
    if length is not None and status not in (204, 304) and status >= 200:
        fields.append(("Content-Length", str(length)))
    return status, response.reason or status_phrase(status), fields, not no_body


def file_pieces(body: FileBody) -> Iterator[bytes]:
    """A file body's region, read piece by piece (the caller closes `body`)."""
    offset, remaining = body.offset, body.length
    try:
        fileno: int | None = body.file.fileno()
    except (AttributeError, OSError, ValueError):
        fileno = None
        body.file.seek(offset)
    while remaining > 0:
        size = min(remaining, FILE_PIECE)
        piece = os.pread(fileno, size, offset) if fileno is not None else body.file.read(size)
        if not piece:
            raise OSError("file shorter than its response's Content-Length")
        yield piece
        offset += len(piece)
        remaining -= len(piece)


def close_body(body: bytes | FileBody | StreamBody) -> None:
    if type(body) is not bytes:
        body.close()  # type: ignore[union-attr]
