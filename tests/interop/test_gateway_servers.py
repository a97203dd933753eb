"""webpy's routes under real third-party servers, each started as a subprocess on loopback.

The same handlers (the seed's key-value store, the notes example with Basic
auth, forms and JSON, the files extension, streamed bodies) run unchanged
as a WSGI application under gunicorn (sync and gthread workers) and
waitress, and as an ASGI application under uvicorn and hypercorn (asyncio
and trio workers).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .support import TIMEOUT, external_server, free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: name -> (module that must be importable, command line with {port}, is ASGI)
SERVERS = {
    "gunicorn-sync": ("gunicorn", ["-m", "gunicorn", "-w", "1", "-k", "sync",
                                   "-b", "127.0.0.1:{port}", "webpy_site:application"], False),
    "gunicorn-gthread": ("gunicorn", ["-m", "gunicorn", "-w", "1", "-k", "gthread",
                                      "--threads", "4", "-b", "127.0.0.1:{port}",
                                      "webpy_site:application"], False),
    "waitress": ("waitress", ["-m", "waitress", "--listen=127.0.0.1:{port}",
                              "webpy_site:application"], False),
    "uvicorn": ("uvicorn", ["-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}",
                            "--lifespan", "on", "webpy_site:app"], True),
    "hypercorn": ("hypercorn", ["-m", "hypercorn", "-b", "127.0.0.1:{port}",
                                "webpy_site:app"], True),
    "hypercorn-trio": ("hypercorn", ["-m", "hypercorn", "-k", "trio",
                                     "-b", "127.0.0.1:{port}", "webpy_site:app"], True),
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, bool]]:
    """(name, base URL, is ASGI) of a running server hosting tests/interop/webpy_site.py."""
    module, arguments, is_asgi = SERVERS[request.param]
    pytest.importorskip(module, reason=f"{module} not installed")
    port = free_port()
    command = [sys.executable, *(argument.format(port=port) for argument in arguments)]
    with external_server(command, port) as base:
        yield request.param, base, is_asgi


@pytest.fixture
def client(server: tuple[str, str, bool]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[1], timeout=TIMEOUT) as client:
        yield client


def test_seed_key_value_rest_cycle(client: httpx.Client) -> None:
    key = f"/kv/{os.getpid()}-cycle"
    assert client.get(key).status_code == 404
    assert client.put(key, content=b"hello").text == "Accepted"
    assert client.get(key).content == b"hello"
    assert client.put(key, content=b"changed").status_code == 200
    assert client.get(key).content == b"changed"
    assert client.head(key).headers["content-length"] == "7"
    assert client.delete(key).text == "Deleted"
    assert client.get(key).status_code == 404


def test_streamed_response_body(client: httpx.Client) -> None:
    with client.stream("GET", "/lines", params={"count": 1000}) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        lines = [line for line in response.iter_lines() if line]
    assert lines == [f"line {number}" for number in range(1000)]


def test_streamed_upload(client: httpx.Client) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(data), 100_000):
            yield data[start:start + 100_000]

    chunked = client.post("/upload", content=pieces()).json()
    sized = client.post("/upload", content=data).json()
    expected = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert {key: chunked[key] for key in expected} == expected
    assert {key: sized[key] for key in expected} == expected


def test_notes_need_basic_auth_to_write(client: httpx.Client) -> None:
    refused = client.post("/notes", data={"title": "x"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith('Basic realm="notes"')
    created = client.post("/notes", data={"title": "Hello", "text": "first"},
                          files={"attachment": ("a.bin", b"\x00\x01", "application/x-test")},
                          auth=("alice", "wonderland"))
    assert created.status_code == 201
    note = created.json()
    assert (note["title"], note["author"], note["attachment"]["size"]) == ("Hello", "alice", 2)
    assert client.get(created.headers["location"]).json() == note
    assert client.get(f"{created.headers['location']}/attachment").content == b"\x00\x01"


def test_files_extension_answers_304_to_a_matching_etag(client: httpx.Client) -> None:
    first = client.get("/static/keyvalue.py")
    assert first.content == (EXAMPLES / "keyvalue.py").read_bytes()
    again = client.get("/static/keyvalue.py", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    ranged = client.get("/static/keyvalue.py", headers={"Range": "bytes=0-9"})
    assert (ranged.status_code, ranged.content) == (206, first.content[:10])


def test_unknown_path_is_404_and_wrong_method_405(client: httpx.Client) -> None:
    assert client.get("/nowhere").status_code == 404
    response = client.patch("/lines")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


def test_async_handlers_and_bodies_run_under_asgi(server: tuple[str, str, bool],
                                                   client: httpx.Client) -> None:
    if not server[2]:
        response = client.get("/async-lines")
        assert response.status_code == 500  # WSGI servers cannot run coroutines
        return
    with client.stream("GET", "/async-lines", params={"count": 100}) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines == [f"async line {number}" for number in range(100)]
    data = os.urandom(1024 * 1024)
    result = client.post("/async-upload", content=iter([data[:1000], data[1000:]])).json()
    assert result == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_under_asgi_plain_handlers_run_in_worker_threads_async_ones_in_the_loop(
        server: tuple[str, str, bool], client: httpx.Client) -> None:
    if not server[2]:  # a WSGI server runs handlers in its own threads, and no coroutines
        assert client.get("/where").text in ("main", "worker")
        assert client.get("/async-where").status_code == 500
        return
    assert client.get("/where").text == "worker"
    assert client.get("/async-where").text == "main"  # these servers run their loop there


def test_asgi_lifespan_ran_startup(server: tuple[str, str, bool], client: httpx.Client) -> None:
    expected = ["started"] if server[2] else []  # WSGI has no lifespan
    assert client.get("/lifespan").json() == expected


@pytest.mark.parametrize("name", ["uvicorn", "hypercorn"])
def test_asgi_lifespan_runs_shutdown_when_the_server_stops(name: str, tmp_path: Path) -> None:
    module, arguments, _ = SERVERS[name]
    pytest.importorskip(module, reason=f"{module} not installed")
    port = free_port()
    record = tmp_path / "lifespan.txt"
    command = [sys.executable, *(argument.format(port=port) for argument in arguments)]
    with external_server(command, port, env={"WEBPY_SITE_LIFESPAN_RECORD": str(record)}):
        assert record.read_text() == "started\n"
    assert record.read_text() == "started\nstopped\n"


@pytest.mark.parametrize("name", ["uvicorn", "hypercorn"])
def test_asgi_startup_hook_failure_stops_the_server_with_its_message(name: str) -> None:
    module, arguments, _ = SERVERS[name]
    pytest.importorskip(module, reason=f"{module} not installed")
    port = free_port()
    command = [sys.executable, *(argument.format(port=port).replace("webpy_site:app",
                                                                    "failing_gateway:app")
                                 for argument in arguments)]
    with pytest.raises(RuntimeError, match=r"database at db\.invalid unreachable"), \
            external_server(command, port):
        pass
