"""A static site with a little dynamic part beside it.

    python examples/static_site.py [DIRECTORY]     # serves on http://localhost:8000/
    curl localhost:8000/                            # the home page, from a handler
    curl localhost:8000/static/                     # DIRECTORY, listed
    curl -r 0-99 localhost:8000/static/some-file    # any file, or a range of it

Handler routes and a directory share one routes dict: the handlers come
first, and `files.routes` covers everything under /static/ (ranges, 304s,
listings, and nothing outside DIRECTORY, whatever the request).
"""

from __future__ import annotations

import os
import sys
import time
from html import escape
from typing import Any
from urllib.parse import quote

import webpy as web
from webpy.app import files


class Time(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        self.response.headers["Cache-Control"] = "no-store"
        return 200, time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime())


def site_routes(directory: str) -> dict[str, Any]:
    """The site's routes for `directory`: handlers first, then the files under /static/."""

    class Home(web.HTTPHandler):
        """The front page: links to what the directory holds."""

        def do_get(self) -> tuple[int, str]:
            names = sorted(name for name in os.listdir(directory) if not name.startswith("."))
            items = "".join(f'<li><a href="/static/{quote(name)}">{escape(name)}</a></li>'
                            for name in names)
            self.response.headers["Content-Type"] = "text/html; charset=utf-8"
            return 200, f"<!DOCTYPE html><title>Home</title><h1>Files</h1><ul>{items}</ul>\n"

    return {"/": Home, "/api/time": Time, **files.routes(directory, "/static/", listing=True)}


if __name__ == "__main__":
    routes = site_routes(sys.argv[1] if len(sys.argv) > 1 else ".")
    print("Serving on http://localhost:8000/ (Ctrl-C to stop)", flush=True)
    web.HTTPServer(("localhost", 8000), routes).serve_forever()
