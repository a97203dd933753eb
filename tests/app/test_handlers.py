"""What a handler sees of the request and what it may return, through the memory client."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import webpy as web
from webpy.app import Application, FileBody, Request, StreamBody
from webpy.app.response import READ_SIZE
from webpy.transports.memory import Client


def client_for(handler: type[web.HTTPHandler], **limits: Any) -> Client:
    return Client({"/.*": handler}, limits=web.Limits(**limits) if limits else None)


# -- return values ---------------------------------------------------------------


def test_status_and_str_body_are_sent_as_utf8_text() -> None:
    class Text(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 201, "héllo ✓"

    response = client_for(Text).get("/")
    assert response.status == 201
    assert response.reason == "Created"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.body == "héllo ✓".encode()
    assert response.headers["Content-Length"] == str(len(response.body))


def test_status_reason_and_body_triple_sets_the_reason() -> None:
    class Custom(web.HTTPHandler):
        def do_get(self) -> tuple[int, str, str]:
            return 299, "Mostly Fine", "ok-ish"

    response = client_for(Custom).get("/")
    assert (response.status, response.reason, response.text) == (299, "Mostly Fine", "ok-ish")


def test_bytes_body_is_sent_as_is_and_typed_octet_stream() -> None:
    class Binary(web.HTTPHandler):
        def do_get(self) -> tuple[int, bytes]:
            return 200, b"\x00\xffraw"

    response = client_for(Binary).get("/")
    assert response.body == b"\x00\xffraw"
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_handler_content_type_is_kept() -> None:
    class Html(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            self.response.headers["content-type"] = "text/html; charset=utf-8"
            return 200, "<p>hi</p>"

    response = client_for(Html).get("/")
    assert response.headers.get_all("Content-Type") == ["text/html; charset=utf-8"]


def test_none_body_is_empty() -> None:
    class Nothing(web.HTTPHandler):
        def do_delete(self) -> tuple[int, None]:
            return 200, None

    response = client_for(Nothing).delete("/")
    assert response.status == 200
    assert response.body == b""
    assert response.headers["Content-Length"] == "0"
    assert "Content-Type" not in response.headers


def test_204_sends_no_body_and_no_length() -> None:
    class NoContent(web.HTTPHandler):
        def do_put(self) -> tuple[int, None]:
            return 204, None

    response = client_for(NoContent).put("/", b"x")
    assert response.status == 204
    assert "Content-Length" not in response.headers


def test_generator_body_is_streamed_chunked() -> None:
    produced: list[int] = []

    class Counting(web.HTTPHandler):
        def do_get(self) -> tuple[int, Iterator[bytes]]:
            def pieces() -> Iterator[bytes]:
                for number in range(3):
                    produced.append(number)
                    yield b"<%d>" % number
            return 200, pieces()

    response = client_for(Counting).get("/")
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.body == b"<0><1><2>"
    assert produced == [0, 1, 2]


@pytest.mark.parametrize("bad_chunk", [5, 1.5, object(), ["nested"]])
def test_stream_yielding_a_non_bytes_chunk_is_cut_off_and_logged(
        bad_chunk: Any, caplog: pytest.LogCaptureFixture) -> None:
    class Odd(web.HTTPHandler):
        def do_get(self) -> tuple[int, tuple[Any, ...]]:
            return 200, (b"ok", bad_chunk, b"never")

    connection = client_for(Odd).connect()
    connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    output = connection.receive()
    assert output.endswith(b"\r\n2\r\nok\r\n")  # no last chunk: visibly incomplete
    assert connection.closed
    assert any("not bytes" in record.getMessage() for record in caplog.records)


def test_stream_may_yield_text_and_buffers() -> None:
    class Mixed(web.HTTPHandler):
        def do_get(self) -> tuple[int, tuple[Any, ...]]:
            return 200, (b"a", "é", bytearray(b"b"), memoryview(b"c"), b"")

    assert client_for(Mixed).get("/").body == "aébc".encode()


def test_generator_is_closed_when_head_does_not_need_it() -> None:
    events: list[str] = []

    class Tracked(web.HTTPHandler):
        def do_get(self) -> tuple[int, Iterator[bytes]]:
            def pieces() -> Iterator[bytes]:
                try:
                    events.append("started")
                    yield b"x"
                finally:
                    events.append("closed")
            generator = pieces()
            next(generator)  # started, so closing it runs its finally
            return 200, generator

    response = client_for(Tracked).head("/")
    assert response.body == b""
    assert events == ["started", "closed"]


class _RecordingFile(io.RawIOBase):
    """A pipe-like binary file: no fileno, records how it was read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return self._data.read(size)


def test_file_object_without_descriptor_is_read_in_pieces_and_closed() -> None:
    data = b"z" * (READ_SIZE * 2 + 10)
    source = _RecordingFile(data)

    class Pipe(web.HTTPHandler):
        def do_get(self) -> tuple[int, io.RawIOBase]:
            return 200, source

    response = client_for(Pipe).get("/")
    assert response.body == data
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert source.reads and all(0 < size <= READ_SIZE for size in source.reads)
    assert source.closed


def test_bytesio_body_is_streamed() -> None:
    class Memory(web.HTTPHandler):
        def do_get(self) -> tuple[int, io.BytesIO]:
            return 200, io.BytesIO(b"from memory")

    response = client_for(Memory).get("/")
    assert response.body == b"from memory"
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_real_file_is_sent_by_region_with_its_length(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    opened: list[Any] = []

    class FromDisk(web.HTTPHandler):
        def do_get(self) -> tuple[int, Any]:
            file = path.open("rb")
            file.seek(3)  # sent from the current position on
            opened.append(file)
            return 200, file

    response = client_for(FromDisk).get("/")
    assert response.body == b"3456789"
    assert response.headers["Content-Length"] == "7"
    assert opened[0].closed


def test_real_file_body_becomes_a_file_region_not_bytes(tmp_path: Path) -> None:
    # Transports hand a FileBody to sendfile: the file is never read into memory here.
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 1000)

    class FromDisk(web.HTTPHandler):
        def do_get(self) -> tuple[int, Any]:
            return 200, path.open("rb")

    call = Application({"/": FromDisk}).begin(Request("GET", "/"))
    assert not isinstance(call, web.Response)
    body = call.run().body
    assert isinstance(body, FileBody) and (body.offset, body.length) == (0, 1000)
    body.close()


def test_iterable_body_becomes_a_stream_of_unknown_length() -> None:
    class Listing(web.HTTPHandler):
        def do_get(self) -> tuple[int, tuple[bytes, ...]]:
            return 200, (b"a", b"b")

    call = Application({"/": Listing}).begin(Request("GET", "/"))
    assert not isinstance(call, web.Response)
    body = call.run().body
    assert isinstance(body, StreamBody) and body.length is None


@pytest.mark.parametrize("result", [200, (200,), (200, "a", "b", "c"), ("200", "x"), (99, "x"),
                                    (200, object())])
def test_malformed_return_value_is_a_logged_500(result: Any,
                                                caplog: pytest.LogCaptureFixture) -> None:
    class Wrong(web.HTTPHandler):
        def do_get(self) -> Any:
            return result

    response = client_for(Wrong).get("/")
    assert response.status == 500
    assert any(record.name == "webpy" and record.levelno == logging.ERROR
               for record in caplog.records)


# -- errors ----------------------------------------------------------------------


def test_http_error_carries_status_message_headers_and_reason() -> None:
    class Refuses(web.HTTPHandler):
        def do_get(self) -> None:
            raise web.HTTPError(429, "slow down", headers={"Retry-After": "30"},
                                reason="Easy There")

    response = client_for(Refuses).get("/")
    assert response.status == 429
    assert response.reason == "Easy There"
    assert response.headers["Retry-After"] == "30"
    assert response.text == "429 Easy There\nslow down\n"


def test_http_error_without_message_uses_the_standard_phrase() -> None:
    class Gone(web.HTTPHandler):
        def do_get(self) -> None:
            raise web.HTTPError(410)

    response = client_for(Gone).get("/")
    assert (response.status, response.reason, response.text) == (410, "Gone", "410 Gone\n")


def test_headers_set_before_an_error_are_not_sent() -> None:
    class HalfDone(web.HTTPHandler):
        def do_get(self) -> None:
            self.response.headers["X-Partial"] = "yes"
            raise web.HTTPError(409)

    response = client_for(HalfDone).get("/")
    assert response.status == 409
    assert "X-Partial" not in response.headers


def test_handler_exception_is_logged_with_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    class Bug(web.HTTPHandler):
        def do_get(self) -> None:
            raise KeyError("missing thing")

    response = client_for(Bug).get("/path?q=1")
    assert response.status == 500
    assert b"missing thing" not in response.body
    [record] = [record for record in caplog.records if record.name == "webpy"]
    assert record.levelno == logging.ERROR
    assert "GET /path?q=1" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)


# -- methods ---------------------------------------------------------------------


def test_head_runs_do_get_and_keeps_its_headers() -> None:
    class Tagged(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            self.response.headers["ETag"] = '"v1"'
            return 200, "body of get"

    client = client_for(Tagged)
    get, head = client.get("/"), client.head("/")
    assert head.body == b""
    assert head.headers["ETag"] == '"v1"'
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == "11"


def test_do_head_and_do_options_override_the_defaults() -> None:
    class Own(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 200, "get"

        def do_head(self) -> tuple[int, str]:
            self.response.headers["X-Head"] = "own"
            return 200, ""

        def do_options(self) -> tuple[int, str]:
            self.response.headers["Allow"] = "GET"
            return 200, "custom options"

    client = client_for(Own)
    assert client.head("/").headers["X-Head"] == "own"
    options = client.options("/")
    assert (options.status, options.text, options.headers["Allow"]) == (
        200, "custom options", "GET")


def test_options_and_405_list_only_http_method_handlers() -> None:
    class Mixed(web.HTTPHandler):
        def do_put(self) -> tuple[int, str]:
            return 200, "put"

        def do_report(self) -> tuple[int, str]:  # an extension method (WebDAV REPORT)
            return 200, "report"

        def do_not_a_method(self) -> None: ...

        def helper(self) -> None: ...

    client = client_for(Mixed)
    assert client.options("/").headers["Allow"] == "OPTIONS, PUT, REPORT"
    assert client.request("REPORT", "/").text == "report"
    refused = client.get("/")
    assert refused.status == 405 and refused.headers["Allow"] == "OPTIONS, PUT, REPORT"
    assert client.request("NOT_A_METHOD", "/").status == 501


def test_method_defined_on_another_resource_is_405_not_501() -> None:
    class Reader(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 200, "r"

    class Reporter(web.HTTPHandler):
        def do_report(self) -> tuple[int, str]:
            return 200, "report"

    client = Client({"/r": Reader, "/report": Reporter})
    assert client.request("REPORT", "/r").status == 405
    assert client.request("BREW", "/r").status == 501


# -- the request -----------------------------------------------------------------


class Inspect(web.HTTPHandler):
    """Answers with what it saw of the request, as JSON."""

    def do_get(self) -> tuple[int, str]:
        request = self.request
        return 200, json.dumps({
            "method": request.method,
            "target": request.target,
            "path": request.path,
            "raw_path": request.raw_path,
            "query_string": request.query_string,
            "query": request.query.items(),
            "first_a": request.query.get("a"),
            "all_a": request.query.get_all("a"),
            "http_version": request.http_version,
            "client": list(request.client) if request.client else None,
            "scheme": request.scheme,
            "accept": request.headers.get("ACCEPT"),
            "x_multi": request.headers.get("x-multi"),
            "x_multi_all": request.headers.get_all("X-Multi"),
            "has_host": "host" in request.headers,
        })

    do_post = do_get


def test_request_attributes_are_decoded_for_the_handler() -> None:
    seen = Client({"/.*": Inspect}, client_address=("10.0.0.7", 5555)).get(
        "/a%20b/c?a=1&b=x+y&a=%C3%A9&empty=&flag",
        headers=[("Accept", "text/plain"), ("X-Multi", "one"), ("x-multi", "two")]).json()
    assert seen == {
        "method": "GET",
        "target": "/a%20b/c?a=1&b=x+y&a=%C3%A9&empty=&flag",
        "path": "/a b/c",
        "raw_path": "/a%20b/c",
        "query_string": "a=1&b=x+y&a=%C3%A9&empty=&flag",
        "query": [["a", "1"], ["b", "x y"], ["a", "é"], ["empty", ""], ["flag", ""]],
        "first_a": "1",
        "all_a": ["1", "é"],
        "http_version": "1.1",
        "client": ["10.0.0.7", 5555],
        "scheme": "http",
        "accept": "text/plain",
        "x_multi": "one, two",
        "x_multi_all": ["one", "two"],
        "has_host": True,
    }


def test_response_headers_may_repeat() -> None:
    class Cookies(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            self.response.headers.add("Set-Cookie", "a=1")
            self.response.headers.add("set-cookie", "b=2")
            return 200, ""

    response = client_for(Cookies).get("/")
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_request_body_is_the_whole_body_as_bytes() -> None:
    class Echo(web.HTTPHandler):
        def do_post(self) -> tuple[int, bytes]:
            assert isinstance(self.request.body, bytes)
            return 200, self.request.body

    client = client_for(Echo)
    assert client.post("/", b"\x00binary\xff").body == b"\x00binary\xff"
    chunked = client.request("POST", "/", b"via chunks", headers={"Transfer-Encoding": "chunked"})
    assert chunked.body == b"via chunks"


def test_body_over_the_server_limit_is_413() -> None:
    class Echo(web.HTTPHandler):
        def do_post(self) -> tuple[int, bytes]:
            return 200, self.request.body

    client = client_for(Echo, max_body_bytes=10)
    assert client.post("/", b"x" * 10).status == 200
    assert client.post("/", b"x" * 11).status == 413


def test_handler_max_body_bytes_overrides_the_server_limit() -> None:
    class Tiny(web.HTTPHandler):
        max_body_bytes = 4

        def do_put(self) -> tuple[int, bytes]:
            return 200, self.request.body

    class Roomy(Tiny):
        max_body_bytes = 100

    client = Client({"/tiny": Tiny, "/roomy": Roomy}, limits=web.Limits(max_body_bytes=10))
    assert client.put("/tiny", b"1234").status == 200
    assert client.put("/tiny", b"12345").status == 413
    assert client.put("/roomy", b"x" * 50).status == 200
    chunked = client.request("PUT", "/tiny", b"12345", headers={"Transfer-Encoding": "chunked"})
    assert chunked.status == 413


def test_prepare_refuses_before_the_body_is_read() -> None:
    ran: list[str] = []

    class Guarded(web.HTTPHandler):
        def prepare(self) -> None:
            ran.append("prepare")
            if self.request.headers.get("Authorization") != "Bearer ok":
                raise web.HTTPError(401, headers={"WWW-Authenticate": "Bearer"})

        def do_put(self) -> tuple[int, str]:
            ran.append("put")
            return 200, "stored"

    client = client_for(Guarded)
    refused = client.put("/", b"payload")
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert ran == ["prepare"]
    assert client.put("/", b"payload", {"Authorization": "Bearer ok"}).text == "stored"


def test_prepare_failure_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(web.HTTPHandler):
        def prepare(self) -> None:
            raise ValueError("prepare bug")

        def do_get(self) -> tuple[int, str]:
            return 200, "never"

    assert client_for(Broken).get("/").status == 500
    assert any(record.exc_info and isinstance(record.exc_info[1], ValueError)
               for record in caplog.records if record.name == "webpy")


def test_streaming_handler_reads_the_body_from_the_stream() -> None:
    class Upload(web.HTTPHandler):
        stream_request_body = True

        def do_put(self) -> tuple[int, str]:
            assert self.request.body is None
            stream = self.request.stream
            assert stream is not None
            first = stream.read(4)
            rest = b"".join(iter(lambda: stream.read(3), b""))
            return 200, f"{first.decode()}|{rest.decode()}|{stream.read()!r}"

    client = client_for(Upload)
    assert client.put("/", b"0123456789").text == "0123|456789|b''"
    chunked = client.request("PUT", "/", b"abcdefg", headers={"Transfer-Encoding": "chunked"})
    assert chunked.text == "abcd|efg|b''"


def test_streaming_handler_body_over_its_limit_is_413() -> None:
    class Upload(web.HTTPHandler):
        stream_request_body = True
        max_body_bytes = 5

        def do_put(self) -> tuple[int, str]:
            assert self.request.stream is not None
            return 200, str(len(self.request.stream.read()))

    client = client_for(Upload)
    assert client.put("/", b"12345").text == "5"
    assert client.put("/", b"123456").status == 413
    chunked = {"Transfer-Encoding": "chunked"}
    assert client.request("PUT", "/", b"123456", headers=chunked).status == 413


def test_decode_and_encode_hooks_shape_bodies() -> None:
    class Lines(web.HTTPHandler):
        def decode(self, body: bytes) -> list[str]:
            return body.decode().splitlines()

        def encode(self, body: Any) -> Any:
            return "\n".join(body) if isinstance(body, list) else body

        def do_post(self) -> tuple[int, list[str]]:
            return 200, [line.upper() for line in self.request.body]

    assert client_for(Lines).post("/", b"a\nb").text == "A\nB"


def test_decode_hook_may_refuse_a_body() -> None:
    class Strict(web.HTTPHandler):
        def decode(self, body: bytes) -> str:
            try:
                return body.decode("ascii")
            except UnicodeDecodeError:
                raise web.HTTPError(400, "ASCII only") from None

        def do_post(self) -> tuple[int, str]:
            return 200, self.request.body

    client = client_for(Strict)
    assert client.post("/", b"plain").text == "plain"
    refused = client.post("/", "é")
    assert (refused.status, refused.text) == (400, "400 Bad Request\nASCII only\n")


def test_memory_client_speaks_json_and_raw_bytes() -> None:
    class Echo(web.HTTPHandler):
        def do_post(self) -> tuple[int, bytes]:
            self.response.headers["Content-Type"] = self.request.headers["Content-Type"]
            return 200, self.request.body

    client = client_for(Echo)
    assert client.post("/", json={"a": [1, 2]}).json() == {"a": [1, 2]}
    raw = client.raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/x\r\n"
                     b"Content-Length: 2\r\n\r\nhi")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(b"\r\n\r\nhi")


@pytest.mark.parametrize("reason", ["Fine\r\nX-Injected: yes", "Fine\nX: y", "Nul\x00", "✓"])
def test_unwritable_reason_phrase_is_a_logged_500(reason: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    class Returns(web.HTTPHandler):
        def do_get(self) -> tuple[int, str, str]:
            return 200, reason, "must not be sent"

    class Raises(web.HTTPHandler):
        def do_get(self) -> None:
            raise web.HTTPError(400, reason=reason)

    client = Client({"/returns": Returns, "/raises": Raises})
    for target in ("/returns", "/raises"):
        response = client.get(target)
        assert (response.status, response.reason) == (500, "Internal Server Error")
        assert "X-Injected" not in response.headers
        assert b"must not be sent" not in response.body
    logged = [record.getMessage() for record in caplog.records
              if record.name == "webpy" and record.levelno == logging.ERROR]
    assert len(logged) == 2


def test_unwritable_custom_error_page_falls_back_to_a_bare_500(
        caplog: pytest.LogCaptureFixture) -> None:
    class BadPage(web.HTTPErrorHandler):
        def respond(self) -> tuple[int, str]:
            self.response.headers["X-Page"] = "broken\r\nvalue"
            return self.error.status_code, "custom page"

    class BadHeader(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            self.response.headers["X-Handler"] = "broken\nvalue"
            return 200, "never"

    client = Client({"/": BadHeader}, {"500": BadPage})
    response = client.get("/")
    assert response.status == 500
    assert "X-Page" not in response.headers and "X-Handler" not in response.headers
    # The connection survived: a second request on it is still answered.
    connection = client.connect()
    connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
    assert connection.receive().count(b"HTTP/1.1 500 Internal Server Error\r\n") == 2
    assert len([record for record in caplog.records if record.name == "webpy"]) >= 2


def test_a_plain_handler_sends_dicts_and_lists_as_json() -> None:
    class Things(web.HTTPHandler):
        def do_get(self) -> tuple[int, Any]:
            if self.request.query.get("as") == "list":
                return 200, [{"name": "x"}, "é"]
            return 200, {"name": "x", "id": 1}

    client = client_for(Things)
    one = client.get("/")
    assert one.headers["Content-Type"] == "application/json"
    assert one.headers["Content-Length"] == str(len(one.body))  # sent whole, not chunked
    assert one.json() == {"name": "x", "id": 1}
    many = client.get("/?as=list")
    assert (many.headers["Content-Type"], many.json()) == ("application/json",
                                                           [{"name": "x"}, "é"])


def test_a_handler_may_type_its_json_itself() -> None:
    class Problem(web.HTTPHandler):
        def do_get(self) -> tuple[int, dict[str, str]]:
            self.response.headers["Content-Type"] = "application/problem+json"
            return 404, {"title": "not here"}

    response = client_for(Problem).get("/")
    assert (response.status, response.headers["Content-Type"], response.json()) == (
        404, "application/problem+json", {"title": "not here"})


@pytest.mark.parametrize(("body", "type_name"), [
    (42, "int"), (object(), "object"), ({"when": object()}, "object")])
def test_a_body_of_an_unsupported_type_is_a_logged_500_naming_handler_and_type(
        body: Any, type_name: str, caplog: pytest.LogCaptureFixture) -> None:
    class Wrong(web.HTTPHandler):
        def do_get(self) -> tuple[int, Any]:
            return 200, body

    with caplog.at_level(logging.ERROR, logger="webpy"):
        assert client_for(Wrong).get("/").status == 500
    [record] = [record for record in caplog.records if record.name == "webpy"]
    assert record.exc_info is not None
    message = str(record.exc_info[1])
    assert "Wrong.do_get returned a body that cannot be sent" in message
    assert type_name in message


def test_the_client_takes_target_body_headers_in_that_order_everywhere() -> None:
    class Echo(web.HTTPHandler):
        def do_put(self) -> tuple[int, str]:
            return 200, f"{self.request.headers.get('X-Tag')}: {self.request.body.decode()}"

    client = client_for(Echo)
    assert client.put("/", b"body", {"X-Tag": "put"}).text == "put: body"
    assert client.request("PUT", "/", b"body", {"X-Tag": "request"}).text == "request: body"
    assert client.request("PUT", "/", body="body", headers={"X-Tag": "keywords"}).text == \
        "keywords: body"
    with pytest.raises(TypeError, match=r"\(method, target, body, headers\)"):
        client.request("PUT", "/", {"X-Tag": "the old order"}, b"body")  # type: ignore[arg-type]
