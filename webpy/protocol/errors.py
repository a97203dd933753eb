"""The one error type of the protocol layer."""

from __future__ import annotations

from http import HTTPStatus


class ProtocolError(Exception):
    """The client broke HTTP/1.1 or a limit; answer with `status_code` and close.

    `detail` is a short, client-safe explanation for the error response body
    and the log line.
    """

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code} {HTTPStatus(status_code).phrase}: {detail}")
        self.status_code = status_code
        self.detail = detail


class InvalidResponse(ValueError):
    """The application asked for a response that cannot be put on the wire.

    For example a header value containing CR, LF or NUL, or a body shorter than
    its Content-Length. Nothing invalid has been sent when this is raised.
    """
