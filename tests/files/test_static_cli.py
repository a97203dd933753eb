"""``python -m webpy DIR``: a directory server from the command line, in a subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from .support import REPOSITORY, command_line_server

TIMEOUT = 30.0


def test_cli_serves_files_and_lists_directories(site: Path, tmp_path: Path) -> None:
    with command_line_server(site, cwd=tmp_path, log=tmp_path / "log") as server, \
            httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        assert client.get("/hello.txt").content == b"Hello, world!\n"
        listing = client.get("/docs/")
        assert listing.headers["content-type"] == "text/html; charset=utf-8"
        assert '<a href="a.txt">a.txt</a>' in listing.text
        assert client.get("/sub/").content == b"<p>sub index</p>\n"


def test_cli_serves_the_current_directory_by_default(site: Path, tmp_path: Path) -> None:
    with command_line_server(cwd=site, log=tmp_path / "log") as server:
        assert httpx.get(server.url + "/hello.txt", timeout=TIMEOUT).content == b"Hello, world!\n"


def test_cli_prints_its_url_and_logs_each_request(site: Path, tmp_path: Path) -> None:
    with command_line_server(site, cwd=tmp_path, log=tmp_path / "log") as server:
        assert server.banner.startswith(f"Serving {site} on http://127.0.0.1:")
        httpx.get(server.url + "/hello.txt", timeout=TIMEOUT)
        assert server.stop(signal.SIGINT) == 0
    assert '"GET /hello.txt HTTP/1.1" 200 14' in (tmp_path / "log").read_text()


def test_cli_does_not_serve_hidden_files(site: Path, tmp_path: Path) -> None:
    with command_line_server(site, cwd=tmp_path, log=tmp_path / "log") as server:
        assert httpx.get(server.url + "/.git/config", timeout=TIMEOUT).status_code == 404


def test_cli_exits_0_on_sigint(site: Path, tmp_path: Path) -> None:
    with command_line_server(site, cwd=tmp_path, log=tmp_path / "log") as server:
        httpx.get(server.url + "/hello.txt", timeout=TIMEOUT)
        assert server.stop(signal.SIGINT) == 0


def test_cli_exits_0_on_sigterm(site: Path, tmp_path: Path) -> None:
    with command_line_server(site, cwd=tmp_path, log=tmp_path / "log") as server:
        httpx.get(server.url + "/hello.txt", timeout=TIMEOUT)
        assert server.stop(signal.SIGTERM) == 0


def test_cli_refuses_put_without_upload(site: Path, tmp_path: Path) -> None:
    with command_line_server(site, cwd=tmp_path, log=tmp_path / "log") as server:
        response = httpx.put(server.url + "/new.txt", content=b"x", timeout=TIMEOUT)
        assert response.status_code == 405
    assert not (site / "new.txt").exists()


def test_cli_upload_enables_put_and_delete(site: Path, tmp_path: Path) -> None:
    with command_line_server(site, "--upload", cwd=tmp_path, log=tmp_path / "log") as server, \
            httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        assert client.put("/drop/new.txt", content=b"uploaded").status_code == 201
        assert client.get("/drop/new.txt").content == b"uploaded"
        assert client.delete("/hello.txt").status_code == 204
    assert (site / "drop" / "new.txt").read_bytes() == b"uploaded"
    assert not (site / "hello.txt").exists()


def test_cli_reports_a_directory_that_does_not_exist(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "webpy", str(tmp_path / "missing"), "--port", "0"],
        capture_output=True, timeout=TIMEOUT, cwd=REPOSITORY, check=False,
    )
    assert result.returncode != 0
    assert b"not a directory" in result.stderr
    assert b"Traceback" not in result.stderr
