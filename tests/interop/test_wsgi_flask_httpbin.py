"""Real WSGI applications on webpy: a Flask app and httpbin, over both socket transports."""

from __future__ import annotations

import gzip
import json
import logging
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest

from webpy.app import wsgi

from .flask_app import app as flask_app
from .support import TIMEOUT, served

httpbin = pytest.importorskip("httpbin", reason="httpbin not installed")


def validated(app: Any) -> Any:
    """`app` behind `wsgiref.validate`, which checks the server's side of PEP 3333.

    The validator predates PEP 3333's ``read()`` without a size, which
    werkzeug uses when the server says ``wsgi.input_terminated``; such
    reads go to the validated input in pieces.
    """

    def whole_reads(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input"] = _PieceReader(environ["wsgi.input"])
        return app(environ, start_response)

    return validator(whole_reads)


class _PieceReader:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return self._stream.read(size)  # type: ignore[no-any-return]
        pieces = []
        while piece := self._stream.read(65536):
            pieces.append(piece)
        return b"".join(pieces)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@pytest.fixture
def flask_base(transport: str) -> str:
    routes = wsgi.mount("/flask", validated(flask_app.wsgi_app))
    with served(routes, transport) as base:
        yield base + "flask/"


def test_flask_html_page(flask_base: str) -> None:
    response = httpx.get(flask_base, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Hello from Flask</h1>" in response.text


def test_flask_json_round_trip_knows_its_mount(flask_base: str) -> None:
    response = httpx.post(flask_base + "items", json={"name": "pen", "tags": ["a", "é"]},
                          timeout=TIMEOUT)
    assert response.status_code == 201
    assert response.json() == {"stored": {"name": "pen", "tags": ["a", "é"]},
                               "script_root": "/flask"}


def test_flask_file_upload(flask_base: str) -> None:
    document = bytes(range(256)) * 1000
    response = httpx.post(flask_base + "upload", data={"title": "bytes"},
                          files={"document": ("all.bin", document, "application/octet-stream")},
                          timeout=TIMEOUT)
    assert response.json() == {"filename": "all.bin", "size": len(document), "title": "bytes",
                               "first": "\x00\x01\x02\x03\x04"}


def test_flask_upload_over_its_own_limit_is_413(flask_base: str) -> None:
    response = httpx.post(flask_base + "upload", data={"title": "big"},
                          files={"document": ("big.bin", b"x" * (2 * 1024 * 1024))},
                          timeout=TIMEOUT)
    assert response.status_code == 413


def test_flask_streamed_response_is_chunked_and_keeps_the_request_context(
        flask_base: str) -> None:
    with httpx.stream("GET", flask_base + "stream?count=50", timeout=TIMEOUT) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        text = response.read().decode()
    assert text.splitlines() == [f"/stream line {number}" for number in range(50)]


def test_flask_redirect_stays_under_the_mount(flask_base: str) -> None:
    response = httpx.get(flask_base + "old", timeout=TIMEOUT)
    assert response.status_code == 302
    assert response.headers["location"] == "/flask/"
    assert httpx.get(flask_base + "old", follow_redirects=True, timeout=TIMEOUT).url.path == \
        "/flask/"


def test_flask_errors(flask_base: str, caplog: pytest.LogCaptureFixture) -> None:
    with httpx.Client(timeout=TIMEOUT) as client, caplog.at_level(logging.ERROR):
        assert client.get(flask_base + "missing").status_code == 404
        assert client.get(flask_base + "forbidden").status_code == 403
        crash = client.get(flask_base + "crash")
        assert client.delete(flask_base).status_code == 405
    assert crash.status_code == 500
    assert "Internal Server Error" in crash.text
    assert "the view failed" in caplog.text  # Flask logs it; the connection carries on


# -- httpbin ---------------------------------------------------------------------------


@pytest.fixture
def httpbin_client(transport: str) -> httpx.Client:
    # httpbin's teapot has no Content-Type, which the validator refuses as an application
    # error; /unvalidated serves it as is.
    routes = wsgi.mount("/unvalidated", httpbin.app)
    routes.update(wsgi.mount("/", validated(httpbin.app)))
    with served(routes, transport) as base, httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        yield client


def test_httpbin_get_echoes_arguments_and_headers(httpbin_client: httpx.Client) -> None:
    data = httpbin_client.get("/get", params={"q": "a b"}, headers={"X-Test": "yes"}).json()
    assert data["args"] == {"q": "a b"}
    assert data["headers"]["X-Test"] == "yes"
    assert data["url"].endswith("/get?q=a b") or data["url"].endswith("/get?q=a+b")


def test_httpbin_post_echoes_json_and_form(httpbin_client: httpx.Client) -> None:
    assert httpbin_client.post("/post", json={"k": [1, 2]}).json()["json"] == {"k": [1, 2]}
    assert httpbin_client.post("/post", data={"f": "v"}).json()["form"] == {"f": "v"}


def test_httpbin_status_418(httpbin_client: httpx.Client) -> None:
    response = httpbin_client.get("/unvalidated/status/418")
    assert response.status_code == 418
    assert "teapot" in response.text


def test_httpbin_redirect_chain(httpbin_client: httpx.Client) -> None:
    response = httpbin_client.get("/redirect/3", follow_redirects=True)
    assert response.status_code == 200
    assert len(response.history) == 3
    assert response.url.path == "/get"


def test_httpbin_stream_of_20_json_lines(httpbin_client: httpx.Client) -> None:
    with httpbin_client.stream("GET", "/stream/20") as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert [line["id"] for line in lines] == list(range(20))


def test_httpbin_100000_random_bytes(httpbin_client: httpx.Client) -> None:
    response = httpbin_client.get("/bytes/100000", params={"seed": 7})
    assert len(response.content) == 100_000
    assert response.content == httpbin_client.get("/bytes/100000", params={"seed": 7}).content


def test_httpbin_gzip_body(httpbin_client: httpx.Client) -> None:
    response = httpbin_client.get("/gzip", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["gzipped"] is True
    raw = httpbin_client.get("/gzip", headers={"Accept-Encoding": "identity"})
    assert json.loads(gzip.decompress(raw.content) if raw.content[:2] == b"\x1f\x8b"
                      else raw.content)["gzipped"] is True
