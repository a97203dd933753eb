"""The trio transport's side of the benchmark: the same two routes as `async def` handlers.

A trio application is written with async handlers, and those run in the
connection's task; plain ones would each cost a hop to a worker thread. The
peers on trio and asyncio (hypercorn, uvicorn) run async ASGI apps too.
"""

from typing import Any

import webpy as web

UPLOAD_READ_SIZE = 65536


class Hello(web.HTTPHandler):
    async def do_get(self) -> tuple[int, str]:
        self.response.headers["Content-Type"] = "text/plain"
        return 200, "Hello, world!"


class Upload(web.HTTPHandler):
    stream_request_body = True

    async def do_post(self) -> tuple[int, str]:
        stream: Any = self.request.stream
        total = 0
        while chunk := await stream.read(UPLOAD_READ_SIZE):
            total += len(chunk)
        self.response.headers["Content-Type"] = "text/plain"
        return 200, str(total)


routes = {"/": Hello, "/upload": Upload}
