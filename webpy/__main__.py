"""``python -m webpy``: serve a directory, or an application's routes.

    python -m webpy                      # the current directory on localhost:8000
    python -m webpy site/ --port 9000    # another directory
    python -m webpy --app myapp:routes   # a module's routes (and its error_routes)
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .protocol import Limits


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, options.log_level), format="%(message)s",
                        stream=sys.stderr)
    routes, error_routes, what = _load_routes(options)
    ssl_context = None
    if options.cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(options.cert, options.key)
    if options.transport == "trio":
        return _run_trio(options, routes, error_routes, ssl_context, what)
    from .transports.threaded import HTTPServer

    server = HTTPServer((options.bind, options.port), routes, error_routes,
                        ssl_context=ssl_context, threads=options.threads,
                        processes=options.processes, max_connections=options.max_connections,
                        keepalive_timeout=options.keepalive_timeout)
    try:
        server.start()  # from here on, Ctrl-C and SIGTERM stop the server cleanly
        print(f"Serving {what} on {server.url} (Ctrl-C to stop)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webpy", description="Serve a directory, or an application's routes, over HTTP/1.1.")
    parser.add_argument("directory", nargs="?", default=".",
                        help="directory to serve when no --app is given, with listings for "
                             "directories without an index.html; dotfiles are not served "
                             "(default: .)")
    parser.add_argument("--app", metavar="MODULE:ROUTES",
                        help="serve the routes dict ROUTES of MODULE (and its error_routes)")
    parser.add_argument("--bind", default="localhost", help="address to listen on (localhost)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    parser.add_argument("--cert", help="TLS certificate chain file (PEM); enables HTTPS")
    parser.add_argument("--key", help="TLS private key file (PEM), if not in --cert")
    parser.add_argument("--threads", type=int, default=8, help="worker threads (8)")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (1)")
    parser.add_argument("--transport", choices=("threaded", "trio"), default="threaded")
    parser.add_argument("--max-connections", type=int, default=10_000, metavar="N",
                        help="open connections beyond which clients get 503 (10000)")
    parser.add_argument("--keepalive-timeout", type=float, default=Limits().keepalive_timeout,
                        metavar="SECONDS", help="close idle keep-alive connections after this "
                        f"long ({Limits().keepalive_timeout:g})")
    parser.add_argument("--upload", action="store_true",
                        help="let PUT create or replace and DELETE remove files in the "
                             "served directory (off by default)")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--version", action="version", version=f"webpy {__version__}")
    return parser


def _load_routes(options: argparse.Namespace) -> tuple[Any, Any, str]:
    if options.app:
        module_name, _, attribute = options.app.partition(":")
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
        return getattr(module, attribute or "routes"), getattr(module, "error_routes", None), \
            options.app
    from .app import files

    directory = os.path.abspath(options.directory)
    if not os.path.isdir(directory):
        raise SystemExit(f"webpy: not a directory: {directory}")
    return files.routes(directory, "/", listing=True, modify=options.upload), None, directory


def _run_trio(options: argparse.Namespace, routes: Any, error_routes: Any,
              ssl_context: ssl.SSLContext | None, what: str) -> int:
    """Serve with trio until Ctrl-C or SIGTERM, either of which stops it gracefully."""
    import functools

    import trio

    from .transports import trio as trio_transport

    if options.processes != 1:
        print("webpy: --processes needs the threaded transport", file=sys.stderr)
        return 2
    scheme = "https" if ssl_context else "http"

    async def serve_until_signalled() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                addresses = await nursery.start(functools.partial(
                    trio_transport.serve, routes, options.bind, options.port,
                    error_routes=error_routes, ssl_context=ssl_context,
                    thread_limit=options.threads, max_connections=options.max_connections,
                    keepalive_timeout=options.keepalive_timeout))
                urls = ", ".join(trio_transport.url(address, scheme) for address in addresses)
                print(f"Serving {what} on {urls} with trio (Ctrl-C to stop)", flush=True)
                async for _ in signals:
                    nursery.cancel_scope.cancel()  # serve's graceful stop
                    break

    try:
        trio.run(serve_until_signalled)
    except KeyboardInterrupt:  # before the signal receiver was open
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
