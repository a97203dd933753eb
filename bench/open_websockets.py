"""Open WebSockets on the threaded server: do they cost plain HTTP clients anything?

python bench/open_websockets.py                       # 1,000 sockets, 8 threads, 10 s per phase
python bench/open_websockets.py --sockets 200 --seconds 5

Starts webpy's threaded server (8 threads) in its own process with a WebSocket
echo route and a plain /hello route. Phase 1: one plain HTTP client (keep-alive,
one request at a time) for `--seconds`; its p99 latency is the baseline. Phase 2:
`--sockets` WebSockets are opened (`websockets` client, asyncio, in another
process) and each sends a message a second and waits for its echo; while they
are all open, the same plain client runs again. Printed as one JSON object:
server RSS before and with the sockets open, the plain client's p50/p99 in both
phases and their ratio (the goal: p99 within 2x), echoes received, errors.

Everything is bounded: connecting has `--connect-timeout`, each phase lasts
`--seconds`, and the server is killed if it does not stop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import procs  # noqa: E402

HOST = "127.0.0.1"


# -- the server (run with --serve PORT in its own process) --------------------------------


def serve(port: int, threads: int) -> None:
    import webpy as web
    from webpy.app.websocket import WebSocketHandler

    class Echo(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            self.send(message)

    class Hello(web.HTTPHandler):
        def do_get(self) -> Any:
            return 200, "Hello, world!\n"

    server = web.HTTPServer((HOST, port), {"/ws": Echo, "/hello": Hello}, threads=threads,
                            max_connections=20_000)
    server.serve_forever()


# -- the plain HTTP client -------------------------------------------------------------------


def plain_latencies(port: int, seconds: float) -> tuple[list[float], int]:
    """Sequential keep-alive GETs for `seconds`; latencies in ms and the number of failures."""
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            connection.request("GET", "/hello")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures += 1
        except (OSError, http.client.HTTPException):
            failures += 1
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=10)
            continue
        latencies.append((time.perf_counter() - start) * 1000)
    connection.close()
    return latencies, failures


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- the WebSocket clients (run with --clients in their own process) ---------------------------


async def hold_sockets(port: int, count: int, seconds: float, connect_timeout: float) -> None:
    """Open `count` sockets, report, keep each echoing a message a second, report again."""
    from websockets.asyncio.client import connect

    url = f"ws://{HOST}:{port}/ws"
    opened: list[Any] = []
    errors: dict[str, int] = {}
    gate = asyncio.Semaphore(100)

    async def open_one() -> None:
        async with gate:
            try:
                opened.append(await asyncio.wait_for(connect(url, ping_interval=None),
                                                     connect_timeout))
            except Exception as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1

    started = time.monotonic()
    await asyncio.gather(*(open_one() for _ in range(count)))
    echoes = 0
    running = True

    async def chat(socket: Any) -> None:
        nonlocal echoes
        await asyncio.sleep(random.random())  # spread the sends over the second
        number = 0
        while running:
            number += 1
            try:
                await socket.send(f"message {number}")
                await asyncio.wait_for(socket.recv(), 10)
                echoes += 1
            except Exception as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
                return
            await asyncio.sleep(1.0)

    tasks = [asyncio.create_task(chat(socket)) for socket in opened]
    print(json.dumps({"opened": len(opened), "open_s": time.monotonic() - started,
                      "errors": errors}), flush=True)
    await asyncio.sleep(seconds + 2)  # the plain client runs meanwhile
    running = False
    await asyncio.gather(*tasks, return_exceptions=True)
    for socket in opened:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(socket.close(), 2)
    print(json.dumps({"echoes": echoes, "errors": errors}), flush=True)


# -- the run ---------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    procs.raise_nofile()
    if args.serve:
        serve(args.serve, args.threads)
        return
    if args.clients:
        asyncio.run(hold_sockets(args.clients, args.sockets, args.seconds, args.connect_timeout))
        return

    port = procs.free_port()
    env = procs.bench_env()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port),
                               "--threads", str(args.threads)], env=env)
    try:
        deadline = time.monotonic() + 30
        while procs.http_probe(port, "/hello") != 200:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        result: dict[str, Any] = {"sockets": args.sockets, "threads": args.threads,
                                  "seconds": args.seconds}
        result["rss_before_mib"] = procs.rss_kib(server.pid) / 1024
        baseline, failed = plain_latencies(port, args.seconds)
        result.update(p50_ms_alone=percentile(baseline, 0.5),
                      p99_ms_alone=percentile(baseline, 0.99), failures_alone=failed)

        clients = subprocess.Popen(
            [sys.executable, __file__, "--clients", str(port), "--sockets", str(args.sockets),
             "--seconds", str(args.seconds), "--connect-timeout", str(args.connect_timeout)],
            env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert clients.stdout is not None
            opened = json.loads(clients.stdout.readline() or "{}")
            result.update(opened=opened.get("opened", 0), open_s=opened.get("open_s"),
                          open_errors=opened.get("errors"))
            loaded: list[float] = []
            sampler = threading.Thread(target=lambda: loaded.extend(
                plain_latencies(port, args.seconds)[0]))
            sampler.start()
            sampler.join()
            result["rss_with_sockets_mib"] = procs.rss_kib(server.pid) / 1024
            result.update(p50_ms_with_sockets=percentile(loaded, 0.5),
                          p99_ms_with_sockets=percentile(loaded, 0.99))
            result["p99_ratio"] = result["p99_ms_with_sockets"] / result["p99_ms_alone"]
            done = json.loads(clients.stdout.readline() or "{}")
            result.update(echoes=done.get("echoes", 0), errors=done.get("errors"))
            result["ok"] = result["opened"] == args.sockets and not result["errors"]
        finally:
            try:
                clients.wait(timeout=args.seconds + 30)
            except subprocess.TimeoutExpired:
                clients.kill()
        print(json.dumps(result), flush=True)  # one line: bench/run.py reads the last
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
