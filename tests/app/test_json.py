"""The JSON extension: parsed request bodies, serialised dicts and lists."""

from __future__ import annotations

import json
from typing import Any

import pytest

import webpy as web
from webpy.app.forms import Form, FormHandler
from webpy.app.json import JSONHandler, is_json_type
from webpy.transports.memory import Client


class Echo(JSONHandler):
    """Answers with the type and value it received."""

    def do_post(self) -> tuple[int, Any]:
        body = self.request.body
        return 200, {"type": type(body).__name__,
                     "value": body if not isinstance(body, bytes) else body.decode()}

    def do_get(self) -> tuple[int, Any]:
        kind = self.request.query.get("kind")
        if kind == "list":
            return 200, [1, "two", None, {"é": True}]
        if kind == "text":
            return 200, "plain text"
        if kind == "typed":
            self.response.headers["Content-Type"] = "application/problem+json"
            return 400, {"title": "typed by the handler"}
        if kind == "unserialisable":
            return 200, {"when": object()}
        return 200, {"hello": "wörld"}


class Pretty(JSONHandler):
    def dumps(self, body: Any) -> bytes:
        return json.dumps(body, indent=2, sort_keys=True).encode()

    def do_get(self) -> tuple[int, dict[str, int]]:
        return 200, {"b": 1, "a": 2}


@pytest.fixture
def client() -> Client:
    return Client({"/echo": Echo, "/pretty": Pretty})


def test_json_request_body_is_parsed(client: Client) -> None:
    response = client.post("/echo", json={"a": [1, 2.5, None]})
    assert response.json() == {"type": "dict", "value": {"a": [1, 2.5, None]}}


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8",
                                          "application/merge-patch+json"])
def test_json_content_types_are_recognised(client: Client, content_type: str) -> None:
    response = client.post("/echo", b"[1, 2]", {"Content-Type": content_type})
    assert response.json() == {"type": "list", "value": [1, 2]}


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded",  # what `curl -d '{"a":1}'` sends
    "text/plain", "multipart/form-data; boundary=x", "application/xml"])
def test_a_body_of_another_type_is_415_naming_the_type_expected(
        client: Client, content_type: str) -> None:
    response = client.post("/echo", b'{"a":1}', {"Content-Type": content_type})
    assert response.status == 415
    assert "must be JSON (Content-Type: application/json)" in response.text
    assert response.headers["Accept"] == "application/json"
    assert content_type.split(";")[0] not in response.text  # nothing the client sent is echoed


def test_a_body_of_another_type_is_refused_before_it_is_sent() -> None:
    connection = Client({"/echo": Echo}).connect()
    connection.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: 7\r\nExpect: 100-continue\r\n\r\n")
    head = connection.receive()
    assert head.startswith(b"HTTP/1.1 415 ")
    assert b"100 Continue" not in head


def test_a_body_without_a_content_type_is_parsed_as_json(client: Client) -> None:
    response = client.post("/echo", b'{"a": 1}')
    assert response.json() == {"type": "dict", "value": {"a": 1}}
    assert client.post("/echo", b"not json").status == 400


def test_requests_without_a_body_need_no_content_type(client: Client) -> None:
    assert client.post("/echo", b"", {"Content-Type": "text/plain"}).json() == {
        "type": "bytes", "value": ""}


def test_empty_json_body_is_none(client: Client) -> None:
    response = client.post("/echo", b"", {"Content-Type": "application/json"})
    assert response.json() == {"type": "NoneType", "value": None}


@pytest.mark.parametrize("body", [b"{", b"{'single': 'quotes'}", b"[1,]", b"\xff\xfe{}",
                                  b"NaN-ish", b"[" * 100_000 + b"]" * 100_000])
def test_invalid_json_is_400_before_the_handler_runs(client: Client, body: bytes) -> None:
    response = client.post("/echo", body, {"Content-Type": "application/json"})
    assert response.status == 400
    assert response.text.startswith("400 Bad Request\nrequest body is not valid JSON")


def test_dict_and_list_bodies_are_sent_as_json(client: Client) -> None:
    response = client.get("/echo")
    assert response.headers["Content-Type"] == "application/json"
    assert response.body == '{"hello": "wörld"}'.encode()
    assert client.get("/echo?kind=list").json() == [1, "two", None, {"é": True}]


def test_other_bodies_are_sent_as_usual(client: Client) -> None:
    response = client.get("/echo?kind=text")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text == "plain text"


def test_handler_content_type_is_kept_for_json(client: Client) -> None:
    response = client.get("/echo?kind=typed")
    assert response.status == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json() == {"title": "typed by the handler"}


def test_head_of_a_json_resource_has_its_length(client: Client) -> None:
    get, head = client.get("/echo"), client.head("/echo")
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["Content-Type"] == "application/json"
    assert head.body == b""


def test_unserialisable_body_is_a_logged_500(client: Client,
                                             caplog: pytest.LogCaptureFixture) -> None:
    assert client.get("/echo?kind=unserialisable").status == 500
    assert any(record.name == "webpy" for record in caplog.records)


def test_dumps_can_be_overridden(client: Client) -> None:
    assert client.get("/pretty").body == json.dumps({"a": 2, "b": 1}, indent=2).encode()


def test_json_handler_is_an_http_handler() -> None:
    assert issubclass(JSONHandler, web.HTTPHandler)


@pytest.mark.parametrize(("value", "expected"), [
    ("application/json", True), ("application/ld+json; profile=x", True),
    (" APPLICATION/JSON ", True), ("text/json", False), ("application/jsonx", False),
    ("application/json-seq", False), ("", False), (None, False), ("json", False),
])
def test_is_json_type(value: str | None, expected: bool) -> None:
    assert is_json_type(value) is expected


def test_bodies_it_does_not_handle_go_to_the_next_base() -> None:
    class Upper(web.HTTPHandler):
        def decode(self, body: bytes) -> Any:
            return body.upper()

        def encode(self, body: Any) -> Any:
            return f"<{body}>" if isinstance(body, str) else body

    class Both(JSONHandler, Upper):
        def do_post(self) -> tuple[int, Any]:
            body = self.request.body
            return 200, body.decode() if isinstance(body, bytes) else {"json": body}

    client = Client({"/": Both})
    assert client.post("/", b"text", {"Content-Type": "text/plain"}).text == "<TEXT>"
    assert client.post("/", json=[1]).json() == {"json": [1]}


def test_a_form_base_after_it_still_gets_forms() -> None:
    class FormsToo(JSONHandler, FormHandler):
        def do_post(self) -> tuple[int, Any]:
            body = self.request.body
            return 200, {"form": dict(body.items())} if isinstance(body, Form) else {"json": body}

    client = Client({"/": FormsToo})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.post("/", b"a=1", form).json() == {"form": {"a": "1"}}
