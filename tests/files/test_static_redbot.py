"""REDbot, the HTTP linter, finds nothing to warn about in what the file server sends.

A live server on 127.0.0.1 (threaded, then trio) serves a small site with
a Cache-Control policy as a real site would have one; REDbot checks an HTML
page, a stylesheet, the stylesheet compressed on the fly and from a
precompressed variant, a directory listing and a browser's 404 page. REDbot
makes its own follow-up requests (conditional, ranged, compressed) and
judges those too. Every note at level "warning" or "bad" fails the test.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from webpy.app import files

TIMEOUT = 60.0
LINT = Path(__file__).with_name("redbot_lint.py")
PAGE = b"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>A page</title>" \
       b"<link rel=stylesheet href=style.css></head><body>" + b"<p>Some text.</p>\n" * 200 + \
       b"</body></html>\n"
CSS = b"".join(b".rule-%d { color: #%06x; }\n" % (n, n) for n in range(4000))


def lint(url: str, *fields: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(LINT), url, *fields],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def complaints(report: dict[str, Any]) -> list[str]:
    found = []

    def visit(note: dict[str, Any]) -> None:
        if note["level"] in ("warning", "bad"):
            found.append(f"{note['level']}: {note['summary']}")
        for subnote in note["subnotes"]:
            visit(subnote)

    for note in report["notes"]:
        visit(note)
    return found


def test_redbot_finds_no_problem_with_pages_styles_compression_and_listings(
        site: Path, live: Callable[..., str]) -> None:
    if importlib.util.find_spec("redbot") is None:
        pytest.skip("redbot is not installed")
    (site / "page.html").write_bytes(PAGE)
    (site / "style.css").write_bytes(CSS)
    (site / "docs" / "app.css").write_bytes(CSS)
    (site / "docs" / "app.css.gz").write_bytes(gzip.compress(CSS))
    (site / "docs" / "app.3f2a1c.js").write_bytes(b"console.log('hello');\n" * 100)
    url = live(files.routes(site, listing=True, compress=True, cache_control={
        files.FINGERPRINTED: files.IMMUTABLE,
        r"[.]html$|/$": "no-cache",
        "": "max-age=3600",
    }))
    checks = {
        "HTML page": (url + "/page.html",),
        "stylesheet": (url + "/style.css",),
        "stylesheet compressed on the fly": (url + "/style.css", "Accept-Encoding: gzip"),
        "precompressed stylesheet": (url + "/docs/app.css", "Accept-Encoding: gzip"),
        "fingerprinted script": (url + "/docs/app.3f2a1c.js",),
        "listing": (url + "/docs/",),
        "browser's 404 page": (url + "/missing.html", "Accept: text/html"),
    }
    running = {name: lint(*arguments) for name, arguments in checks.items()}
    failures = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err.decode(errors="replace")
        report = json.loads(out)
        assert report["fetch_error"] is None, (name, report["fetch_error"])
        expected = 404 if "404" in name else 200
        assert report["status"] == str(expected) or report["status"] == expected, name
        if complaints(report):
            failures[name] = complaints(report)
        headers = {field.lower(): value.strip() for field, value in report["headers"]}
        if "compressed" in name:
            assert headers["content-encoding"] == "gzip", name
    assert not failures, failures
