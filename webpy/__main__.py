"""``python -m webpy``: serve a directory, or an application's routes.

    python -m webpy                      # the current directory on localhost:8000
    python -m webpy 9000                 # the current directory on port 9000
    python -m webpy site/ -p 9000        # another directory
    python -m webpy --app myapp:routes   # a module's routes (and its error_routes)

Theory of operation
-------------------
Three steps, each its own function: parse the arguments (`build_parser`,
one ``_add_*_options`` function per group of options, so a new group is one
more function in `OPTION_GROUPS`), turn them into what to serve and how
(`_check_options`, `_load_served`, `_ssl_context`), then serve until a
signal (`_serve_threaded`, `_serve_trio`).

Every mistake a user can make on the command line, or in the module
``--app`` names, ends as one `UsageError` line on stderr and exit status 2
(as argparse, uvicorn and gunicorn do): a traceback is for bugs in webpy or
in the application, never for a typo. Values are checked where they are
parsed, so ``--threads 0`` never reaches a server.

The command line owns SIGINT and SIGTERM while it runs: the first stops the
server gracefully (requests in flight get ``--grace-period`` seconds) and
says so in one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import ssl
import sys
import sysconfig
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote

from . import __version__

#: Where the package can be installed from, for messages that suggest an install.
TRIO_INSTALL = "pip install trio (or, from a webpy checkout, pip install '.[trio]')"


class UsageError(Exception):
    """A mistake in the command line or the application it names: one line, exit status 2."""


@dataclass(frozen=True, slots=True)
class Served:
    """What the command line serves: the routes, and how to name them in the banner."""

    routes: Any
    error_routes: Any
    description: str
    #: An ASGI application's `webpy.app.asgi.Lifespan`, run around serving (--asgi).
    lifespan: Any = None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 after a clean stop, 2 for a mistake, 130 for a Ctrl-C while starting.
    """
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        _check_options(options)
        _check_interop_options(options)
        if options.reload:
            return _serve_reloading(sys.argv[1:] if argv is None else argv, options)
        _configure_logging(options)
        served = _load_served(options)
        ssl_context = _ssl_context(options)
        if options.transport == "trio" and options.processes < 2:
            return _serve_trio(options, served, ssl_context)
        return _serve_threaded(options, served, ssl_context)
    except UsageError as error:
        print(f"webpy: error: {error}", file=sys.stderr, flush=True)
        return 2
    except _LifespanFailure as error:  # the ASGI application refused to start (or stop)
        print(f"webpy: error: {error}", file=sys.stderr, flush=True)
        return 3
    except KeyboardInterrupt:  # Ctrl-C while starting (importing the app), before serving
        print("webpy: interrupted while starting", file=sys.stderr, flush=True)
        return 130


# -- arguments ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: every group of `OPTION_GROUPS`, in order."""
    parser = _Parser(
        prog="webpy",
        description="Serve a directory, or an application's routes, over HTTP/1.1.",
        epilog="Ctrl-C or SIGTERM stops the server gracefully.")
    for add_options in OPTION_GROUPS:
        add_options(parser)
    parser.add_argument("--version", action="version", version=f"webpy {__version__}",
                        help="print the version and exit")
    return parser


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("what to serve")
    group.add_argument(
        "target", nargs="?", metavar="DIR|PORT",
        help="directory to serve when no --app is given (default: .), with listings for "
             "directories without an index.html; dotfiles are not served. A number that "
             "is not a directory's name is the port, as for python -m http.server")
    group.add_argument("-d", "--directory", metavar="DIR",
                       help="directory to serve (the same as giving it as DIR)")
    group.add_argument("--app", metavar="MODULE:ROUTES",
                       help="serve the routes dict ROUTES (default: routes) of MODULE, and "
                            "its error_routes if it has some; MODULE is a module name "
                            "importable from the current directory (myapp, pkg.app) or a "
                            "file path (./myapp.py)")
    group.add_argument("--upload", action="store_true",
                       help="let PUT create or replace and DELETE remove files in the "
                            "served directory (off by default)")


def _add_files_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("serving a directory")
    group.add_argument("--no-compress", dest="compress", action="store_false",
                       help="send text files (HTML, CSS, JS, JSON, SVG, text) as they are; by "
                            "default they are compressed (brotli or gzip) for clients that "
                            "accept it. Precompressed NAME.br and NAME.gz files are served "
                            "either way")
    group.add_argument("--cache-control", nargs=2, action="append", default=[],
                       metavar=("PATTERN", "VALUE"),
                       help="send Cache-Control: VALUE for paths the regular expression "
                            "PATTERN is found in; repeat for more rules, the first match wins "
                            "(e.g. --cache-control '[.]html$' no-cache). Paths no rule "
                            "matches get no-cache: clients revalidate, with a cheap 304")


def _add_address_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where to listen")
    group.add_argument("-b", "--bind", default="localhost", metavar="ADDRESS",
                       help="address to listen on: a host name, an IPv4 or IPv6 address, "
                            "or 0.0.0.0 for every interface (default: localhost)")
    group.add_argument("-p", "--port", type=_integer_in(0, 65535, "a port number"),
                       metavar="PORT", help="port to listen on; 0 picks a free one "
                                            "(default: 8000)")


def _add_tls_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("HTTPS")
    group.add_argument("--cert", "--ssl-certfile", metavar="FILE",
                       help="TLS certificate chain file (PEM); serves HTTPS")
    group.add_argument("--key", "--ssl-keyfile", metavar="FILE",
                       help="TLS private key file (PEM), if the --cert file does not hold it")


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--transport", choices=("threaded", "trio"), default="threaded",
                       help="threaded: an epoll loop over a thread pool (default); trio: "
                            "async def handlers on trio (needs trio installed)")
    group.add_argument("-t", "--threads", type=_integer_in(1, 10_000, "a thread count"),
                       default=8, metavar="N",
                       help="handler threads (threaded), or the most worker threads for "
                            "plain handlers (trio) (default: 8)")
    group.add_argument("-w", "--processes", "--workers", dest="processes", metavar="N",
                       type=_integer_in(1, 1024, "a process count"), default=1,
                       help="worker processes on the port (on Linux, each with its own "
                            "SO_REUSEPORT socket), each serving with --transport; "
                            "each has its own copy of the application's module state. "
                            "SIGHUP replaces them one at a time with the code now on "
                            "disk, losing no request "
                            "(default: 1)")
    group.add_argument("--max-requests", type=_integer_in(0, 2**31 - 1, "a count"), default=0,
                       metavar="N",
                       help="replace a worker process once it has served N requests, the "
                            "way SIGHUP replaces them all: the new one accepts before the old "
                            "one finishes (default: 0, never)")
    group.add_argument("--max-requests-jitter", type=_integer_in(0, 2**31 - 1, "a count"),
                       default=0, metavar="N",
                       help="add up to N (random, per worker) to --max-requests, so workers "
                            "are not all replaced at once (default: 0)")
    group.add_argument("--max-connections", type=_integer_in(1, 10_000_000, "a count"),
                       default=None, metavar="N",
                       help="open connections beyond which clients get 503 (default: what "
                            "the open-file limit allows, less 5%%)")
    group.add_argument("--locks", metavar="BACKEND",
                       help="order requests per resource across processes or servers: "
                            "'file' (a lock file, automatic with --processes), a lock file's "
                            "path shared by servers on this machine, or a postgresql:// URL "
                            "shared by servers anywhere (needs webpy[postgres])")
    group.add_argument("--keepalive-timeout", type=_seconds(positive=True), metavar="SECONDS",
                       help="close idle keep-alive connections after this long (default: 5)")
    group.add_argument("--grace-period", type=_seconds(positive=False), default=5.0,
                       metavar="SECONDS",
                       help="on Ctrl-C or SIGTERM, how long requests in flight may take to "
                            "finish before their connections are closed (default: 5)")


def _add_logging_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logging")
    group.add_argument("--log-level", type=str.lower, default="info",
                       choices=("debug", "info", "warning", "error"),
                       help="least severe messages shown; info shows one Common Log Format "
                            "line per request (default: info)")
    group.add_argument("--access-log", metavar="FILE|-",
                       help="write the access log (one line per response) to FILE, or to "
                            "stdout with -, whatever --log-level says; SIGUSR1 reopens FILE "
                            "(for logrotate). Default: with the other messages, on stderr")
    group.add_argument("--access-log-format", metavar="FORMAT", default="common",
                       help="common, combined, json (one JSON object per line) or a "
                            "template of {fields}: client, upstream (the proxy in front), "
                            "user, time, request, method, target, status, size, referer, "
                            "user_agent, request_id (X-Request-ID or a new one), "
                            "duration_us (default: common)")


def _add_deployment_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("behind a proxy, on listeners made elsewhere")
    group.add_argument("--uds", metavar="PATH",
                       help="listen on a unix domain socket at PATH instead of --bind and "
                            "--port; a socket file left there by a server that is gone is "
                            "replaced, one a server listens on is an error")
    group.add_argument("--uds-mode", type=_file_mode, metavar="MODE",
                       help="permissions of the --uds socket file, in octal, e.g. 660 (default: "
                            "what the umask leaves)")
    group.add_argument("--fd", type=_integer_in(0, 2**31 - 1, "a file descriptor"),
                       action="append", metavar="N",
                       help="serve the listening socket inherited as file descriptor N "
                            "(repeatable). Sockets passed by systemd socket activation "
                            "(LISTEN_FDS) are served without this option")
    group.add_argument("--forwarded-allow", metavar="ADDRESSES",
                       help="comma-separated addresses and networks of the proxies in front "
                            "(127.0.0.1,10.0.0.0/8; unix for proxies on a unix socket; * for "
                            "any peer): requests from them take their client, scheme and host "
                            "from the forwarding headers (default: none, headers ignored)")
    group.add_argument("--forwarded-header", choices=("x-forwarded", "forwarded"),
                       default="x-forwarded",
                       help="which headers those proxies set: X-Forwarded-For, -Proto and "
                            "-Host, or RFC 7239 Forwarded (default: x-forwarded)")
    group.add_argument("--reload", action="store_true",
                       help="development: serve again when the application's files change "
                            "(watchfiles if installed, pip install 'webpy[reload]'); a syntax "
                            "error is printed and the running server kept")
    group.add_argument("--reload-include", action="append", default=[], metavar="PATTERN",
                       help="file names or paths to watch with --reload (repeatable; default "
                            "*.py)")
    group.add_argument("--reload-exclude", action="append", default=[], metavar="PATTERN",
                       help="file names or paths not to watch with --reload (repeatable)")
    group.add_argument("--proxy-protocol", action="store_true",
                       help="every connection starts with a PROXY protocol v1 or v2 header "
                            "(HAProxy's send-proxy, cloud load balancers), which gives the "
                            "client's address; connections without one are closed")


def _add_interop_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("WSGI and ASGI applications")
    group.add_argument("--wsgi", metavar="MODULE:APP",
                       help="serve the WSGI application APP (default: application) of MODULE "
                            "at /, on either transport")
    group.add_argument("--asgi", metavar="MODULE:APP",
                       help="serve the ASGI application APP (default: app) of MODULE at /, "
                            "on trio, with its lifespan start-up and shut-down")


#: The option groups, in --help order. A new group is one more function here.
OPTION_GROUPS: list[Callable[[argparse.ArgumentParser], None]] = [
    _add_source_options,
    _add_interop_options,
    _add_files_options,
    _add_address_options,
    _add_tls_options,
    _add_server_options,
    _add_deployment_options,
    _add_logging_options,
]


def _integer_in(low: int, high: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not {what} (from {low} to {high})")
        return value

    return parse


def _file_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal file mode") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"{text} is not a file mode (from 000 to 777)")
    return mode


def _seconds(*, positive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not (value > 0 if positive else value >= 0) or value == float("inf"):
            bound = "more than 0" if positive else "0 or more"
            raise argparse.ArgumentTypeError(f"{text} seconds: must be {bound} and finite")
        return value

    return parse


def _check_options(options: argparse.Namespace) -> None:
    """Settle the positional DIR|PORT, and refuse combinations that make no sense."""
    target = options.target
    if target is not None and target.isdigit() and not os.path.isdir(target):
        if options.port is not None:
            raise UsageError(f"the port is given twice: {target} and --port {options.port}")
        options.port = _integer_in(0, 65535, "a port number")(target)
        target = None
    if target is not None and options.directory is not None:
        raise UsageError(f"the directory is given twice: {target} and --directory "
                         f"{options.directory}")
    options.directory = options.directory or target or "."
    if options.port is None:
        options.port = 8000
    if options.app and (options.directory != "." or options.upload or options.cache_control
                        or not options.compress):
        culprit = ("--upload" if options.upload else "--cache-control" if options.cache_control
                   else "--no-compress" if not options.compress
                   else f"directory {options.directory}")
        raise UsageError(f"{culprit} has no meaning with --app, which serves its routes only")
    if options.key and not options.cert:
        raise UsageError("--key needs --cert (the certificate chain to go with the key)")
    if (options.max_requests or options.max_requests_jitter) and options.processes < 2:
        raise UsageError("--max-requests needs --processes 2 or more (a worker is replaced "
                         "by a new one while the others serve)")
    if options.uds_mode is not None and not options.uds:
        raise UsageError("--uds-mode needs --uds (the socket file it applies to)")


def _configure_logging(options: argparse.Namespace) -> None:
    # With several processes, each line says which worker wrote it.
    prefix = "[%(process)d] " if options.processes > 1 else ""
    logging.basicConfig(level=getattr(logging, options.log_level.upper()),
                        format=prefix + "%(message)s", stream=sys.stderr)
    from .transports.access_log import AccessFormatter, ReopeningFileHandler

    try:
        formatter = AccessFormatter(options.access_log_format)
    except ValueError as error:
        raise UsageError(f"--access-log-format: {error}") from None
    if options.access_log is None and options.access_log_format == "common":
        return  # the access lines go with the rest, as they always did
    handler: logging.Handler
    if options.access_log in (None, "-"):
        handler = logging.StreamHandler(sys.stdout if options.access_log else sys.stderr)
    else:
        try:
            handler = ReopeningFileHandler(options.access_log)
        except OSError as error:
            raise UsageError(f"--access-log {options.access_log}: "
                             f"{error.strerror or error}") from None
    handler.setFormatter(formatter)
    access = logging.getLogger("webpy.access")
    access.addHandler(handler)
    access.propagate = False
    if options.access_log is not None:  # asked for by name: written whatever --log-level says
        access.setLevel(logging.INFO)


def _reopen_access_log_on_sigusr1(server: Any) -> None:
    """SIGUSR1 reopens the --access-log file, here and in every worker process (logrotate).

    The handler only starts a thread: the reopening takes the log handler's
    lock, which the interrupted main thread may hold.
    """
    from .transports.access_log import reopen_files

    def reopen() -> None:
        if reopen_files(logging.getLogger("webpy.access")):
            logging.getLogger("webpy").info("access log reopened")
        signal_workers = getattr(server, "signal_workers", None)
        if signal_workers is not None:
            signal_workers(signal.SIGUSR1)

    signal.signal(signal.SIGUSR1, lambda signum, frame: threading.Thread(
        target=reopen, name="webpy-reopen-log").start())


# -- what to serve -----------------------------------------------------------------------


def _load_served(options: argparse.Namespace) -> Served:
    served = (_load_app(options.app) if options.app
              else _load_gateway_app(options) if options.wsgi or options.asgi
              else _directory(options))
    from .app.application import Application
    from .app.routing import RouteError

    try:  # compile the tables now: a bad regex or target is one line, not a traceback later
        Application(served.routes, served.error_routes)
    except RouteError as error:
        raise UsageError(f"{served.description}: {error}") from None
    return served


def _application_directory(options: argparse.Namespace) -> str:
    """Where the application's own files are: its file's directory, or the current one."""
    spec = options.app or options.wsgi or options.asgi
    module = spec.partition(":")[0] if spec else ""
    return (os.path.dirname(os.path.abspath(module)) if module.endswith(".py") or "/" in module
            else os.getcwd())


def _reload_served(options: argparse.Namespace, served: Served) -> Served | None:
    """SIGHUP with --processes: the application as its files are now, for the new workers.

    The workers are forked from this process, so without this they would run
    the code it imported at start. Its own modules (Python files loaded from
    under its directory; not webpy, the standard library or installed
    packages, nor compiled extensions, which cannot be loaded twice) are
    forgotten and imported again. If that fails (a syntax error, an exception at import), the error
    is logged, the old modules are put back and None says not to restart:
    the workers go on serving the version they have. A directory is served
    as it is.
    """
    if not (options.app or options.wsgi):
        return served
    root = os.path.join(_application_directory(options), "")
    kept = tuple(os.path.join(path, "") for path in (
        os.path.dirname(os.path.abspath(__file__)),  # webpy
        *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))))
    forgotten = {name: module for name, module in list(sys.modules.items())
                 if (path := getattr(module, "__file__", None)) and path.endswith(".py")
                 and path.startswith(root) and not path.startswith(kept)
                 and "site-packages" not in path and "dist-packages" not in path}
    for name in forgotten:
        del sys.modules[name]
    importlib.invalidate_caches()
    try:
        return _load_served(options)
    except Exception as error:
        sys.modules.update(forgotten)
        logging.getLogger("webpy").error(
            "restart not done: %s; the workers go on serving the application they have",
            error if isinstance(error, UsageError) else f"importing the application failed: "
            f"{type(error).__name__}: {error}")
        return None


def _check_interop_options(options: argparse.Namespace) -> None:
    """--wsgi and --asgi serve one application, as --app does; --asgi needs trio."""
    given = [flag for flag in ("app", "wsgi", "asgi") if getattr(options, flag)]
    if len(given) > 1:
        raise UsageError(f"--{given[0]} and --{given[1]} both name what to serve; give one")
    if (options.wsgi or options.asgi) and (options.directory != "." or options.upload):
        culprit = "--upload" if options.upload else f"directory {options.directory}"
        raise UsageError(f"{culprit} has no meaning with --{given[0]}")
    if options.asgi:
        if options.processes > 1:
            raise UsageError("--processes does not serve --asgi: an ASGI application's "
                             "lifespan runs in one process")
        options.transport = "trio"


def _load_gateway_app(options: argparse.Namespace) -> Served:
    """--wsgi or --asgi: import the application and mount it at /."""
    flag, spec, default = (("--wsgi", options.wsgi, "application") if options.wsgi
                           else ("--asgi", options.asgi, "app"))
    module_part, _, attribute = spec.partition(":")
    if not module_part:
        raise UsageError(f"{flag} {spec}: expected MODULE:APP, e.g. myapp:{default}")
    if module_part.endswith(".py") or os.sep in module_part or "/" in module_part:
        path = os.path.abspath(module_part)
        if not os.path.isfile(path):
            raise UsageError(f"{flag} {spec}: no such file: {module_part}")
        _importable_from(os.path.dirname(path))
        module_part = os.path.basename(path).removesuffix(".py")
    else:
        _importable_from(os.getcwd())
    application: Any = _import(module_part, spec)
    for name in (attribute or default).split("."):
        try:
            application = getattr(application, name)
        except AttributeError:
            raise UsageError(f"{flag} {spec}: module {module_part} has no attribute "
                             f"{attribute or default!r}") from None
    if not callable(application):
        raise UsageError(f"{flag} {spec}: {attribute or default} is {_kind(application)}, "
                         f"not an application")
    if flag == "--wsgi":
        from .app import wsgi

        return Served(wsgi.mount("/", application, multiprocess=options.processes > 1), None,
                      f"WSGI application {spec}")
    from .app import asgi

    lifespan = asgi.Lifespan(application)
    return Served(asgi.mount("/", application, lifespan=lifespan), None,
                  f"ASGI application {spec}", lifespan)


class _LifespanFailure(Exception):
    """An ASGI application's lifespan start-up or shut-down failed: exit status 3."""


async def _with_lifespan(lifespan: Any, serve: Callable[[], Any]) -> None:
    """Run `serve()` inside an ASGI application's lifespan, if there is one."""
    if lifespan is None:
        await serve()
        return
    from .app.asgi import LifespanFailure

    try:
        async with lifespan:
            await serve()
    except LifespanFailure as error:
        raise _LifespanFailure(str(error)) from None


def _directory(options: argparse.Namespace) -> Served:
    from .app import files

    path = os.path.abspath(options.directory)
    if not os.path.isdir(path):
        raise UsageError(f"not a directory: {path}")
    try:
        routes = files.routes(path, "/", listing=True, modify=options.upload,
                              compress=options.compress,
                              cache_control=[*map(tuple, options.cache_control),
                                             ("", "no-cache")])
    except ValueError as error:
        raise UsageError(f"--cache-control: {error}") from None
    return Served(routes, None, path)


def _load_app(spec: str) -> Served:
    """Import ``MODULE:ROUTES`` (or ``path/to/file.py:ROUTES``) and fetch its tables."""
    module_part, _, attribute = spec.rpartition(":") if ":" in spec else (spec, "", "")
    attribute = attribute or "routes"
    if not module_part:
        raise UsageError(f"--app {spec}: expected MODULE:ROUTES, e.g. myapp:routes")
    if module_part.endswith(".py") or "/" in module_part or os.sep in module_part:
        path = os.path.abspath(module_part)
        if not os.path.isfile(path):
            raise UsageError(f"--app {spec}: no such file: {module_part}")
        directory, filename = os.path.split(path)
        module_name = filename.removesuffix(".py")
        _importable_from(directory)
    else:
        module_name = module_part
        _importable_from(os.getcwd())
    module = _import(module_name, spec)
    routes = module
    for name in attribute.split("."):
        try:
            routes = getattr(routes, name)
        except AttributeError:
            raise UsageError(f"--app {spec}: module {module_name} has no attribute "
                             f"{attribute!r}") from None
    if not isinstance(routes, dict):
        raise UsageError(f"--app {spec}: {attribute} is {_kind(routes)}, not a dict "
                         f"{{regex: handler class}}")
    error_routes = getattr(module, "error_routes", None)
    if error_routes is not None and not isinstance(error_routes, dict):
        raise UsageError(f"--app {spec}: {module_name}.error_routes is {_kind(error_routes)}, "
                         f"not a dict {{status regex: error handler class}}")
    return Served(routes, error_routes, spec)


def _importable_from(directory: str) -> None:
    """Put `directory` first on the import path (once: SIGHUP imports again)."""
    if sys.path[:1] != [directory]:
        sys.path.insert(0, directory)


def _import(module_name: str, spec: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except SyntaxError as error:
        where = f"{error.filename}, line {error.lineno}" if error.filename else module_name
        raise UsageError(f"--app {spec}: syntax error in {where}: {error.msg}") from None
    except ModuleNotFoundError as error:
        if error.name is not None and (module_name + ".").startswith(error.name + "."):
            raise UsageError(
                f"--app {spec}: no module named {error.name!r} in {os.getcwd()} (give "
                f"MODULE:ROUTES with MODULE importable from here, or a file: "
                f"path/to/app.py:routes)") from None
        raise UsageError(f"--app {spec}: importing {module_name} failed: {error}") from None


def _kind(value: Any) -> str:
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def _ssl_context(options: argparse.Namespace) -> ssl.SSLContext | None:
    if not options.cert:
        return None
    for flag, path in (("--cert", options.cert), ("--key", options.key)):
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            raise UsageError(f"{flag} {path}: {error.strerror or error}") from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(options.cert, options.key)
    except (ssl.SSLError, ValueError) as error:
        files = options.cert + (f" and --key {options.key}" if options.key else "")
        reason = getattr(error, "reason", None) or str(error)
        raise UsageError(f"--cert {files}: not a PEM certificate chain and its private key "
                         f"({reason})") from None
    return context


# -- serving -----------------------------------------------------------------------------


class _StopSignals:
    """SIGINT and SIGTERM for the command line: the first one asks the server to stop.

    The handler only writes the signal's number to a pipe, which the main
    thread reads: nothing else runs inside the handler, so it cannot
    interrupt the main thread while it holds a lock it would need.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, extra: tuple[int, ...] = ()) -> None:
        self._read, self._write = os.pipe()
        self._previous = {signum: signal.signal(signum, self._handle)
                          for signum in (*self.SIGNALS, *extra)}

    def _handle(self, signum: int, frame: object) -> None:
        os.write(self._write, bytes([signum]))

    def wait(self) -> int:
        """Block until a signal comes; its number."""
        return os.read(self._read, 1)[0]

    def close(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self._read)
        os.close(self._write)


def _timeouts(options: argparse.Namespace) -> dict[str, Any]:
    """The timeouts given on the command line; the others keep the server's defaults."""
    given = {"keepalive_timeout": options.keepalive_timeout}
    return {name: value for name, value in given.items() if value is not None}


def _deployment(options: argparse.Namespace) -> dict[str, Any]:
    """The servers' options for listeners made here or elsewhere, and for the proxies in front.

    Listening sockets come from systemd (when it passed some to this process),
    ``--fd`` and ``--uds``; with none, the server binds --bind and --port.
    """
    from .protocol.forwarded import TrustedProxies
    from .transports import listeners

    given: dict[str, Any] = {"proxy_protocol": options.proxy_protocol}
    if options.locks:
        given["locks"] = _locks(options.locks)
    if options.forwarded_allow:
        try:
            TrustedProxies(options.forwarded_allow)
        except ValueError as error:
            raise UsageError(f"--forwarded-allow: {error}") from None
        given["forwarded_allow"] = options.forwarded_allow
        given["forwarded_header"] = options.forwarded_header
    sockets = listeners.systemd()
    for fd in options.fd or ():
        try:
            sockets.append(listeners.inherited(fd))
        except OSError as error:
            raise UsageError(f"--fd {fd}: {error.strerror or error}") from None
    if options.uds:
        try:
            sockets.append(listeners.unix(options.uds, mode=options.uds_mode))
        except OSError as error:
            raise UsageError(f"cannot listen on {options.uds}: "
                             f"{error.strerror or error}") from None
    if sockets:
        given["sockets"] = sockets
    return given


def _locks(backend: str) -> Any:
    """The lock table `--locks` names: a lock file, or PostgreSQL advisory locks."""
    if backend.startswith(("postgresql://", "postgres://")):
        try:
            from .app.locks_postgres import PostgresLocks
        except ImportError:
            raise UsageError("--locks postgresql://... needs psycopg: "
                             "pip install 'webpy[postgres]'") from None
        return PostgresLocks(backend)
    from .app.locks_files import FileLocks

    return FileLocks(None if backend == "file" else backend)


def _listen_error(options: argparse.Namespace, error: OSError) -> UsageError:
    host = f"[{options.bind}]" if ":" in options.bind else options.bind
    if isinstance(error, socket.gaierror) or not error.errno:  # a name that does not resolve
        reason = error.strerror or str(error)
    else:  # the system's words: trio adds the address to strerror, named here already
        reason = os.strerror(error.errno)
    return UsageError(f"cannot listen on {host}:{options.port}: {reason}")


def _stopping_line(signum: int, grace_period: float) -> str:
    return (f"Stopping on {signal.Signals(signum).name}: requests in flight have "
            f"{grace_period:g} s to finish")


def _serve_threaded(options: argparse.Namespace, served: Served,
                    ssl_context: ssl.SSLContext | None) -> int:
    from .transports.threaded import HTTPServer

    if options.transport == "trio":  # worker processes serving with trio
        _require_trio()
    deployment = _deployment(options)
    address = None if "sockets" in deployment else (options.bind, options.port)
    try:
        server = HTTPServer(address, served.routes, served.error_routes,
                            ssl_context=ssl_context, threads=options.threads,
                            processes=options.processes,
                            max_connections=options.max_connections,
                            max_requests=options.max_requests,
                            max_requests_jitter=options.max_requests_jitter,
                            grace_period=options.grace_period, transport=options.transport,
                            **_timeouts(options), **deployment)
    except OSError as error:
        raise _listen_error(options, error) from None
    # Before start(), so the server leaves signals to us; SIGHUP restarts the workers.
    signals = _StopSignals((signal.SIGHUP,) if options.processes > 1 else ())
    _reopen_access_log_on_sigusr1(server)  # before start(): the workers inherit it
    try:
        server.start()
        print(f"Serving {served.description} on {server.url} (Ctrl-C to stop)", flush=True)
        signum = signals.wait()
        while signum == signal.SIGHUP:
            fresh = _reload_served(options, served)
            if fresh is not None:
                server.restart_workers(fresh.routes, fresh.error_routes)
                served = fresh
            signum = signals.wait()
        print(_stopping_line(signum, options.grace_period), flush=True)
        server.stop(options.grace_period)
    finally:
        if threading.current_thread() is threading.main_thread():
            signals.close()
    return 0


def _serve_reloading(argv: Sequence[str], options: argparse.Namespace) -> int:
    """--reload: this process holds the socket and a child serves it (`webpy.reload`)."""
    from . import reload
    from .transports import listeners

    if options.fd:
        raise UsageError("--reload makes its own listening socket; it cannot take --fd")
    try:
        listener = (listeners.unix(options.uds, mode=options.uds_mode) if options.uds
                    else listeners.tcp(options.bind, options.port))
    except OSError as error:
        raise _listen_error(options, error) from None
    root = _application_directory(options)
    reloader = reload.Reloader(argv, listener)
    signals = _StopSignals()
    stop = threading.Event()
    try:
        if not reloader.start():
            return 2  # the child said why, on stderr
        watched = reload.Watched(root, options.reload_include, options.reload_exclude)
        ready = threading.Event()
        threading.Thread(target=reload.watch, args=(watched, reloader.changed, stop, ready),
                         daemon=True, name="webpy-reload-watch").start()
        ready.wait(10.0)  # watching before we say we serve: no change made after is missed
        print(reloader.banner, flush=True)
        signum = signals.wait()
        print(_stopping_line(signum, options.grace_period), flush=True)
    finally:
        stop.set()
        reloader.stop()
        listener.close()
        signals.close()
    return 0


def _require_trio() -> Any:
    try:
        import trio
    except ImportError:
        raise UsageError(f"--transport trio needs trio, which is not installed: "
                         f"{TRIO_INSTALL}") from None
    return trio


def _serve_trio(options: argparse.Namespace, served: Served,
                ssl_context: ssl.SSLContext | None) -> int:
    trio = _require_trio()
    from .transports import trio as trio_transport
    from .transports.trio_run import serve_until_signalled

    scheme = "https" if ssl_context else "http"
    deployment = _deployment(options)

    def ready(addresses: list[tuple[str, int]]) -> None:
        urls = ", ".join(f"{scheme}+unix://{quote(address[0], safe='')}/"
                         if address[0].startswith("/") else trio_transport.url(address, scheme)
                         for address in addresses)
        print(f"Serving {served.description} on {urls} with trio (Ctrl-C to stop)", flush=True)

    def stopping(signum: int) -> None:
        print(_stopping_line(signum, options.grace_period), flush=True)

    _reopen_access_log_on_sigusr1(None)

    try:
        trio.run(_with_lifespan, served.lifespan, lambda: serve_until_signalled(
            served.routes, options.bind, options.port, error_routes=served.error_routes,
            ssl_context=ssl_context, thread_limit=options.threads,
            max_connections=options.max_connections, grace_period=options.grace_period,
            on_ready=ready, on_signal=stopping, **_timeouts(options), **deployment))
    except OSError as error:
        raise _listen_error(options, error) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
