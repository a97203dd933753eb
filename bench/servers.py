"""How each server under test is launched, and what was changed from its defaults (and why).

Two registries: ``APP_SERVERS`` serve the hello-world/upload apps; ``FILE_SERVERS`` serve a
directory for the static-file scenario. ``--servers`` names the peers to run; webpy's servers
always run (they are the subject) unless one of them is named. A file server runs when its
``family`` (the app server it belongs to) runs; references (nginx, the bare sendfile loop) always
run, since they are the yardstick rather than contestants.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bench.procs import HOST, OUT, REPO, bench_env

PY = sys.executable
WEBPY_APP = "bench.apps.webpy_app:routes"
WEBPY_ASYNC_APP = "bench.apps.webpy_async_app:routes"
# WARNING silences the per-request access log, as the peers run with theirs off.
WEBPY_FLAGS = "--bind {host} --port {port} --log-level WARNING"


def dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Server:
    """A server configuration: ``argv(port, directory)`` builds its command line."""

    name: str
    argv: Callable[[int, Path], list[str]]
    package: str
    description: str
    notes: tuple[str, ...] = ()
    upload: bool = True
    family: str = ""
    reference: bool = False
    needs: tuple[str, ...] = field(default=())  # executables that must be on PATH


# Raised like the peers' limits, so the idle scenario's 10,000 held connections plus the active
# client fit and outlive the measurement. Passed only if webpy's CLI offers the flag.
WEBPY_OPTIONAL_FLAGS = {"--max-connections": "20000", "--keepalive-timeout": "300"}


@functools.cache
def webpy_cli_flags() -> frozenset[str]:
    """The long options ``python -m webpy --help`` lists (empty if it does not run)."""
    try:
        proc = subprocess.run(
            [PY, "-m", "webpy", "--help"],
            cwd=REPO,
            env=bench_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(re.findall(r"(--[a-z][a-z0-9-]*)", proc.stdout))


def webpy_limit_flags() -> list[str]:
    supported = webpy_cli_flags()
    return [
        arg
        for flag, value in WEBPY_OPTIONAL_FLAGS.items()
        if flag in supported
        for arg in (flag, value)
    ]


def webpy_limit_notes() -> list[str]:
    """Say which limits were raised and which could not be (the CLI lacks the flag)."""
    supported = webpy_cli_flags()
    raised = [f"{f} {v}" for f, v in WEBPY_OPTIONAL_FLAGS.items() if f in supported]
    missing = [f for f in WEBPY_OPTIONAL_FLAGS if f not in supported]
    notes = []
    if raised:
        notes.append("limits raised like the peers': " + ", ".join(raised))
    if missing:
        notes.append(
            "webpy's CLI has no " + " or ".join(missing) + ", so its defaults applied "
            "(they decide whether 10,000 idle connections fit and stay open)"
        )
    return notes


def _python(args: str) -> Callable[[int, Path], list[str]]:
    """A Python command line; ``{host}``, ``{port}`` and ``{dir}`` are filled in per launch."""

    def argv(port: int, directory: Path) -> list[str]:
        # Split before filling in, so a directory with spaces stays one argument.
        argv = [PY, *(a.format(host=HOST, port=port, dir=directory) for a in args.split())]
        if argv[1:3] == ["-m", "webpy"]:
            argv += webpy_limit_flags()
        return argv

    return argv


HYPERCORN_NOTES = (
    "-w 0 so it serves in one process like the others (-w 1 adds a supervising parent "
    "process); backlog raised from 100 to 2048; keep-alive timeout from 5 s to 300 s",
)

APP_SERVERS: dict[str, Server] = {
    s.name: s
    for s in [
        Server(
            "webpy-threaded",
            _python(f"-m webpy --app {WEBPY_APP} {WEBPY_FLAGS} --transport threaded"),
            "webpy",
            "webpy, threaded transport, default thread count",
        ),
        Server(
            "webpy-trio",
            _python(f"-m webpy --app {WEBPY_ASYNC_APP} {WEBPY_FLAGS} --transport trio"),
            "webpy",
            "webpy, trio transport, async def handlers (plain ones would hop to a thread)",
        ),
        Server(
            "waitress",
            _python(
                "-m waitress --listen={host}:{port} --threads=4 --connection-limit=11000 "
                "--backlog=2048 bench.apps.wsgi_app:app"
            ),
            "waitress",
            "waitress, 4 threads (its default), WSGI app",
            (
                "connection_limit raised from 100 to 11000 and backlog from 1024 to 2048: by "
                "default waitress serves at most 100 connections, so 256 would queue",
            ),
        ),
        Server(
            "cheroot",
            _python("-m bench.apps.cheroot_server --bind {host} --port {port}"),
            "cheroot",
            "cheroot, 10 threads (its default), WSGI app",
            (
                "request_queue_size (listen backlog) raised from 5 to 2048; idle timeout from 10 s "
                "to 300 s and keep_alive_conn_limit from 10 to 11000 (by default it closes idle "
                "keep-alive connections beyond 10) so held connections survive the idle scenario",
            ),
        ),
        Server(
            "uvicorn",
            _python(
                "-m uvicorn bench.apps.asgi_app:app --host {host} --port {port} --http h11 "
                "--loop asyncio --no-access-log --workers 1 --log-level warning "
                "--timeout-keep-alive 300"
            ),
            "uvicorn",
            "uvicorn --http h11 --loop asyncio, one worker (in-process), raw ASGI app",
            (
                "keep-alive timeout raised from 5 s to 300 s so held connections survive the idle "
                "scenario; backlog 2048 is its default",
            ),
        ),
        Server(
            "hypercorn-trio",
            _python(
                "-m hypercorn -k trio -b {host}:{port} -w 0 --backlog 2048 --keep-alive 300 "
                "bench.apps.asgi_app:app"
            ),
            "hypercorn",
            "hypercorn -k trio -w 0 (serves in the main process), raw ASGI app",
            HYPERCORN_NOTES,
        ),
        Server(
            "hypercorn-asyncio",
            _python(
                "-m hypercorn -k asyncio -b {host}:{port} -w 0 --backlog 2048 "
                "--keep-alive 300 bench.apps.asgi_app:app"
            ),
            "hypercorn",
            "hypercorn -k asyncio -w 0 (serves in the main process), raw ASGI app",
            HYPERCORN_NOTES,
        ),
        Server(
            "stdlib",
            _python("-m bench.apps.stdlib_app --bind {host} --port {port}"),
            "python",
            "http.server.ThreadingHTTPServer (thread per connection)",
            (
                "protocol_version set to HTTP/1.1 and TCP_NODELAY set (via the handler subclass) "
                "so it is not crippled by Nagle + delayed ACK (~320 req/s without it); listen "
                "backlog raised from 5 to 1024; request logging off; answers Connection: close "
                "with Connection: close",
            ),
        ),
    ]
}


KV_SERVERS: dict[str, Server] = {
    s.name: s
    for s in [
        Server(
            "webpy-threaded-kv",
            _python(f"-m webpy --app bench.apps.kv_webpy:routes {WEBPY_FLAGS} "
                    "--transport threaded"),
            "webpy",
            "webpy, threaded transport, handlers returning dicts (sent as JSON)",
        ),
        Server(
            "flask-waitress",
            _python(
                "-m waitress --listen={host}:{port} --threads=4 --connection-limit=11000 "
                "--backlog=2048 bench.apps.kv_flask:app"
            ),
            "flask",
            "Flask on waitress (4 threads)",
        ),
        Server(
            "fastapi-uvicorn",
            _python(
                "-m uvicorn bench.apps.kv_fastapi:app --host {host} --port {port} --http h11 "
                "--loop asyncio --no-access-log --workers 1 --log-level warning"
            ),
            "fastapi",
            "FastAPI on uvicorn --http h11, one worker, async def endpoints",
        ),
        Server(
            "falcon-waitress",
            _python(
                "-m waitress --listen={host}:{port} --threads=4 --connection-limit=11000 "
                "--backlog=2048 bench.apps.kv_falcon:app"
            ),
            "falcon",
            "falcon on waitress (4 threads)",
        ),
    ]
}


INTEROP_SERVERS: dict[str, Server] = {
    s.name: s
    for s in [
        Server(
            "webpy-wsgi",
            _python(f"-m webpy --wsgi bench.apps.wsgi_app:app {WEBPY_FLAGS} "
                    "--transport threaded"),
            "webpy",
            "webpy, threaded transport, hosting the WSGI hello app (--wsgi)",
        ),
        APP_SERVERS["waitress"],
        APP_SERVERS["cheroot"],
        Server(
            "gunicorn-gthread",
            _python("-m gunicorn -k gthread --threads 4 -w 1 -b {host}:{port} "
                    "--backlog 2048 bench.apps.wsgi_app:app"),
            "gunicorn",
            "gunicorn -k gthread, one worker of 4 threads, WSGI app",
        ),
        Server(
            "webpy-asgi",
            _python(f"-m webpy --asgi bench.apps.asgi_app:app {WEBPY_FLAGS} "
                    "--transport trio"),
            "webpy",
            "webpy, trio transport, hosting the ASGI hello app (--asgi)",
        ),
        APP_SERVERS["hypercorn-trio"],
        APP_SERVERS["uvicorn"],
    ]
}


def select_interop_servers(names: list[str] | None) -> list[Server]:
    """The servers of the hosted-app comparison: all, or those named (webpy's always)."""
    return [s for s in INTEROP_SERVERS.values()
            if not names or s.name in names or s.package == "webpy"]


def select_kv_servers(names: list[str] | None) -> list[Server]:
    """The key-value API servers: all, or those named (webpy's always, as the subject)."""
    return [s for s in KV_SERVERS.values()
            if not names or s.name in names or s.package == "webpy"]


def nginx_path() -> str | None:
    """nginx lives in /usr/sbin, which is not on every user's PATH."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_config(port: int, directory: Path) -> Path:
    """Write a loopback-only nginx config that runs in the foreground as the invoking user.

    ``master_process off`` keeps a single process (no privilege switch, so the files need no extra
    permissions, and RSS is one process); ``sendfile on`` is what makes nginx the file-serving
    reference.
    """
    root = OUT / "nginx"
    tmp = root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    types {{ text/css css; text/plain txt; }}
    gzip on;
    gzip_static on;
    gzip_types text/css;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {HOST}:{port};
        root {directory};
    }}
}}
"""
    )
    return conf


def _nginx_argv(port: int, directory: Path) -> list[str]:
    conf = nginx_config(port, directory)
    return [nginx_path() or "nginx", "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"]


FILE_SERVERS: dict[str, Server] = {
    s.name: s
    for s in [
        Server(
            "webpy-static",
            _python(f"-m webpy {{dir}} {WEBPY_FLAGS} --transport threaded"),
            "webpy",
            "python -m webpy DIR, threaded transport",
            family="webpy-threaded",
        ),
        Server(
            "webpy-trio-static",
            _python(f"-m webpy {{dir}} {WEBPY_FLAGS} --transport trio"),
            "webpy",
            "python -m webpy DIR, trio transport",
            family="webpy-trio",
        ),
        Server(
            "nginx",
            _nginx_argv,
            "nginx",
            "nginx, one worker, sendfile on (reference)",
            ("single process (master_process off), access log off",),
            reference=True,
            needs=("nginx",),
        ),
        Server(
            "http.server",
            _python("-m http.server --bind {host} --directory {dir} {port}"),
            "python",
            "python -m http.server (HTTP/1.0, a connection per file, copies via read/write)",
            family="stdlib",
        ),
        Server(
            "sendfile-loop",
            _python("-m bench.apps.sendfile_server {dir} --bind {host} --port {port}"),
            "python",
            "bare Python socket.sendfile loop, thread per connection (reference)",
            reference=True,
        ),
    ]
}


def select_app_servers(names: list[str] | None) -> list[Server]:
    """The app servers to run. webpy is the subject, so its servers always run unless
    ``names`` names one of them; peers run only when named (all run when ``names`` is empty)."""
    if not names:
        return list(APP_SERVERS.values())
    named_webpy = any(APP_SERVERS[n].package == "webpy" for n in names if n in APP_SERVERS)
    return [
        s
        for s in APP_SERVERS.values()
        if s.name in names or (s.package == "webpy" and not named_webpy)
    ]


def select_file_servers(names: list[str] | None) -> list[Server]:
    """File servers whose family (app server) runs, plus the references, which always run."""
    if not names:
        return list(FILE_SERVERS.values())
    families = {s.name for s in select_app_servers(names)} | set(names)
    return [
        s for s in FILE_SERVERS.values() if s.reference or s.name in names or s.family in families
    ]


def known_server_names() -> list[str]:
    return [*APP_SERVERS, *FILE_SERVERS, *KV_SERVERS, *INTEROP_SERVERS]
