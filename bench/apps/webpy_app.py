"""webpy's side of the benchmark: hello world and a streaming upload sink.

Launched as ``python -m webpy --app bench.apps.webpy_app:routes ...`` and used in-process by the
memory-transport test-client scenario.
"""

import webpy as web

UPLOAD_READ_SIZE = 65536


class Hello(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        self.response.headers["Content-Type"] = "text/plain"
        return 200, "Hello, world!"


class Upload(web.HTTPHandler):
    # Streamed so that a 10 MiB body is never held in memory at once, like the peers' sinks.
    stream_request_body = True

    def do_post(self) -> tuple[int, str]:
        total = 0
        while True:
            chunk = self.request.stream.read(UPLOAD_READ_SIZE)
            if not chunk:
                break
            total += len(chunk)
        self.response.headers["Content-Type"] = "text/plain"
        return 200, str(total)


routes = {"/": Hello, "/upload": Upload}
