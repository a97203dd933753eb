"""Static files get the web's usual Content-Type whatever the system's mime table lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from webpy.app import files
from webpy.app.mediatypes import WEB_TYPES
from webpy.transports.memory import Client


@pytest.mark.parametrize("suffix", [".toml", ".md", ".webmanifest", ".mjs", ".yaml", ".map"])
def test_common_web_files_get_their_media_type(tmp_path: Path, suffix: str) -> None:
    (tmp_path / f"file{suffix}").write_text("x")
    response = Client(files.routes(tmp_path)).get(f"/file{suffix}")
    assert response.status == 200
    assert response.headers["content-type"].split(";")[0] == WEB_TYPES[suffix]
