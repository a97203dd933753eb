"""An application for the worker tests: each request's id is recorded by the worker that handled it.

The record is a file (``WEBPY_TEST_RECORD``) every worker appends one line
to per request, ``<id> <pid>``, in one O_APPEND write: lines from several
processes never interleave.
"""

from __future__ import annotations

import os

import webpy as web


class Record(web.HTTPHandler):
    def do_get(self):  # type: ignore[no-untyped-def]
        tag = self.request.query["id"]
        fd = os.open(os.environ["WEBPY_TEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{tag} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
        return 200, f"ok {tag} {os.getpid()}"


routes = {"/": Record}
