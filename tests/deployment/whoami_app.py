"""An application for the command-line tests: who served the request, and for whom."""

from __future__ import annotations

import os

import webpy as web


class WhoAmI(web.HTTPHandler):
    def do_get(self):  # type: ignore[no-untyped-def]
        client = self.request.client
        shown = f"{client[0]} {client[1]}" if client else "-"
        return 200, f"pid={os.getpid()} client={shown} scheme={self.request.scheme}"


routes = {"/": WhoAmI}
