"""webpy: a small, strict, fast HTTP/1.1 server library.

Regex routes map to handler classes whose `do_get`, `do_put`, ... methods
return ``(status, body)`` or raise `HTTPError`::

    import webpy as web

    class Hello(web.HTTPHandler):
        def do_get(self):
            return 200, "Hello, world!"

    web.HTTPServer(("localhost", 8080), {"/": Hello}).serve_forever()
"""

from ._version import __version__
from .app import (
    Headers,
    HTTPError,
    HTTPErrorHandler,
    HTTPHandler,
    MultiDict,
    Request,
    Response,
)
from .protocol import Limits
from .transports.settings import Timeouts
from .transports.threaded import HTTPServer

__all__ = [
    "HTTPError",
    "HTTPErrorHandler",
    "HTTPHandler",
    "HTTPServer",
    "Headers",
    "Limits",
    "MultiDict",
    "Request",
    "Response",
    "Timeouts",
    "__version__",
]
