"""``--locks``: the per-resource ordering backend chosen on the command line."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cli.support import TIMEOUT, Server

APP = ("import webpy as web\n\nclass Doc(web.HTTPHandler):\n"
       "    def do_put(self):\n        return 200, 'stored'\n\n"
       "routes = {'/(.*)': Doc}\n")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "docs.py").write_text(APP)
    return tmp_path


def test_a_lock_file_shared_by_path_orders_and_serves(app: Path, tmp_path: Path) -> None:
    lock_file = tmp_path / "order.lock"
    with Server("--app", "docs:routes", "-b", "127.0.0.1", "-p", "0", "--locks", lock_file,
                cwd=app) as server:
        assert httpx.put(f"{server.url}/a", content=b"x", timeout=TIMEOUT).text == "stored"
    assert lock_file.exists()  # the servers naming this path order their writes on it


def test_an_unreachable_lock_database_answers_503_and_never_runs_the_handler(
        app: Path) -> None:
    pytest.importorskip("psycopg", reason="psycopg is not installed")
    unreachable = "postgresql://webpy@127.0.0.1:1/none?connect_timeout=2"
    with Server("--app", "docs:routes", "-b", "127.0.0.1", "-p", "0", "--locks", unreachable,
                cwd=app) as server:
        response = httpx.put(f"{server.url}/a", content=b"x", timeout=TIMEOUT)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
