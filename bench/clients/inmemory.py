"""In-process test-client throughput: how fast can a test suite call the app without sockets?

Each client issues hello-world GETs in a loop bounded by time and count, after a short warm-up,
and checks the first answer. Run in its own process (pinned to the server CPU) so imports and
garbage from one framework do not bias another.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

HELLO = "Hello, world!"


@contextmanager
def webpy_client() -> Iterator[Callable[[], tuple[int, Any]]]:
    from bench.apps.webpy_app import routes
    from webpy.transports.memory import Client

    client = Client(routes)

    def call() -> tuple[int, Any]:
        r = client.get("/")
        return r.status, r.body

    yield call


@contextmanager
def falcon_client() -> Iterator[Callable[[], tuple[int, Any]]]:
    import falcon
    import falcon.testing

    class Hello:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.content_type = "text/plain"
            resp.text = HELLO

    app = falcon.App()
    app.add_route("/", Hello())
    client = falcon.testing.TestClient(app)

    def call() -> tuple[int, Any]:
        r = client.simulate_get("/")
        return r.status_code, r.text

    yield call


@contextmanager
def starlette_client() -> Iterator[Callable[[], tuple[int, Any]]]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    with warnings.catch_warnings():
        # Newer starlette warns that it prefers httpx2; the measurement is the same.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    app = Starlette(routes=[Route("/", hello)])
    # Used as a context manager, so one event-loop thread serves every request (the fast way).
    with TestClient(app) as client:

        def call() -> tuple[int, Any]:
            r = client.get("/")
            return r.status_code, r.text

        yield call


CLIENTS = {"webpy": webpy_client, "falcon": falcon_client, "starlette": starlette_client}


def measure(
    call: Callable[[], tuple[int, Any]], seconds: float, max_requests: int
) -> dict[str, Any]:
    status, body = call()
    text = body.decode() if isinstance(body, bytes) else str(body)
    if status != 200 or text != HELLO:
        raise SystemExit(f"unexpected answer: {status} {text[:80]!r}")
    for _ in range(50):
        call()
    n = 0
    started = time.perf_counter()
    end = started + seconds
    while n < max_requests:
        for _ in range(32):
            call()
        n += 32
        if time.perf_counter() >= end:
            break
    elapsed = time.perf_counter() - started
    return {"requests": n, "seconds": round(elapsed, 3), "rps": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max", type=int, default=2_000_000)
    args = parser.parse_args()
    with CLIENTS[args.client]() as call:
        print(json.dumps(measure(call, args.seconds, args.max)))


if __name__ == "__main__":
    main()
