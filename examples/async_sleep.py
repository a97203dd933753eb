"""An ``async def`` handler that sleeps without holding anyone else up.

    python examples/async_sleep.py            # serves on http://localhost:8000/
    curl 'localhost:8000/sleep?seconds=2'

An optional argument picks another port (0: any free one). Ctrl-C or
SIGTERM stops it gracefully, with exit status 0 (`trio_run.run`).

Each request to /sleep waits `seconds` (default 1) with `trio.sleep`, in its
connection's own task, so ten requests sent at once are all answered after
about one second, not ten. To show it, the response says how many requests
were asleep together when this one woke up.
"""

from __future__ import annotations

import sys

import trio

import webpy as web
from webpy.transports.trio import url
from webpy.transports.trio_run import run


class Sleep(web.HTTPHandler):
    #: Requests inside `trio.sleep` right now, across all connections. Every
    #: async handler runs in the one trio thread, so a plain int is safe.
    asleep = 0

    async def do_get(self) -> tuple[int, str]:
        try:
            seconds = float(self.request.query.get("seconds") or "1")
        except ValueError:
            raise web.HTTPError(400, "seconds must be a number") from None
        if not 0 <= seconds <= 60:
            raise web.HTTPError(400, "seconds must be between 0 and 60")
        Sleep.asleep += 1
        try:
            await trio.sleep(seconds)
            together = Sleep.asleep
        finally:
            Sleep.asleep -= 1
        return 200, f"slept {seconds:g}s; {together} requests were asleep together\n"


routes = {"/sleep": Sleep}


def announce(addresses: list[tuple[str, int]]) -> None:
    print(f"Serving on {url(addresses[0])}sleep (Ctrl-C to stop)", flush=True)


if __name__ == "__main__":
    run(routes, "localhost", int(sys.argv[1]) if len(sys.argv) > 1 else 8000, on_ready=announce)
