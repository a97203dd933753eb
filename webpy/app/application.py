"""The resource dispatcher: request in, response out, whatever the transport.

Theory of operation
-------------------
An `Application` holds the routes. For each request a transport's driver
calls `begin`, which routes the path, picks the handler method and lets the
handler vet the request (`prepare`) before any body is read. The result is
either a finished `Response` (404, 405, 501, a refusal) or a `Call`: the
handler bound to the request, which says how it wants its body (whole or
streamed, up to what size) and whether it changes its resource. The driver
then reads the body as asked, takes the resource lock, and runs the call
(`run`, or `run_async` for `async def` handlers). A `Call` never raises:
`HTTPError` becomes its error page and any other exception a logged 500.

This module knows nothing of sockets, threads or bytes on the wire.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .errors import HTTPError
from .handler import Groups, HTTPErrorHandler, HTTPHandler
from .headers import Headers
from .locks import SAFE_METHODS
from .request import Request
from .response import Response, normalize_body
from .routing import RouteError, Router

logger = logging.getLogger("webpy")

#: Methods the server recognises even where no route implements them (-> 405, not 501).
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

Routes = Mapping[str, type[HTTPHandler]]
ErrorRoutes = Mapping[str, type[HTTPErrorHandler]]


class Application:
    """Routes and error routes, compiled once; shared by every connection."""

    def __init__(self, routes: Routes, error_routes: ErrorRoutes | None = None) -> None:
        self._router: Router[type[HTTPHandler]] = Router(routes)
        self._error_router: Router[type[HTTPErrorHandler]] = Router(error_routes)
        _check_targets(self._router, HTTPHandler, "routes")
        _check_targets(self._error_router, HTTPErrorHandler, "error_routes")
        self._allowed: dict[type[HTTPHandler], tuple[frozenset[str], str]] = {}
        self._is_async: dict[Callable[..., Any], bool] = {}
        self.known_methods = STANDARD_METHODS.union(
            *(self.allowed_methods(handler) for handler in self._router.targets())
        )

    def begin(self, request: Request) -> Call | Response:
        """Route `request` and vet it; return the call to run, or the response to send now."""
        found = self._router.match(request.path)
        if found is None:
            return self.error_response(HTTPError(404), request)
        handler_class, match = found
        method = request.method
        allowed, allow_header = self._allowed_entry(handler_class)
        if method not in allowed:
            status = 405 if method in self.known_methods else 501
            return self.error_response(HTTPError(status, headers={"Allow": allow_header}), request)
        response = Response()
        try:
            handler = handler_class(request, response, Groups(match))
            function = getattr(handler, "do_" + method.lower(), None)
            if function is None:
                function = handler.do_get if method == "HEAD" else _options(response, allow_header)  # type: ignore[attr-defined]
            handler.prepare()
        except HTTPError as error:
            return self.error_response(error, request)
        except Exception:
            logger.exception("error preparing %s %s", method, request.target)
            return self.error_response(HTTPError(500), request)
        return Call(self, handler, function, request, response)

    def allowed_methods(self, handler_class: type[HTTPHandler]) -> frozenset[str]:
        """The methods `handler_class` answers: its `do_<method>`s, HEAD with GET, OPTIONS."""
        return self._allowed_entry(handler_class)[0]

    def error_response(self, error: HTTPError, request: Request | None) -> Response:
        """Render `error` with the handler `error_routes` picks for its status code."""
        found = self._error_router.match(str(error.status_code))
        handler_class = found[0] if found else HTTPErrorHandler
        try:
            return _render_error(handler_class, error, request)
        except Exception:
            logger.exception("error handler %s failed", handler_class.__name__)
            return _render_error(HTTPErrorHandler, error, request)

    def is_async(self, function: Callable[..., Any]) -> bool:
        unbound = getattr(function, "__func__", function)
        result = self._is_async.get(unbound)
        if result is None:
            result = self._is_async[unbound] = inspect.iscoroutinefunction(unbound)
        return result

    def _allowed_entry(self, handler_class: type[HTTPHandler]) -> tuple[frozenset[str], str]:
        entry = self._allowed.get(handler_class)
        if entry is None:
            methods = {
                name[3:].upper()
                for name in dir(handler_class)
                if name.startswith("do_") and name[3:].isalpha() and name[3:].islower()
                and callable(getattr(handler_class, name))
            }
            if "GET" in methods:
                methods.add("HEAD")
            methods.add("OPTIONS")
            entry = self._allowed[handler_class] = (frozenset(methods), ", ".join(sorted(methods)))
        return entry


class Call:
    """One handler method bound to its request, ready to run once the body is in."""

    __slots__ = ("app", "function", "handler", "request", "response")

    def __init__(self, app: Application, handler: HTTPHandler, function: Callable[[], Any],
                 request: Request, response: Response) -> None:
        self.app = app
        self.handler = handler
        self.function = function
        self.request = request
        self.response = response

    @property
    def stream_body(self) -> bool:
        return self.handler.stream_request_body

    @property
    def max_body_bytes(self) -> int | None:
        return self.handler.max_body_bytes

    @property
    def exclusive(self) -> bool:
        """Whether the request may change its resource, so must run alone on it."""
        return self.request.method not in SAFE_METHODS

    @property
    def resource(self) -> str | None:
        """The key requests are ordered by (the path), or None if the handler is unordered."""
        return self.request.path if self.handler.ordered else None

    @property
    def is_async(self) -> bool:
        return self.app.is_async(self.function)

    def run(self, body: bytes | None = None) -> Response:
        """Run a plain handler method; `body` is the whole request body, if read."""
        try:
            # None: the handler streams the body (`request.stream`), as documented.
            self.request.body = None if body is None else self.handler.decode(body)
            return self._finish(self.function())
        except Exception as error:
            return self._fail(error)

    async def run_async(self, body: bytes | None = None) -> Response:
        """Run an ``async def`` handler method."""
        try:
            # None: the handler streams the body (`request.stream`), as documented.
            self.request.body = None if body is None else self.handler.decode(body)
            return self._finish(await self.function())
        except Exception as error:
            return self._fail(error)

    def fail(self, error: Exception) -> Response:
        """The response for an exception raised while producing the body."""
        return self._fail(error)

    def _finish(self, result: Any) -> Response:
        response = self.response
        response.status, response.reason, body = _unpack(result)
        try:
            response.body = normalize_body(self.handler.encode(body), response.headers)
        except TypeError as error:  # the 500 is logged naming the handler that returned it
            name = getattr(self.function, "__name__", "a method")
            raise TypeError(f"{type(self.handler).__qualname__}.{name} returned a body that "
                            f"cannot be sent: {error}") from None
        return response

    def _fail(self, error: Exception) -> Response:
        if not isinstance(error, HTTPError):
            request = self.request
            logger.exception("error in handler for %s %s", request.method, request.target,
                             exc_info=error)
            error = HTTPError(500)
        return self.app.error_response(error, self.request)


def _check_targets(router: Router[Any], base: type, table: str) -> None:
    """Refuse a route to anything but a `base` subclass now, rather than 405 on every request."""
    for pattern, target in router.items():
        if not (isinstance(target, type) and issubclass(target, base)):
            what = getattr(target, "__qualname__", None) or repr(target)
            kind = ("class" if isinstance(target, type) else
                    "function" if inspect.isroutine(target) else type(target).__name__)
            raise RouteError(f"{table} entry {pattern!r} maps to {kind} {what}, not a subclass "
                             f"of webpy.{base.__name__}")


def _unpack(result: Any) -> tuple[int, str | None, Any]:
    if isinstance(result, tuple):
        if len(result) == 2:
            status, body = result
            reason = None
        elif len(result) == 3:
            status, reason, body = result
        else:
            raise TypeError(f"a handler returned a {len(result)}-tuple")
        if isinstance(status, int) and 200 <= status <= 999:
            return status, reason, body
    raise TypeError(f"a handler must return (status, body) or (status, reason, body), "
                    f"not {result!r:.80}")


def _render_error(handler_class: type[HTTPErrorHandler], error: HTTPError,
                  request: Request | None) -> Response:
    response = Response(headers=Headers(error.headers.items()))
    handler = handler_class(request, response, error)
    response.status, response.reason, body = _unpack(handler.respond())
    response.body = normalize_body(handler.encode(body), response.headers)
    return response


def _options(response: Response, allow_header: str) -> Callable[[], tuple[int, None]]:
    def options() -> tuple[int, None]:
        response.headers["Allow"] = allow_header
        return 204, None

    return options
