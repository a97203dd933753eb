"""``python -m webpy DIR``: a directory server from the command line, in a subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from .support import REPOSITORY, command_line_server

TIMEOUT = 30.0
#: A stylesheet big enough to be compressed, and very compressible.
CSS = b"".join(b".rule-%d { color: #%06x; margin: 0 auto; }\n" % (n, n) for n in range(2000))


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


def test_cli_compresses_text_files_by_default(site: Path, tmp_path: Path) -> None:
    (site / "style.css").write_bytes(CSS)
    with command_line_server(site, cwd=tmp_path, log=tmp_path / "log") as server:
        response = httpx.get(server.url + "/style.css", headers={"Accept-Encoding": "gzip"},
                             timeout=TIMEOUT)
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert response.content == CSS  # httpx undoes the gzip
        assert response.num_bytes_downloaded < len(CSS) // 4


def test_cli_no_compress_sends_text_files_as_they_are(site: Path, tmp_path: Path) -> None:
    (site / "style.css").write_bytes(CSS)
    with command_line_server(site, "--no-compress", cwd=tmp_path,
                             log=tmp_path / "log") as server:
        response = httpx.get(server.url + "/style.css", headers={"Accept-Encoding": "gzip"},
                             timeout=TIMEOUT)
        assert "Content-Encoding" not in response.headers
        assert response.headers["Content-Length"] == str(len(CSS))


def test_cli_cache_control_rules_apply_in_order(site: Path, tmp_path: Path) -> None:
    (site / "app.3f2a1c.js").write_bytes(b"let a = 1;\n")
    rules = ["--cache-control", "[.][0-9a-f]{6}[.]js$", "public, max-age=31536000, immutable",
             "--cache-control", "[.]html$", "no-cache",
             "--cache-control", ".", "max-age=60"]
    with command_line_server(site, *rules, cwd=tmp_path, log=tmp_path / "log") as server, \
            httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        assert client.get("/app.3f2a1c.js").headers["Cache-Control"] == \
            "public, max-age=31536000, immutable"
        assert client.get("/page.html").headers["Cache-Control"] == "no-cache"
        assert client.get("/sub/").headers["Cache-Control"] == "no-cache"  # sub/index.html
        assert client.get("/hello.txt").headers["Cache-Control"] == "max-age=60"


def test_cli_refuses_a_cache_control_pattern_that_does_not_compile(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "webpy", str(tmp_path), "--port", "0",
         "--cache-control", "(", "no-cache"],
        capture_output=True, timeout=TIMEOUT, cwd=REPOSITORY, check=False,
    )
    assert result.returncode == 2
    assert b"--cache-control: bad Cache-Control pattern" in result.stderr
    assert b"Traceback" not in result.stderr


def test_cli_asks_clients_to_revalidate_paths_no_rule_matches(site: Path, tmp_path: Path) -> None:
    with command_line_server(site, cwd=tmp_path, log=tmp_path / "log") as server, \
            httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        first = client.get("/hello.txt")
        assert first.headers["Cache-Control"] == "no-cache"
        again = client.get("/hello.txt", headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
