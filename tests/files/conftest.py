"""A small site on disk, and ways to serve it: in memory, or with the threaded server."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import webpy as web
from webpy.app import files
from webpy.transports.memory import Client

from .support import BINARY, SECRET, ClientFactory


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """tmp_path/site (served) beside tmp_path/outside (must never be reachable).

    site/
      hello.txt, page.html, data.bin, empty.txt, .hidden, .git/config
      sub/index.html, sub/.secret     a directory with an index, and a nested dotfile
      sub/.private/notes.txt          a file inside a nested hidden directory
      link.txt -> sub/.secret, notes.txt -> sub/.private/notes.txt   symlinks to hidden files
      docs/a.txt, docs/B.txt, docs/zeta/    a directory without one
    outside/secret.txt
    """
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "docs" / "zeta").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "hello.txt").write_bytes(b"Hello, world!\n")
    (root / "page.html").write_bytes(b"<!DOCTYPE html><title>page</title>\n")
    (root / "data.bin").write_bytes(BINARY)
    (root / "empty.txt").write_bytes(b"")
    (root / ".hidden").write_bytes(b"hidden\n")
    (root / ".git" / "config").write_bytes(b"[core]\n")
    (root / "sub" / "index.html").write_bytes(b"<p>sub index</p>\n")
    (root / "sub" / ".secret").write_bytes(SECRET)
    (root / "sub" / ".private").mkdir()
    (root / "sub" / ".private" / "notes.txt").write_bytes(SECRET)
    (root / "link.txt").symlink_to(Path("sub") / ".secret")
    (root / "notes.txt").symlink_to(Path("sub") / ".private" / "notes.txt")
    (root / "docs" / "a.txt").write_bytes(b"aaaa")
    (root / "docs" / "B.txt").write_bytes(b"bb")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    return root


@pytest.fixture
def client(site: Path) -> ClientFactory:
    """Build an in-memory client for `site` served at "/" with `files.routes` options."""

    def make(prefix: str = "/", **options: Any) -> Client:
        return Client(files.routes(site, prefix, **options))

    return make


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start a threaded server for some routes on a loopback port; return its base URL."""
    servers: list[web.HTTPServer] = []

    def start(routes: Any, **options: Any) -> str:
        options.setdefault("threads", 4)
        server = web.HTTPServer(("127.0.0.1", 0), routes, **options)
        server.start()
        servers.append(server)
        return server.url.rstrip("/")

    yield start
    for server in servers:
        server.stop(timeout=2)


@pytest.fixture(params=["threaded", "trio"])
def live(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Serve routes over real sockets on each socket transport in turn; return the base URL.

    ``live(routes)`` starts a server (threaded, or trio in a background
    thread) on a free loopback port; every server started is stopped after
    the test.
    """
    from harness import HARNESSES

    with contextlib.ExitStack() as stack:
        def start(routes: Any, **options: Any) -> str:
            server = stack.enter_context(HARNESSES[request.param]().serve(routes, **options))
            host, port = server.address[:2]
            return f"http://{host}:{port}"

        yield start
