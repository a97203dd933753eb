"""webpy's routes served by other servers: as a WSGI application and as an ASGI application.

Theory of operation
-------------------
Here another server (gunicorn, waitress, uvicorn, hypercorn...) owns the
sockets and speaks HTTP; what reaches us is a WSGI environ or an ASGI scope.
These modules are transports in all but I/O: each turns what its server
hands over into a `Request`, runs it through the same `Application` as
webpy's own transports (routing, ``prepare``, body limits, per-resource
ordering, error pages), and turns the `Response` back into what its server
expects. `_exchange` holds what both share.

They live outside `webpy.app` because the ASGI side must run plain handlers
in threads of whichever event loop the server runs (asyncio or trio), and
the application layer knows no event loop.

- `wsgi_app(routes)` (`webpy.gateway.wsgi`): a WSGI callable.
- `asgi_app(routes)` (`webpy.gateway.asgi`): an ASGI 3 application, with
  lifespan.
"""

from .asgi import ASGIApp, asgi_app
from .wsgi import WSGIApp, wsgi_app

__all__ = ["ASGIApp", "WSGIApp", "asgi_app", "wsgi_app"]
