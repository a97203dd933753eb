"""A WSGI application mounted on webpy: PEP 3333 as an application sees it.

Every application here is wrapped in `wsgiref.validate`, which fails the
request (a logged 500) on any breach of the PEP by either side.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest

from webpy.app import wsgi

from .support import TIMEOUT, served


def echo_environ(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers with the environ's CGI variables, and the body it read, as JSON."""
    body = _read_all(environ["wsgi.input"])
    report = {key: value for key, value in environ.items() if isinstance(value, str)}
    report["body"] = body.decode("latin-1")
    report["read_past_end"] = environ["wsgi.input"].read(10).decode()
    report["wsgi.url_scheme"] = environ["wsgi.url_scheme"]
    data = json.dumps(report).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]


def test_environ_splits_the_path_at_the_mount_and_carries_the_request(transport: str) -> None:
    routes = wsgi.mount("/legacy", validator(echo_environ))
    with served(routes, transport) as base, httpx.Client(timeout=TIMEOUT) as client:
        response = client.post(
            base + "legacy/a%20b/%E9t%C3%A9?x=1&y=%20",
            content=b"hello",
            headers=[("Content-Type", "text/plain"), ("X-Multi", "one"), ("X-Multi", "two"),
                     ("X_Sneaky", "dropped")],
        )
    environ = response.json()
    assert response.status_code == 200
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == "/legacy"
    # Percent-decoded bytes as latin-1: %E9 is one byte, %C3%A9 two.
    assert environ["PATH_INFO"] == "/a b/\xe9t\xc3\xa9"
    assert environ["QUERY_STRING"] == "x=1&y=%20"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert environ["HTTP_X_MULTI"] == "one,two"
    assert not any("SNEAKY" in key for key in environ)
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    assert environ["HTTP_HOST"] == f"{host}:{port}"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == (host, port)
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["body"] == "hello"
    assert environ["read_past_end"] == ""


def test_mount_root_and_bare_prefix(transport: str) -> None:
    routes = wsgi.mount("/app/", validator(echo_environ))
    routes.update(wsgi.mount("/", validator(echo_environ)))
    with served(routes, transport) as base, httpx.Client(timeout=TIMEOUT) as client:
        bare = client.get(base + "app").json()
        under = client.get(base + "app/").json()
        root = client.get(base + "other/x").json()
        near = client.get(base + "application").json()
    assert (bare["SCRIPT_NAME"], bare["PATH_INFO"]) == ("/app", "")
    assert (under["SCRIPT_NAME"], under["PATH_INFO"]) == ("/app", "/")
    assert (root["SCRIPT_NAME"], root["PATH_INFO"]) == ("", "/other/x")
    assert (near["SCRIPT_NAME"], near["PATH_INFO"]) == ("", "/application")


def test_url_scheme_is_https_under_tls(transport: str, server_ssl_context: ssl.SSLContext,
                                       client_ssl_context: ssl.SSLContext) -> None:
    routes = wsgi.mount("/", validator(echo_environ))
    with (served(routes, transport, ssl_context=server_ssl_context) as base,
          httpx.Client(verify=client_ssl_context, timeout=TIMEOUT) as client):
        environ = client.get(base.replace("127.0.0.1", "localhost") + "x").json()
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["SERVER_NAME"] == "localhost"


def test_chunked_body_is_read_to_its_end(transport: str) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"abc"
        yield b"defg"

    routes = wsgi.mount("/", validator(echo_environ))
    with served(routes, transport) as base, httpx.Client(timeout=TIMEOUT) as client:
        environ = client.post(base, content=pieces()).json()
    assert environ["body"] == "abcdefg"
    assert "CONTENT_LENGTH" not in environ


def test_input_streams_the_body_as_the_application_reads_it(transport: str) -> None:
    # The application answers after 5 bytes of a 1 MB body the client has not sent yet:
    # wsgi.input cannot have read the body whole first.
    def first_five(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["wsgi.input"].read(5)]

    routes = wsgi.mount("/", validator(first_five))
    with served(routes, transport) as base, _connect(base) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nhello")
        response = _read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n" in response


def test_readline_and_iteration_split_lines(transport: str) -> None:
    def lines(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        first = stream.readline()
        capped = stream.readline(2)
        rest = list(stream)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps([first.decode(), capped.decode(), [r.decode() for r in rest]]).encode()]

    routes = wsgi.mount("/", validator(lines))
    with served(routes, transport) as base, httpx.Client(timeout=TIMEOUT) as client:
        result = client.post(base, content=b"one\ntwo\nthree\nfour").json()
    assert result == ["one\n", "tw", ["o\n", "three\n", "four"]]


def test_body_over_the_mount_limit_is_413_whatever_the_application_answers(
        transport: str) -> None:
    def swallow_errors(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            _read_all(environ["wsgi.input"])
        except OSError:
            pass
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"fine"]

    routes = wsgi.mount("/", validator(swallow_errors), max_body_bytes=10)

    def pieces() -> Iterator[bytes]:
        yield b"x" * 8
        yield b"x" * 8

    with served(routes, transport) as base, httpx.Client(timeout=TIMEOUT) as client:
        chunked = client.post(base, content=pieces())
        declared = client.post(base, content=b"x" * 11)
        small = client.post(base, content=b"x" * 10)
    assert chunked.status_code == 413
    assert declared.status_code == 413
    assert small.text == "fine"


def test_write_callable_sends_data_before_the_iterable(transport: str) -> None:
    def writer(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        write(b"twice, ")
        return [b"then returned"]

    routes = wsgi.mount("/", validator(writer))
    with served(routes, transport) as base, httpx.Client(timeout=TIMEOUT) as client:
        assert client.get(base).text == "written twice, then returned"


def test_iterable_is_sent_as_produced_chunked_without_a_length(transport: str) -> None:
    # The second chunk is produced only after the client has received the first.
    first_seen = threading.Event()

    def slow(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first;"
        if not first_seen.wait(TIMEOUT):
            yield b"TIMED OUT"
        yield b"second"

    routes = wsgi.mount("/", validator(slow))
    with (served(routes, transport) as base, httpx.Client(timeout=TIMEOUT) as client,
          client.stream("GET", base) as response):
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = response.iter_raw()
        assert next(chunks) == b"first;"
        first_seen.set()
        assert b"".join(chunks) == b"second"


def test_close_is_called_when_the_client_disconnects_mid_stream(transport: str) -> None:
    closed = threading.Event()

    class Endless:
        def __iter__(self) -> Iterator[bytes]:
            while not closed.is_set():
                yield b"x" * 65536

        def close(self) -> None:
            closed.set()

    def endless(environ: dict[str, Any], start_response: Any) -> Endless:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Endless()

    routes = wsgi.mount("/", endless)
    with served(routes, transport) as base:
        with _connect(base) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            # Linger 0: closing resets the connection, as a client that vanishes does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert closed.wait(TIMEOUT), "close() was not called after the client went away"


def test_close_is_called_after_a_normal_response(transport: str) -> None:
    closed = threading.Event()

    class Closing(list[bytes]):
        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"a", b"b"])

    with (served(wsgi.mount("/", validator(app)), transport) as base,
          httpx.Client(timeout=TIMEOUT) as client):
        assert client.get(base).text == "ab"
        assert client.head(base).status_code == 200
    assert closed.is_set()


def test_start_response_exc_info_replaces_a_response_not_yet_sent(transport: str) -> None:
    def recovering(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                           sys.exc_info())
        return [b"recovered"]

    with (served(wsgi.mount("/", validator(recovering)), transport) as base,
          httpx.Client(timeout=TIMEOUT) as client):
        response = client.get(base)
    assert (response.status_code, response.text) == (500, "recovered")


def test_start_response_exc_info_after_the_head_was_sent_reraises(transport: str,
                                                                  caplog: Any) -> None:
    def late_failure(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise ValueError("late")
        except ValueError:
            import sys

            start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                           sys.exc_info())
        yield b"never sent"

    with (served(wsgi.mount("/", late_failure), transport) as base,
          httpx.Client(timeout=TIMEOUT) as client, pytest.raises(httpx.RemoteProtocolError)):
        client.get(base)
    assert any("late" in str(record.exc_info) for record in caplog.records if record.exc_info)


def test_second_start_response_without_exc_info_is_a_500(transport: str) -> None:
    def twice(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("201 Created", [])
        return [b"no"]

    def never(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return [b"no"]

    routes = wsgi.mount("/twice", twice)
    routes.update(wsgi.mount("/never", never))
    with served(routes, transport) as base, httpx.Client(timeout=TIMEOUT) as client:
        assert client.get(base + "twice").status_code == 500
        assert client.get(base + "never").status_code == 500


def test_file_wrapper_sends_the_file_and_honours_content_length(transport: str,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 4096)

    def files(environ: dict[str, Any], start_response: Any) -> Any:
        headers = [("Content-Type", "application/octet-stream")]
        if environ["PATH_INFO"] == "/head":
            headers.append(("Content-Length", "1000"))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](path.open("rb"), 8192)

    with (served(wsgi.mount("/", files), transport) as base,
          httpx.Client(timeout=TIMEOUT) as client):
        whole = client.get(base + "whole")
        head = client.get(base + "head")
    assert whole.content == path.read_bytes()
    assert whole.headers["content-length"] == str(256 * 4096)
    assert head.content == path.read_bytes()[:1000]


def test_file_wrapper_is_handed_to_the_transport_as_a_file() -> None:
    from webpy.app import FileBody
    from webpy.transports.memory import Client

    here = Path(__file__)

    def files(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/x-python")])
        return environ["wsgi.file_wrapper"](here.open("rb"))

    mounted = next(iter(wsgi.mount("/", files).values()))

    class Spy(mounted):  # type: ignore[valid-type,misc]
        def do_get(self) -> Any:
            result = super().do_get()
            bodies.append(result[2])
            return result

    bodies: list[Any] = []
    response = Client({"/.*": Spy}).get("/x")
    assert response.body == here.read_bytes()
    assert isinstance(bodies[0], FileBody)


def _read_all(stream: Any) -> bytes:
    """The whole body, in pieces (wsgiref.validate allows only read(size))."""
    pieces = []
    while piece := stream.read(4096):
        pieces.append(piece)
    return b"".join(pieces)


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data


def test_mounted_app_is_not_ordered_per_resource_unless_asked(transport: str) -> None:
    # Two PUTs on one path meet inside the application: webpy holds no lock around it.
    both_inside = threading.Barrier(2, timeout=TIMEOUT)

    def meet(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        both_inside.wait()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"met"]

    with served(wsgi.mount("/", meet), transport) as base:
        results: list[int] = []

        def put() -> None:
            results.append(httpx.put(base + "same", content=b"x", timeout=TIMEOUT).status_code)

        threads = [threading.Thread(target=put) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [200, 200]
    ordered = next(iter(wsgi.mount("/", meet, ordered=True).values()))
    assert ordered.ordered and not next(iter(wsgi.mount("/", meet).values())).ordered


def test_application_runs_on_a_worker_thread_never_the_event_loop(transport: str) -> None:
    def where(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [threading.current_thread().name.encode()]

    with (served(wsgi.mount("/", validator(where)), transport) as base,
          httpx.Client(timeout=TIMEOUT) as client):
        name = client.get(base).text
    # Not the test's thread, and on trio not the thread running trio's event loop.
    assert name not in ("MainThread", "trio-server", threading.current_thread().name)


def test_file_wrapper_goes_out_with_sendfile_on_the_threaded_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(2 * 1024 * 1024))
    sent_by_sendfile: list[int] = []
    real_sendfile = os.sendfile

    def counting_sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        sent = real_sendfile(out_fd, in_fd, offset, count)
        sent_by_sendfile.append(sent)
        return sent

    monkeypatch.setattr(os, "sendfile", counting_sendfile)

    def download(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](path.open("rb"))

    with (served(wsgi.mount("/", download), "threaded") as base,
          httpx.Client(timeout=TIMEOUT) as client):
        response = client.get(base)
    assert response.content == path.read_bytes()
    assert sum(sent_by_sendfile) == path.stat().st_size  # every byte, none copied through Python
