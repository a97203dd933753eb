"""webpy routes for the gateway tests: the seed's key-value store, the notes example (auth,
forms, JSON), the files extension, streamed bodies both ways, sync and async handlers.

Imported by the servers under test (gunicorn, waitress, uvicorn, hypercorn) as
``webpy_site:application`` (WSGI) and ``webpy_site:app`` (ASGI).
"""

from __future__ import annotations

import hashlib
import os
import runpy
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import webpy as web
from webpy.app import files
from webpy.app.json import JSONHandler
from webpy.gateway import asgi_app, wsgi_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
keyvalue = runpy.run_path(str(EXAMPLES / "keyvalue.py"))
notes = runpy.run_path(str(EXAMPLES / "notes_api.py"))
lifespan: list[str] = []


class Lines(web.HTTPHandler):
    """A body streamed as it is produced, with no length known in advance."""

    def do_get(self) -> tuple[int, Iterator[bytes]]:
        count = int(self.request.query.get("count", "10"))
        return 200, (f"line {number}\n".encode() for number in range(count))


class AsyncLines(web.HTTPHandler):
    async def do_get(self) -> tuple[int, AsyncIterator[bytes]]:
        count = int(self.request.query.get("count", "10"))

        async def lines() -> AsyncIterator[bytes]:
            for number in range(count):
                yield f"async line {number}\n".encode()

        return 200, lines()


class Upload(JSONHandler):
    """A streamed upload: read piece by piece, never whole."""

    stream_request_body = True
    max_body_bytes = 64 * 1024 * 1024

    def do_post(self) -> tuple[int, dict[str, Any]]:
        digest, size, pieces = hashlib.sha256(), 0, 0
        assert self.request.stream is not None
        while piece := self.request.stream.read(65536):
            digest.update(piece)
            size += len(piece)
            pieces += 1
        return 200, {"size": size, "sha256": digest.hexdigest(), "largest_read": 65536}


class AsyncUpload(JSONHandler):
    stream_request_body = True
    max_body_bytes = 64 * 1024 * 1024

    async def do_post(self) -> tuple[int, dict[str, Any]]:
        digest, size = hashlib.sha256(), 0
        assert self.request.stream is not None
        while piece := await self.request.stream.read(65536):
            digest.update(piece)
            size += len(piece)
        return 200, {"size": size, "sha256": digest.hexdigest()}


class Where(web.HTTPHandler):
    """Which thread runs a plain handler: under ASGI, never the event loop's (the main one)."""

    def do_get(self) -> tuple[int, str]:
        return 200, "main" if threading.current_thread() is threading.main_thread() else "worker"


class AsyncWhere(web.HTTPHandler):
    async def do_get(self) -> tuple[int, str]:
        return 200, "main" if threading.current_thread() is threading.main_thread() else "worker"


class Lifespan(JSONHandler):
    def do_get(self) -> tuple[int, list[str]]:
        return 200, lifespan


routes: dict[str, Any] = {
    "/kv/(.*)": keyvalue["Handler"],
    "/lines": Lines,
    "/async-lines": AsyncLines,
    "/upload": Upload,
    "/async-upload": AsyncUpload,
    "/lifespan": Lifespan,
    "/where": Where,
    "/async-where": AsyncWhere,
}
routes.update(notes["routes"])
routes.update(files.routes(EXAMPLES, "/static/"))

application = wsgi_app(routes)


def _lifespan_event(event: str) -> None:
    lifespan.append(event)
    record = os.environ.get("WEBPY_SITE_LIFESPAN_RECORD")
    if record:
        with open(record, "a") as file:
            file.write(event + "\n")


app = asgi_app(routes, on_startup=[lambda: _lifespan_event("started")],
               on_shutdown=[lambda: _lifespan_event("stopped")])
