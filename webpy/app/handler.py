"""Handler base classes: one instance per request, one `do_<method>` per HTTP method."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from re import Match
from typing import Any, ClassVar, overload

from .errors import HTTPError
from .request import Request
from .response import Response


class Groups:
    """The route's captured groups: `groups[0]` positionally, `groups['name']` by name."""

    __slots__ = ("_match",)

    def __init__(self, match: Match[str] | None) -> None:
        self._match = match

    @overload
    def __getitem__(self, key: int) -> str: ...
    @overload
    def __getitem__(self, key: str) -> str: ...
    def __getitem__(self, key: int | str) -> str:
        if self._match is None:
            raise IndexError(key)
        if isinstance(key, int):
            if not 0 <= key < len(self):
                raise IndexError(key)
            return self._match.group(key + 1)
        return self._match.group(key)

    def __len__(self) -> int:
        return len(self._match.groups()) if self._match else 0

    def __iter__(self) -> Iterator[str]:
        return iter(self._match.groups() if self._match else ())

    def named(self) -> dict[str, str]:
        return self._match.groupdict() if self._match else {}

    def __repr__(self) -> str:
        return f"Groups({tuple(self)!r}, {self.named()!r})"


class HTTPHandler:
    """Subclass and define `do_get`, `do_put`, ... to make a resource.

    Each method returns ``(status, body)`` or ``(status, reason, body)``, or
    raises `HTTPError`. The body may be str (sent as UTF-8), bytes, None, a
    binary file object or an iterable of bytes; files and iterables are
    streamed. HEAD is answered from `do_get` and OPTIONS from the methods
    defined, unless the class defines `do_head` / `do_options` itself.

    Per instance: `request`, `response` (set `response.headers` here) and
    `groups` (the route's captured groups).
    """

    #: Read the body as a stream (`self.request.stream`) instead of whole
    #: into `self.request.body`, e.g. to write a large upload to disk.
    stream_request_body: ClassVar[bool] = False
    #: Largest request body this handler accepts; None means the server's limit.
    max_body_bytes: ClassVar[int | None] = None
    #: Order requests on this handler's resource (reads together, a write alone).
    #: False runs every request at once, e.g. for a mounted app that orders its own.
    ordered: ClassVar[bool] = True

    def __init__(self, request: Request, response: Response, groups: Groups) -> None:
        self.request = request
        self.response = response
        self.groups = groups

    def prepare(self) -> None:
        """Vet the request before its body is read; raise `HTTPError` to refuse it.

        A client that sent ``Expect: 100-continue`` then never sends the body.
        Authentication and per-request size checks belong here.
        """

    def decode(self, body: bytes) -> Any:
        """Turn the raw request body into `self.request.body` (e.g. parse JSON)."""
        return body

    def encode(self, body: Any) -> Any:
        """Turn what a `do_<method>` returned as body into something sendable."""
        return body


class HTTPErrorHandler(HTTPHandler):
    """Renders error responses; subclass and map in `error_routes` to customise them.

    `self.error` is the `HTTPError` being answered; `self.request` may be None
    when the request could not be parsed at all. `respond` returns the same
    shapes a `do_<method>` does.

    Every error response says ``X-Content-Type-Options: nosniff``, custom
    pages included: an error page describes a request the server refused, so
    no browser should read it as anything but its declared type.
    """

    def __init__(self, request: Request | None, response: Response, error: HTTPError) -> None:
        super().__init__(request, response, Groups(None))  # type: ignore[arg-type]
        self.error = error
        response.headers.setdefault("X-Content-Type-Options", "nosniff")

    def respond(self) -> Any:
        error = self.error
        text = f"{error.status_code} {error.reason}\n"
        if error.message:
            text += f"{error.message}\n"
        self.response.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return error.status_code, error.reason, text


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
