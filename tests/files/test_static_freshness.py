"""A file changed on disk is served changed at the very next request, whatever is remembered.

The file server remembers what it can per path (the type, the Cache-Control,
the HTTP-dates) and looks at the disk on every request for the rest. These
tests change files between two requests on one keep-alive connection, over
real sockets on the threaded and trio transports, and check the second
response is the new file: new body, new ETag, new Last-Modified where the
time moved.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import brotli
import httpx
import pytest

from webpy.app import files

TIMEOUT = 30.0
OLD_CSS = b"body { color: red; }\n" * 100
NEW_CSS = b"body { color: green; }\n" * 120
GZIP = {"Accept-Encoding": "gzip"}
BROTLI = {"Accept-Encoding": "br"}


@pytest.fixture
def styles(site: Path) -> Path:
    """site/style.css with a precompressed style.css.gz beside it."""
    (site / "style.css").write_bytes(OLD_CSS)
    (site / "style.css.gz").write_bytes(gzip.compress(OLD_CSS, mtime=0))
    return site


@pytest.fixture
def http(live: Callable[..., str], styles: Path) -> Iterator[httpx.Client]:
    """One keep-alive httpx client on the served site (it decodes gzip itself)."""
    base = live(files.routes(styles, cache_control={r"\.css$": "no-cache"}))
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        yield client


def _rewrite(path: Path, data: bytes, mtime: int) -> None:
    """Write `data` to `path` in place and set its modification time to `mtime`."""
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def test_rewritten_file_is_served_new_at_the_next_request(styles: Path,
                                                          http: httpx.Client) -> None:
    first = http.get("/style.css")
    assert (first.content, first.headers["Cache-Control"]) == (OLD_CSS, "no-cache")
    _rewrite(styles / "style.css", NEW_CSS, 2_000_000_000)
    os.unlink(styles / "style.css.gz")
    second = http.get("/style.css")
    assert second.content == NEW_CSS
    assert second.headers["ETag"] != first.headers["ETag"]
    assert second.headers["Last-Modified"] == "Wed, 18 May 2033 03:33:20 GMT"
    assert second.headers["Content-Length"] == str(len(NEW_CSS))


def test_replaced_precompressed_variant_is_served_new_at_the_next_request(
        styles: Path, http: httpx.Client) -> None:
    first = http.get("/style.css", headers=GZIP)
    assert (first.headers["Content-Encoding"], first.content) == ("gzip", OLD_CSS)
    _rewrite(styles / "style.css", NEW_CSS, 2_000_000_000)
    _rewrite(styles / "style.css.gz", gzip.compress(NEW_CSS, mtime=0), 2_000_000_001)
    second = http.get("/style.css", headers=GZIP)
    assert (second.headers["Content-Encoding"], second.content) == ("gzip", NEW_CSS)
    assert second.headers["ETag"] != first.headers["ETag"]
    assert second.headers["Last-Modified"] == "Wed, 18 May 2033 03:33:21 GMT"


def test_variant_made_stale_by_a_newer_file_is_no_longer_sent(styles: Path,
                                                              http: httpx.Client) -> None:
    assert http.get("/style.css", headers=GZIP).headers["Content-Encoding"] == "gzip"
    _rewrite(styles / "style.css", NEW_CSS, 2_000_000_000)
    second = http.get("/style.css", headers=GZIP)
    assert "Content-Encoding" not in second.headers
    assert second.content == NEW_CSS


def test_old_etag_no_longer_revalidates_once_the_file_changed(styles: Path,
                                                              http: httpx.Client) -> None:
    etag = http.get("/style.css", headers=GZIP).headers["ETag"]
    assert http.get("/style.css", headers={**GZIP, "If-None-Match": etag}).status_code == 304
    _rewrite(styles / "style.css.gz", gzip.compress(NEW_CSS, mtime=0), 2_000_000_001)
    _rewrite(styles / "style.css", NEW_CSS, 2_000_000_000)
    again = http.get("/style.css", headers={**GZIP, "If-None-Match": etag})
    assert (again.status_code, again.content) == (200, NEW_CSS)


def test_deleted_file_is_404_at_the_next_request(styles: Path, http: httpx.Client) -> None:
    assert http.get("/style.css", headers=GZIP).status_code == 200
    os.unlink(styles / "style.css")
    assert http.get("/style.css", headers=GZIP).status_code == 404
    assert http.get("/style.css").status_code == 404


def test_variant_created_after_a_request_is_sent_at_the_next(styles: Path,
                                                            http: httpx.Client) -> None:
    first = http.get("/style.css", headers=BROTLI)
    assert ("Content-Encoding" not in first.headers, first.content) == (True, OLD_CSS)
    (styles / "style.css.br").write_bytes(brotli.compress(OLD_CSS))
    second = http.get("/style.css", headers=BROTLI)
    assert (second.headers["Content-Encoding"], second.content) == ("br", OLD_CSS)
    assert second.headers["ETag"] != first.headers["ETag"]


def test_removed_variant_falls_back_to_the_next_then_to_the_file(styles: Path,
                                                                 http: httpx.Client) -> None:
    (styles / "style.css.br").write_bytes(brotli.compress(OLD_CSS))
    both = {"Accept-Encoding": "br, gzip"}
    assert http.get("/style.css", headers=both).headers["Content-Encoding"] == "br"
    os.unlink(styles / "style.css.br")
    second = http.get("/style.css", headers=both)
    assert (second.headers["Content-Encoding"], second.content) == ("gzip", OLD_CSS)
    os.unlink(styles / "style.css.gz")
    third = http.get("/style.css", headers=both)
    assert ("Content-Encoding" not in third.headers, third.content) == (True, OLD_CSS)
    assert "Vary" not in third.headers
