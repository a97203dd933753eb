"""The errors of every layer, as one family: each carries the status code to answer with.

`HTTPProblem` is the base. The protocol layer raises `ProtocolError` (the
client broke HTTP/1.1 or a limit) and `InvalidResponse` (the application asked
for a response that cannot go on the wire: 500); the application layer's
`HTTPError` derives from it too. A caller that only needs the status code
catches `HTTPProblem` and reads `status_code`.

What reaches the client is fixed text chosen by the server, never bytes the
client sent: a reflected request is how an error page becomes a script
injection. What the client sent stays in `ProtocolError.specifics`, with
control bytes escaped, for the server's own log.
"""

from __future__ import annotations

import re
from http import HTTPStatus


class HTTPProblem(Exception):
    """Something that ends in an HTTP error response; `status_code` says which."""

    status_code: int = 500

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class ProtocolError(HTTPProblem):
    """The client broke HTTP/1.1 or a limit; answer with `status_code` and close.

    `detail` is fixed, human-readable text for the kind of error (the same for
    every request that breaks the same rule), safe to put in a response body.
    `specifics`, for the log only, may quote what the client sent, with
    control bytes escaped; `str(error)` includes it.
    """

    def __init__(self, status_code: int, detail: str, specifics: str = "") -> None:
        message = f"{status_code} {HTTPStatus(status_code).phrase}: {detail}"
        if specifics:
            specifics = escape_controls(specifics)
            message += f" ({specifics})"
        super().__init__(status_code, message)
        self.detail = detail
        self.specifics = specifics


class InvalidResponse(HTTPProblem, ValueError):
    """The application asked for a response that cannot be put on the wire (500).

    For example a header value containing CR, LF or NUL, or a body shorter than
    its Content-Length. Nothing invalid has been sent when this is raised.
    The message names the offending field for the log; it is never sent.
    """

    def __init__(self, message: str) -> None:
        super().__init__(500, message)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """`text` with control characters written as ``\\xNN``, fit for one log line."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match[0]):02x}", text)
