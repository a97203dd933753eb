"""What a handler sees of the request: `self.request`."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from .headers import Headers, MultiDict


class BodyStream(Protocol):
    """A request body read piece by piece (`HTTPHandler.stream_request_body`).

    `read()` returns bytes, `b""` at the end; transports supply the object.
    Async transports supply one whose `read` must be awaited.
    """

    def read(self, size: int = -1) -> Any: ...


class Request:
    """One HTTP request, parsed lazily: most handlers touch only a few fields.

    - `method`: as sent, e.g. ``"GET"``; `http_version`: ``"1.1"`` or ``"1.0"``
    - `target`: the request target as sent; `path`: its path, percent-decoded;
      `raw_path`: the path still encoded; `query_string` and `query` (decoded,
      multi-valued)
    - `headers`: case-insensitive, multi-valued `Headers`
    - `body`: the whole body (bytes, or what the handler's `decode` made of it);
      `None` when the handler streams it, which it then reads from `stream`
    - `client`: the peer's (host, port), when the transport knows it
    - `server`: the (host, port) the client connected to (this server's
      address, or the proxy's per its PROXY header), when known
    - `scheme`: ``"http"`` or ``"https"``
    - `user`: who the request authenticated as (a name), once an
      authentication handler's `prepare` has checked it, else None; the
      access log shows it as Common Log Format's authuser field
    """

    __slots__ = (
        "_headers",
        "_path",
        "_query",
        "_raw_headers",
        "_raw_path",
        "body",
        "client",
        "http_version",
        "method",
        "query_string",
        "scheme",
        "server",
        "stream",
        "target",
        "user",
    )

    def __init__(
        self,
        method: str,
        target: str,
        raw_headers: list[tuple[bytes, bytes]] | Headers = (),  # type: ignore[assignment]
        *,
        http_version: str = "1.1",
        client: tuple[str, int] | None = None,
        scheme: str = "http",
        server: tuple[str, int] | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        self.client = client
        self.scheme = scheme
        self.server = server
        self.user: str | None = None
        self.body: Any = b""
        self.stream: BodyStream | None = None
        if isinstance(raw_headers, Headers):
            self._headers: Headers | None = raw_headers
            self._raw_headers: list[tuple[bytes, bytes]] = []
        else:
            self._headers = None
            self._raw_headers = raw_headers
        if target[:1] == "/":
            raw_path, _, self.query_string = target.partition("?")
        elif target == "*":
            raw_path, self.query_string = "*", ""
        else:  # absolute-form, as sent to proxies (RFC 9112 section 3.2.2)
            parts = urlsplit(target)
            raw_path, self.query_string = parts.path or "/", parts.query
        self._raw_path = raw_path
        self._path: str | None = None
        self._query: MultiDict | None = None

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(
                [(name.decode("latin-1"), value.decode("latin-1"))
                 for name, value in self._raw_headers]
            )
        return self._headers

    @property
    def raw_path(self) -> str:
        return self._raw_path

    @property
    def path(self) -> str:
        if self._path is None:
            raw = self._raw_path
            self._path = unquote(raw, errors="surrogateescape") if "%" in raw else raw
        return self._path

    @property
    def query(self) -> MultiDict:
        if self._query is None:
            self._query = MultiDict(parse_qsl(self.query_string, keep_blank_values=True))
        return self._query

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target}>"
