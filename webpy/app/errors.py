"""The one error type of the application layer, one branch of the package's error family."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus

from ..protocol.errors import HTTPProblem
from .headers import Headers


class HTTPError(HTTPProblem):
    """Raise in a handler to answer with `status_code` instead of a normal response.

    `message` becomes part of the error page; `headers` are added to the
    response (e.g. `WWW-Authenticate` with a 401, `Allow` with a 405);
    `reason` replaces the standard reason phrase.

    An error handler (`HTTPErrorHandler`, as `self.error`) reads them back as
    attributes: `status_code` (int), `message` (str or None), `headers` (a
    `Headers`, possibly empty) and `reason` (the phrase to send, the
    standard one when none was given). There is no `status` attribute.
    """

    def __init__(
        self,
        status_code: int,
        message: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        reason: str | None = None,
    ) -> None:
        try:
            phrase = HTTPStatus(status_code).phrase
        except ValueError:
            phrase = "Unknown"
        super().__init__(status_code,
                         f"{status_code} {reason or phrase}" + (f": {message}" if message else ""))
        self.message = message
        self.headers = Headers(headers or ())
        self.reason = reason or phrase
