"""Media types for file names are the same on every system, and file bodies are typed by name."""

from __future__ import annotations

import io
import mimetypes
from pathlib import Path
from typing import Any

import pytest

import webpy as web
from webpy.app import mediatypes
from webpy.transports.memory import Client


@pytest.mark.parametrize(("name", "expected"), [
    ("notes.md", "text/markdown"), ("pyproject.toml", "application/toml"),
    ("site.webmanifest", "application/manifest+json"), ("module.mjs", "text/javascript"),
    ("app.js", "text/javascript"), ("config.YAML", "application/yaml"),
    ("font.woff2", "font/woff2"), ("photo.webp", "image/webp"), ("app.js.map", "application/json"),
])
def test_web_types_do_not_depend_on_the_system_table(
        name: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a system without /etc/mime.types, and a Python whose own table lacks them.
    monkeypatch.setattr(mimetypes, "guess_type", lambda path, strict=True: (None, None))
    assert mediatypes.guess_type(name) == (expected, None)


def test_other_names_and_compressed_files_are_left_to_mimetypes() -> None:
    assert mediatypes.guess_type("archive.tar.gz") == mimetypes.guess_type("archive.tar.gz")
    assert mediatypes.guess_type("page.html.gz")[1] == "gzip"
    assert mediatypes.guess_type("data.unknown-suffix") == (None, None)


@pytest.mark.parametrize(("name", "content_type"), [
    ("README.md", "text/markdown; charset=utf-8"),
    ("site.webmanifest", "application/manifest+json"),
    ("data.bin", "application/octet-stream"),
    ("page.html.gz", "application/octet-stream"),  # sent as the archive it is
])
def test_a_file_body_is_typed_by_its_name(tmp_path: Path, name: str, content_type: str) -> None:
    (tmp_path / name).write_bytes(b"content")

    class Download(web.HTTPHandler):
        def do_get(self) -> tuple[int, Any]:
            return 200, open(tmp_path / name, "rb")  # the server closes it

    response = Client({"/": Download}).get("/")
    assert (response.headers["Content-Type"], response.body) == (content_type, b"content")


def test_a_file_body_without_a_name_is_octet_stream() -> None:
    class Memory(web.HTTPHandler):
        def do_get(self) -> tuple[int, Any]:
            return 200, io.BytesIO(b"bytes")

    assert Client({"/": Memory}).get("/").headers["Content-Type"] == "application/octet-stream"
