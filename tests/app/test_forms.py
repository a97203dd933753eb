"""The forms extension: urlencoded and multipart bodies parsed into a `Form`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from conformance.support import exchange, request, serving
from harness import CLIENT_TIMEOUT, Harness
from hypothesis import given
from hypothesis import strategies as st

import webpy as web
from webpy.app.forms import Form, FormHandler, UploadedFile
from webpy.transports.memory import Client

URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}
#: What the handlers below saw: which hooks ran.
calls: list[str] = []


def describe(form: Form) -> dict[str, Any]:
    """A form as JSON: fields as pairs, files as [name, filename, type, text of the bytes]."""
    return {"fields": form.items(),
            "files": [[name, file.filename, file.content_type, file.data.decode("latin-1")]
                      for name, file in form.files.items()]}


class Echo(FormHandler):
    """Answers with the form it got, as JSON."""

    def do_post(self) -> tuple[int, str]:
        calls.append("post")
        return 200, json.dumps(describe(self.request.body))

    do_put = do_post

    def do_get(self) -> tuple[int, str]:
        return 200, json.dumps(describe(self.request.body))


class Small(Echo):
    max_body_bytes = 100


class FewFields(Echo):
    max_form_fields = 3


ROUTES: dict[str, type[web.HTTPHandler]] = {"/echo": Echo, "/small": Small, "/few": FewFields}


def multipart(data: Any = None, files: Any = None) -> tuple[bytes, dict[str, str]]:
    """A real multipart body as httpx encodes it, and its Content-Type field."""
    encoded = httpx.Request("POST", "http://test/", data=data, files=files)
    return encoded.read(), {"Content-Type": encoded.headers["Content-Type"]}


def handwritten(*parts: bytes, boundary: bytes = b"XyZ") -> tuple[bytes, dict[str, str]]:
    """A multipart body from raw parts (headers, blank line, content), for malformed cases."""
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary + b"--\r\n", {
        "Content-Type": "multipart/form-data; boundary=" + boundary.decode()}


@pytest.fixture
def client() -> Iterator[Client]:
    calls.clear()
    yield Client(ROUTES)


@pytest.fixture
def server() -> Iterator[web.HTTPServer]:
    httpd = web.HTTPServer(("127.0.0.1", 0), ROUTES, threads=2)
    httpd.start()
    try:
        yield httpd
    finally:
        httpd.stop()


# -- urlencoded -----------------------------------------------------------------------


def test_urlencoded_fields_repeated_names_and_blanks_are_kept_in_order(client: Client) -> None:
    response = client.post("/echo", b"a=1&b=two+words&a=3&empty=&flag", URLENCODED)
    assert response.json()["fields"] == [["a", "1"], ["b", "two words"], ["a", "3"],
                                         ["empty", ""], ["flag", ""]]


def test_urlencoded_escapes_are_utf8(client: Client) -> None:
    response = client.post("/echo", b"caf%C3%A9=%E2%9C%93&q=a%26b%3Dc", URLENCODED)
    assert response.json()["fields"] == [["café", "✓"], ["q", "a&b=c"]]


@pytest.mark.parametrize("body", [b"name=%FF", b"name=%C3", b"caf\xc3\xa9=1", b"a=\x80"])
def test_urlencoded_encoding_errors_are_400(client: Client, body: bytes) -> None:
    response = client.post("/echo", body, URLENCODED)
    assert response.status == 400
    assert calls == []


def test_urlencoded_content_type_parameters_are_ignored(client: Client) -> None:
    response = client.post("/echo", b"a=1", {
        "Content-Type": "Application/X-WWW-Form-URLEncoded; charset=UTF-8"})
    assert response.json()["fields"] == [["a", "1"]]


# -- multipart ------------------------------------------------------------------------


def test_multipart_fields_repeated_names_and_files(client: Client) -> None:
    body, headers = multipart(
        data={"title": "Holiday ✓", "tag": ["sea", "sun"]},
        files=[("photo", ("beach.jpg", b"\xff\xd8binary\r\n--not a boundary\r", "image/jpeg")),
               ("photo", ("notes.txt", b"line 1\nline 2\n", "text/plain")),
               ("raw", ("data.bin", bytes(range(256)), "application/octet-stream"))])
    response = client.post("/echo", body, headers)
    assert response.json() == {
        "fields": [["title", "Holiday ✓"], ["tag", "sea"], ["tag", "sun"]],
        "files": [["photo", "beach.jpg", "image/jpeg", "\xff\xd8binary\r\n--not a boundary\r"],
                  ["photo", "notes.txt", "text/plain", "line 1\nline 2\n"],
                  ["raw", "data.bin", "application/octet-stream",
                   bytes(range(256)).decode("latin-1")]]}


def test_the_form_object_gives_fields_and_files_by_name() -> None:
    seen: list[Form] = []

    class Keep(FormHandler):
        def do_post(self) -> tuple[int, None]:
            seen.append(self.request.body)
            return 204, None

    body, headers = multipart(data={"a": ["1", "2"]},
                              files=[("f", ("x.txt", b"x", "text/plain")),
                                     ("f", ("y.txt", b"y", "text/plain"))])
    assert Client({"/": Keep}).post("/", body, headers).status == 204
    [form] = seen
    assert isinstance(form, web.MultiDict)
    assert (form["a"], form.get_all("a"), "f" in form, len(form)) == ("1", ["1", "2"], False, 1)
    assert form.files["f"] == UploadedFile("x.txt", "text/plain", b"x")
    assert [file.filename for file in form.files.get_all("f")] == ["x.txt", "y.txt"]
    assert ("f" in form.files, "a" in form.files, list(form.files), len(form.files)) == (
        True, False, ["f"], 1)
    assert form.files.get("missing") is None
    with pytest.raises(KeyError):
        form.files["missing"]


def test_multipart_names_and_filenames_may_be_utf8_raw_or_rfc2231(client: Client) -> None:
    body, headers = multipart(data={"prénom": "Zoë"},
                              files={"pièce": ("résumé ✓.txt", b"cv", "text/plain")})
    assert client.post("/echo", body, headers).json() == {
        "fields": [["prénom", "Zoë"]], "files": [["pièce", "résumé ✓.txt", "text/plain", "cv"]]}
    body, headers = handwritten(b"Content-Disposition: form-data; name*=UTF-8''n%C3%A9; "
                                b"filename*=UTF-8''r%C3%A9sum%C3%A9.txt\r\n\r\ncv")
    assert client.post("/echo", body, headers).json()["files"] == [
        ["né", "résumé.txt", "text/plain", "cv"]]


def test_multipart_text_field_may_name_its_charset(client: Client) -> None:
    body, headers = handwritten(b'Content-Disposition: form-data; name="city"\r\n'
                                b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nOr\xe9ans")
    assert client.post("/echo", body, headers).json()["fields"] == [["city", "Oréans"]]


def test_empty_file_input_is_a_file_with_an_empty_name(client: Client) -> None:
    body, headers = handwritten(
        b'Content-Disposition: form-data; name="upload"; filename=""\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n",
        b'Content-Disposition: form-data; name="note"\r\n\r\n')
    assert client.post("/echo", body, headers).json() == {
        "fields": [["note", ""]], "files": [["upload", "", "application/octet-stream", ""]]}


def test_quotes_and_spaces_in_names_are_kept_as_sent(client: Client) -> None:
    body, headers = handwritten(
        b'Content-Disposition: form-data; name=" a "; filename="\\"quoted\\" .txt "\r\n\r\nx',
        b'Content-Disposition: form-data; name="replacement \xef\xbf\xbd kept"\r\n\r\ny')
    assert client.post("/echo", body, headers).json() == {
        "fields": [["replacement \ufffd kept", "y"]],
        "files": [[" a ", '"quoted" .txt ', "text/plain", "x"]]}


def test_file_part_without_a_type_is_text_plain(client: Client) -> None:
    body, headers = handwritten(b'Content-Disposition: form-data; name="f"; filename="a"\r\n\r\nx')
    assert client.post("/echo", body, headers).json()["files"] == [["f", "a", "text/plain", "x"]]


def test_multipart_form_without_fields_is_an_empty_form(client: Client) -> None:
    body = b"--XyZ--\r\n"
    response = client.post("/echo", body, {"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert response.json() == {"fields": [], "files": []}


@pytest.mark.parametrize(("body", "content_type"), [
    pytest.param(*handwritten(b'Content-Disposition: form-data; name="a"\r\n\r\nv'
                              )[:1], "multipart/form-data", id="no boundary parameter"),
    pytest.param(b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n",
                 None, id="no closing delimiter"),
    pytest.param(b"just some bytes", None, id="no delimiter at all"),
    pytest.param(*handwritten(b"Content-Type: text/plain\r\n\r\nv")[:1], None,
                 id="part without Content-Disposition"),
    pytest.param(*handwritten(b'Content-Disposition: attachment; name="a"\r\n\r\nv')[:1], None,
                 id="part not form-data"),
    pytest.param(*handwritten(b"Content-Disposition: form-data\r\n\r\nv")[:1], None,
                 id="part without a name"),
    pytest.param(*handwritten(b'Content-Disposition: form-data; name="a"; name="b"\r\n\r\nv'
                              )[:1], None, id="two names"),
    pytest.param(*handwritten(b'Content-Disposition: form-data; name="a"\r\n'
                              b'Content-Disposition: form-data; name="b"\r\n\r\nv')[:1], None,
                 id="two Content-Dispositions"),
    pytest.param(*handwritten(b'Content-Disposition: form-data; name="a"\r\nno colon\r\n\r\nv'
                              )[:1], None, id="broken part header"),
    pytest.param(*handwritten(b'Content-Disposition: form-data; name="\xff"\r\n\r\nv')[:1], None,
                 id="part header not UTF-8"),
    pytest.param(*handwritten(b"Content-Disposition: form-data; name*=UTF-8''%FF\r\n\r\nv")[:1],
                 None, id="RFC 2231 name not UTF-8"),
    pytest.param(*handwritten(b'Content-Disposition: form-data; name="a"\r\n\r\n\xff')[:1], None,
                 id="text field not UTF-8"),
    pytest.param(*handwritten(b'Content-Disposition: form-data; name="a"\r\n'
                              b"Content-Type: text/plain; charset=no-such-charset\r\n\r\nv")[:1],
                 None, id="unknown charset"),
    pytest.param(*handwritten(b'Content-Disposition: form-data; name="a"\r\n'
                              b"Content-Transfer-Encoding: base64\r\n\r\n!!!")[:1], None,
                 id="broken transfer encoding"),
    pytest.param(*handwritten(b'Content-Disposition: form-data; name="files"\r\n'
                              b"Content-Type: multipart/mixed; boundary=inner\r\n\r\n"
                              b"--inner\r\nContent-Type: text/plain\r\n\r\nx\r\n--inner--")[:1],
                 None, id="nested multipart"),
])
def test_malformed_multipart_is_400_before_the_handler_runs(
        client: Client, body: bytes, content_type: str | None) -> None:
    headers = {"Content-Type": content_type or "multipart/form-data; boundary=XyZ"}
    response = client.post("/echo", body, headers)
    assert response.status == 400
    assert calls == []


# -- media types and limits -------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "text/plain",
                                          "multipart/mixed; boundary=XyZ", "form-data", None])
def test_other_content_types_are_415_listing_the_form_types(
        client: Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/echo", b'{"a": 1}', headers)
    assert response.status == 415
    assert response.headers["Accept"] == (
        "application/x-www-form-urlencoded, multipart/form-data")
    assert calls == []


def test_wrong_content_type_is_refused_before_the_body_is_sent(harness: Harness) -> None:
    data = request("POST", "/echo", "Expect: 100-continue", "Content-Length: 5000",
                   "Content-Type: application/json")
    with serving(harness, ROUTES) as running:
        response, reader = exchange(running, data, "POST")
        assert response.status == 415
        assert response.interim == ()
        assert reader.at_eof()


def test_request_without_a_body_gets_an_empty_form(client: Client) -> None:
    assert client.get("/echo").json() == {"fields": [], "files": []}
    assert client.post("/echo", b"").json() == {"fields": [], "files": []}
    assert client.post("/echo", b"", {"Content-Type": "text/plain"}).status == 200


def test_body_over_the_handler_limit_is_413_before_parsing(client: Client) -> None:
    fits = b"a=" + b"x" * 98
    assert client.post("/small", fits, URLENCODED).status == 200
    assert client.post("/small", fits + b"x", URLENCODED).status == 413
    body, headers = multipart(files={"f": ("big.bin", b"x" * 200, "application/octet-stream")})
    assert client.post("/small", body, headers).status == 413
    chunked = client.request("POST", "/small", fits + b"x",
                             headers={**URLENCODED, "Transfer-Encoding": "chunked"})
    assert chunked.status == 413
    assert calls == ["post"]


def test_body_over_the_server_limit_is_413() -> None:
    limited = Client(ROUTES, limits=web.Limits(max_body_bytes=50))
    body, headers = multipart(data={"text": "x" * 50})
    assert limited.post("/echo", body, headers).status == 413


def test_more_fields_than_the_handler_allows_is_413(client: Client) -> None:
    assert client.post("/few", b"a=1&b=2&c=3", URLENCODED).status == 200
    assert client.post("/few", b"a=1&b=2&c=3&d=4", URLENCODED).status == 413
    three, headers = multipart(data={"a": "1", "b": "2"}, files={"c": ("c", b"3", "text/plain")})
    assert client.post("/few", three, headers).status == 200
    four, headers = multipart(data={"a": ["1", "2", "3", "4"]})
    assert client.post("/few", four, headers).status == 413
    assert calls == ["post", "post"]


# -- properties -----------------------------------------------------------------------

field_names = st.text(st.characters(blacklist_categories=("Cs", "Cc"),
                                    blacklist_characters='"%\\'), min_size=1, max_size=10)
field_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(st.lists(st.tuples(field_names, field_values), max_size=8))
def test_any_urlencoded_fields_come_back_as_sent(fields: list[tuple[str, str]]) -> None:
    body = urlencode(fields)
    response = Client(ROUTES).post("/echo", body, URLENCODED)
    assert [tuple(pair) for pair in response.json()["fields"]] == fields


@given(st.dictionaries(field_names, st.lists(field_values, min_size=1, max_size=3), max_size=4),
       st.lists(st.tuples(field_names, field_names, st.binary(max_size=64)), min_size=1,
                max_size=3))
def test_any_multipart_fields_and_files_come_back_as_sent(
        fields: dict[str, list[str]], files: list[tuple[str, str, bytes]]) -> None:
    body, headers = multipart(data=fields, files=[
        (name, (filename, data, "application/octet-stream")) for name, filename, data in files])
    response = Client(ROUTES).post("/echo", body, headers)
    assert response.json() == {
        "fields": [[name, value] for name, values in fields.items() for value in values],
        "files": [[name, filename, "application/octet-stream", data.decode("latin-1")]
                  for name, filename, data in files]}


@given(st.binary(max_size=300), st.sampled_from([
    "multipart/form-data; boundary=XyZ", "application/x-www-form-urlencoded"]))
def test_any_body_is_a_form_or_a_400_never_a_crash(body: bytes, content_type: str) -> None:
    response = Client(ROUTES).post("/echo", b"--XyZ\r\n" + body, {"Content-Type": content_type})
    assert response.status in (200, 400)


# -- over a real socket ----------------------------------------------------------------


def test_httpx_forms_over_a_socket(server: web.HTTPServer) -> None:
    with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
        plain = http.post("/echo", data={"a": ["1", "2"], "b": "é"})
        assert plain.json() == {"fields": [["a", "1"], ["a", "2"], ["b", "é"]], "files": []}
        upload = http.post("/echo", data={"title": "t"},
                           files={"doc": ("d.txt", b"contents\r\n", "text/plain")})
        assert upload.json() == {"fields": [["title", "t"]],
                                 "files": [["doc", "d.txt", "text/plain", "contents\r\n"]]}
        assert http.post("/echo", json={"a": 1}).status_code == 415
        too_big = http.post("/small", files={"f": ("f", b"x" * 1000, "text/plain")})
        assert too_big.status_code == 413


class Upload(FormHandler):
    """The README's upload handler: reads a field and a file the client may not send."""

    def do_post(self) -> tuple[int, str]:
        form = self.request.body
        photo = form.files["photo"]
        return 201, f"{form['title']}: {photo.filename} ({len(photo.data)} bytes)"


def test_a_field_the_client_did_not_send_is_400_naming_it() -> None:
    client = Client({"/upload": Upload})
    photo = {"photo": ("a.jpg", b"jpg", "image/jpeg")}
    body, headers = multipart(data={"title": "Hello"}, files=photo)
    assert client.post("/upload", body, headers).text == "Hello: a.jpg (3 bytes)"
    body, headers = multipart(data={}, files={"photo": ("a.jpg", b"jpg", "image/jpeg")})
    missing_field = client.post("/upload", body, headers)
    assert (missing_field.status, missing_field.text) == (
        400, "400 Bad Request\nthe form has no field 'title'\n")
    body, headers = multipart(data={"title": "Hello"}, files={})
    missing_file = client.post("/upload", body, headers)
    assert (missing_file.status, missing_file.text) == (
        400, "400 Bad Request\nthe form has no file 'photo'\n")


def test_a_missing_field_is_still_a_key_error_to_the_handler() -> None:
    form = Form([("a", "1")])
    with pytest.raises(KeyError):
        form["b"]
    assert (form.get("b"), form.get("b", "default")) == (None, "default")
