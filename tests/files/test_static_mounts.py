"""Cache-Control by path pattern, and several mounts in one application, each with its options.

The policy rules in memory; the mounts over real sockets on the threaded
and trio transports, with httpx.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import webpy as web
from webpy.app import files

from .support import ClientFactory

TIMEOUT = 30.0
CSS = b"".join(b".c%d { margin: %dpx; }\n" % (n, n % 50) for n in range(3000))


# -- Cache-Control ---------------------------------------------------------------------


@pytest.fixture
def assets(site: Path) -> Path:
    (site / "js").mkdir()
    (site / "js" / "app.3f2a1c.js").write_bytes(b"let a;\n")
    (site / "js" / "app.js").write_bytes(b"let a;\n")
    (site / "js" / "vendor.5d41402abc4b2a76.css").write_bytes(b"p{}\n")
    return site


POLICY = {files.FINGERPRINTED: files.IMMUTABLE, r"[.]html$": "no-cache",
          "^/js/": "max-age=600"}


@pytest.mark.parametrize(("path", "expected"), [
    ("/js/app.3f2a1c.js", "max-age=31536000, immutable"),
    ("/js/vendor.5d41402abc4b2a76.css", "max-age=31536000, immutable"),
    ("/js/app.js", "max-age=600"),
    ("/page.html", "no-cache"),
    ("/sub/", "no-cache"),  # its index.html
    ("/hello.txt", None),
])
def test_first_matching_rule_gives_cache_control(assets: Path, client: ClientFactory,
                                                 path: str, expected: str | None) -> None:
    response = client(cache_control=POLICY).get(path)
    assert response.status == 200
    assert response.headers.get("Cache-Control") == expected


def test_rules_as_pairs_keep_their_order(assets: Path, client: ClientFactory) -> None:
    served = client(cache_control=[("^/js/", "max-age=600"), (files.FINGERPRINTED, "x")])
    assert served.get("/js/app.3f2a1c.js").headers["Cache-Control"] == "max-age=600"


def test_not_modified_response_carries_cache_control_too(assets: Path,
                                                        client: ClientFactory) -> None:
    served = client(cache_control=POLICY)
    etag = served.get("/js/app.js").headers["ETag"]
    again = served.get("/js/app.js", {"If-None-Match": etag})
    assert (again.status, again.headers["Cache-Control"]) == (304, "max-age=600")


def test_no_cache_control_without_rules(assets: Path, client: ClientFactory) -> None:
    assert "Cache-Control" not in client().get("/js/app.3f2a1c.js").headers


@pytest.mark.parametrize("rules", [{"(": "no-cache"}, {"x": ""}, {"x": "max-age=1\r\nX: y"}])
def test_bad_rules_are_refused_when_routes_are_made(site: Path,
                                                   rules: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="Cache-Control"):
        files.routes(site, cache_control=rules)


# -- several mounts ----------------------------------------------------------------------


@pytest.fixture
def mounted(site: Path, tmp_path: Path, live: Callable[..., str]) -> str:
    """/static/ (compressed, immutable assets), /downloads/ (listed, sent as they are),
    /api/ (a handler), and / (the site, read-only, no listing)."""
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.3f2a1c.css").write_bytes(CSS)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "notes.css").write_bytes(CSS)

    class Api(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 200, "api"

    routes: dict[str, type[web.HTTPHandler]] = {"/api/.*": Api}
    routes.update(files.routes(static, "/static/", compress=True,
                               cache_control={files.FINGERPRINTED: files.IMMUTABLE}))
    routes.update(files.routes(downloads, "/downloads/", listing=True, precompressed=False,
                               cache_control={"": "no-cache"}))
    routes.update(files.routes(site, "/", cache_control={"": "max-age=60"}))
    return live(routes)


def test_each_mount_serves_its_own_directory_with_its_own_options(mounted: str) -> None:
    gzip_please = {"Accept-Encoding": "gzip"}
    with httpx.Client(base_url=mounted, timeout=TIMEOUT) as client:
        static = client.get("/static/app.3f2a1c.css", headers=gzip_please)
        assert (static.status_code, static.content) == (200, CSS)
        assert static.headers["Content-Encoding"] == "gzip"
        assert static.headers["Cache-Control"] == "max-age=31536000, immutable"

        download = client.get("/downloads/notes.css", headers=gzip_please)
        assert (download.status_code, download.content) == (200, CSS)
        assert "Content-Encoding" not in download.headers
        assert download.headers["Cache-Control"] == "no-cache"
        assert 'href="notes.css"' in client.get("/downloads/").text

        assert client.get("/hello.txt").headers["Cache-Control"] == "max-age=60"
        assert client.get("/docs/").status_code == 403  # no listing on this mount
        assert client.get("/api/x").text == "api"


def test_mounts_do_not_reach_into_each_other(mounted: str) -> None:
    with httpx.Client(base_url=mounted, timeout=TIMEOUT) as client:
        assert client.get("/static/hello.txt").status_code == 404
        assert client.get("/downloads/app.3f2a1c.css").status_code == 404
        assert client.get("/app.3f2a1c.css").status_code == 404
        assert client.get("/static").headers["Location"] == "/static/"


def test_each_mount_compresses_into_its_own_cache(site: Path) -> None:
    (site / "style.css").write_bytes(CSS)
    first = files.routes(site, "/a/", compress=True)
    second = files.routes(site, "/b/", compress=True)
    caches = [handler.config.compression_cache  # type: ignore[attr-defined]
              for handler in (*first.values(), *second.values())]
    assert caches[0] is not caches[1]
