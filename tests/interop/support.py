"""Servers for the interop tests: webpy's own transports, and third-party servers as subprocesses.

`served(routes, transport)` runs routes on the threaded server or on trio
(in a thread of its own, under `trio.run`) on a free loopback port and
yields the base URL once the server reports it is ready. `external_server`
starts gunicorn, waitress, uvicorn or hypercorn as a subprocess and waits,
within a deadline, until its port accepts connections.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import trio
from harness_trio import running_in_thread

import webpy
from webpy.transports.trio import serve, url

#: Turns a hang into a failure; never a measure of speed.
TIMEOUT = 10.0
TRANSPORTS = ("threaded", "trio")
HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def served(routes: Any, transport: str, *, ssl_context: ssl.SSLContext | None = None,
           **options: Any) -> Iterator[str]:
    """Serve `routes` on 127.0.0.1 with `transport`; yield the base URL (ending in '/')."""
    if transport == "threaded":
        server = webpy.HTTPServer(("127.0.0.1", 0), routes, ssl_context=ssl_context, threads=8,
                                  **options)
        server.start()
        try:
            yield server.url
        finally:
            server.stop(timeout=1)
        return

    async def start(task_status: trio.TaskStatus[Any]) -> None:
        await serve(routes, "127.0.0.1", 0, ssl_context=ssl_context, grace_period=1.0,
                    task_status=task_status, **options)

    scheme = "https" if ssl_context else "http"
    with running_trio(start) as addresses:
        yield url(addresses[0], scheme)


@contextlib.contextmanager
def running_trio(start: Callable[..., Awaitable[Any]]) -> Iterator[Any]:
    """``await nursery.start(start)`` under `trio.run` in a thread; cancelled on exit."""
    with running_in_thread(start) as (started, _):
        yield started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def external_server(command: list[str], port: int, env: dict[str, str] | None = None
                    ) -> Iterator[str]:
    """Run `command` (a server listening on 127.0.0.1:`port`); yield its base URL.

    Ready once the port accepts a connection (polled, within `TIMEOUT`);
    stopped with SIGTERM, then killed if it lingers. Its output is shown
    if it fails to start.
    """
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]),
                       **(env or {}))
    process = subprocess.Popen(command, cwd=HERE, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{command[0]} did not listen on {port}") from None
                time.sleep(0.05)  # polling a port for readiness, bounded by the deadline
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
