"""WSGI hello world and upload sink, served by waitress and cheroot."""

from collections.abc import Callable, Iterable
from typing import Any

HELLO = b"Hello, world!"
UPLOAD_READ_SIZE = 65536

StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/upload" and environ["REQUEST_METHOD"] == "POST":
        stream = environ["wsgi.input"]
        total = 0
        while True:
            chunk = stream.read(UPLOAD_READ_SIZE)
            if not chunk:
                break
            total += len(chunk)
        body = str(total).encode()
    else:
        body = HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
