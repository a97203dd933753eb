"""webpy's routes as a WSGI application, for gunicorn, waitress or any PEP 3333 server.

    from webpy.gateway import wsgi_app
    application = wsgi_app(routes)        # gunicorn mymodule:application

Per call: the environ becomes a `Request` (the path from PATH_INFO, so the
routes match below wherever the server mounts the application), the
`Application` routes and vets it, the body is read whole (up to the
handler's limit, 413 beyond) or handed to the handler as a stream over
``wsgi.input``, the handler runs in the server's thread, and the
`Response` is returned: bytes as one piece with a Content-Length, files
and iterables piece by piece. Requests on one resource are ordered as on
webpy's own servers; a write's lock is held until the server has closed
its response body. Async handlers and async bodies need an ASGI server
(`webpy.gateway.asgi`) and get a logged 500 here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..app import (
    Application,
    Call,
    ErrorRoutes,
    FileBody,
    Headers,
    HTTPError,
    ReadWriteLock,
    Request,
    ResourceLocks,
    Response,
    Routes,
    StreamBody,
)
from ._exchange import (
    DEFAULT_MAX_BODY_BYTES,
    body_limit,
    close_body,
    file_pieces,
    request_target,
    response_head,
    too_large,
)

__all__ = ["WSGIApp", "wsgi_app"]

logger = logging.getLogger("webpy")

StartResponse = Callable[..., Any]


def wsgi_app(routes: Routes, error_routes: ErrorRoutes | None = None, *,
             max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> WSGIApp:
    """A WSGI application serving `routes` (and `error_routes`).

    `max_body_bytes` is the body limit for handlers that set none.
    """
    return WSGIApp(routes, error_routes, max_body_bytes=max_body_bytes)


class WSGIApp:
    """The WSGI callable; see the module docstring."""

    def __init__(self, routes: Routes, error_routes: ErrorRoutes | None = None, *,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = Application(routes, error_routes)
        self.max_body_bytes = max_body_bytes
        self.locks: ResourceLocks[ReadWriteLock] = ResourceLocks(ReadWriteLock)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        request = _request(environ)
        begun = self.app.begin(request)
        if isinstance(begun, Response):
            return _respond(begun, request, start_response, None)
        call = begun
        limit = body_limit(call.max_body_bytes, self.max_body_bytes)
        body_input = _Input(environ, limit)
        body: bytes | None = None
        try:
            error = body_input.refusal()
            if error is not None:
                raise error
            if call.stream_body:
                request.stream = body_input
            else:
                body = body_input.read()
        except HTTPError as error:
            return _respond(self.app.error_response(error, request), request, start_response,
                            None)
        resource = call.resource
        if resource is None:
            return _respond(_run(call, body), request, start_response, None)
        lock = self.locks.hold(resource)
        exclusive = call.exclusive
        if not lock.try_acquire(exclusive):
            lock.acquire(exclusive)

        def release() -> None:
            lock.release(exclusive)
            self.locks.drop(resource)

        try:
            response = _run(call, body)
        except BaseException:
            release()
            raise
        return _respond(response, request, start_response, release)


def _run(call: Call, body: bytes | None) -> Response:
    if call.is_async:
        return call.fail(TypeError("async handlers need an ASGI server (webpy.gateway.asgi)"))
    return call.run(body)


def _request(environ: dict[str, Any]) -> Request:
    headers = Headers()
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.add(key[5:].replace("_", "-").title(), value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.add(key.replace("_", "-").title(), value)
    path = environ.get("PATH_INFO", "").encode("latin-1")
    address = environ.get("REMOTE_ADDR")
    client = (address, int(environ.get("REMOTE_PORT") or 0)) if address else None
    return Request(
        environ["REQUEST_METHOD"],
        request_target(path, environ.get("QUERY_STRING", "")),
        headers,
        http_version=environ.get("SERVER_PROTOCOL", "HTTP/1.1").removeprefix("HTTP/"),
        client=client,
        scheme=environ.get("wsgi.url_scheme", "http"),
    )


def _respond(response: Response, request: Request, start_response: StartResponse,
             release: Callable[[], None] | None) -> Iterable[bytes]:
    status, reason, fields, send_body = response_head(response, request.method)
    body = response.body
    if type(body) is StreamBody and body.is_async:
        close_body(body)
        error = TypeError("async response bodies need an ASGI server (webpy.gateway.asgi)")
        return _respond(_failed(request, error), request, start_response, release)
    try:
        start_response(f"{status} {reason}", fields)
    except BaseException:
        close_body(body)
        if release is not None:
            release()
        raise
    if type(body) is bytes and release is None:
        return [body] if send_body and body else []
    return _Output(body, send_body, release)


def _failed(request: Request, error: Exception) -> Response:
    logger.error("cannot send the response to %s %s: %s", request.method, request.target, error)
    return Response(500, b"500 Internal Server Error\n",
                    Headers([("Content-Type", "text/plain; charset=utf-8")]))


class _Output:
    """A response body for the server to iterate; `close` releases what the request held."""

    def __init__(self, body: bytes | FileBody | StreamBody, send_body: bool,
                 release: Callable[[], None] | None) -> None:
        self._body = body
        self._release = release
        self._pieces: Iterator[bytes] = iter(())
        if send_body:
            if type(body) is bytes:
                self._pieces = iter((body,) if body else ())
            elif type(body) is FileBody:
                self._pieces = file_pieces(body)
            else:
                self._pieces = _chunks(body)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces

    def close(self) -> None:
        try:
            close_body(self._body)
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


def _chunks(body: StreamBody) -> Iterator[bytes]:
    for chunk in body.chunks:  # type: ignore[union-attr]
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        if chunk:
            yield bytes(chunk)


class _Input:
    """The request body from ``wsgi.input``, at most `limit` bytes, for `Request.stream`.

    The PEP lets a server's input run past the body, so reads stop at
    CONTENT_LENGTH; without one, the body is what the server delimits
    (``wsgi.input_terminated``) or empty.
    """

    def __init__(self, environ: dict[str, Any], limit: int) -> None:
        self._stream = environ["wsgi.input"]
        self._limit = limit
        self._read = 0
        length = environ.get("CONTENT_LENGTH") or ""
        self._length: int | None
        if length.isdigit():
            self._length = int(length)
        elif environ.get("wsgi.input_terminated"):
            self._length = None
        else:
            self._length = 0

    def refusal(self) -> HTTPError | None:
        """A 413 for a declared length over the limit, before anything is read."""
        return too_large(self._length, self._limit) if self._length is not None else None

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            pieces = []
            while piece := self.read(64 * 1024):
                pieces.append(piece)
            return b"".join(pieces)
        if self._length is not None:
            size = min(size, self._length - self._read)
        if size <= 0:
            return b""
        data: bytes = self._stream.read(size)
        self._read += len(data)
        if self._length is not None and not data and self._read < self._length:
            raise HTTPError(400, "The request body ended before its Content-Length.")
        error = too_large(self._read, self._limit)
        if error is not None:
            raise error
        return data

    def __iter__(self) -> Iterator[bytes]:
        while piece := self.read(64 * 1024):
            yield piece
