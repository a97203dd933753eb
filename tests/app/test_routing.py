"""Routes pick handlers; error routes pick error pages."""

from __future__ import annotations

import pytest

import webpy as web
from webpy.app.routing import RouteError
from webpy.transports.memory import Client


class Named(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, f"named {self.groups['kind']}/{self.groups['id']} ({len(self.groups)})"


class Positional(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, f"positional {self.groups[0]}|{self.groups[1]} {list(self.groups)}"


class Specific(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, "specific"


class CatchAll(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, f"catch-all {self.request.path}"


class Optional(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, f"optional {self.groups[0]!r}"


ROUTES = {
    "/items/(?P<kind>[a-z]+)/(?P<id>[0-9]+)": Named,
    "/pair/([^/]*)/([^/]*)": Positional,
    "/specific": Specific,
    "/opt(/.*)?": Optional,
    "/.*": CatchAll,
    "/specific-but-shadowed": Specific,
}


@pytest.fixture
def client() -> Client:
    return Client(ROUTES)


def test_first_matching_route_wins(client: Client) -> None:
    assert client.get("/specific").text == "specific"
    # Listed after the catch-all, so never reached.
    assert client.get("/specific-but-shadowed").text == "catch-all /specific-but-shadowed"


def test_route_must_match_the_whole_path(client: Client) -> None:
    assert client.get("/specific/more").text == "catch-all /specific/more"
    assert client.get("/items/a/1x").text == "catch-all /items/a/1x"


def test_no_matching_route_is_404() -> None:
    response = Client({"/only": Specific}).get("/other")
    assert response.status == 404
    assert response.reason == "Not Found"
    assert response.text == "404 Not Found\n"


def test_named_groups_are_available_by_name(client: Client) -> None:
    assert client.get("/items/book/42").text == "named book/42 (2)"


def test_positional_groups_are_available_by_index(client: Client) -> None:
    assert client.get("/pair/a/b").text == "positional a|b ['a', 'b']"


def test_unmatched_optional_group_is_none(client: Client) -> None:
    assert client.get("/opt").text == "optional None"
    assert client.get("/opt/x").text == "optional '/x'"


def test_route_matches_the_decoded_path(client: Client) -> None:
    assert client.get("/pair/a%20b/c%3Fd").text == "positional a b|c?d ['a b', 'c?d']"
    assert client.get("/sp%65cific").text == "specific"
    # An encoded slash is a slash once decoded, so it separates segments for routing.
    assert client.get("/pair/a/b%2Fc").text == "catch-all /pair/a/b/c"


def test_query_string_is_not_part_of_the_path(client: Client) -> None:
    assert client.get("/specific?x=/other").text == "specific"


def test_group_index_out_of_range_is_an_error_in_the_handler() -> None:
    class Greedy(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 200, self.groups[5]

    response = Client({"/(x)": Greedy}).get("/x")
    assert response.status == 500


class NotFoundPage(web.HTTPErrorHandler):
    def respond(self) -> tuple[int, str]:
        assert self.request is not None
        self.response.headers["Content-Type"] = "text/html"
        return 404, f"<h1>Nothing at {self.request.path}</h1>"


class AnyServerError(web.HTTPErrorHandler):
    def respond(self) -> tuple[int, str, str]:
        return self.error.status_code, "Oops", f"server error {self.error.status_code}"


class BadRequestPage(web.HTTPErrorHandler):
    def respond(self) -> tuple[int, str]:
        where = "no request" if self.request is None else self.request.path
        return self.error.status_code, f"bad: {where}: {self.error.message}"


class BrokenPage(web.HTTPErrorHandler):
    def respond(self) -> tuple[int, str]:
        raise RuntimeError("the error page itself fails")


class Fails(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        raise web.HTTPError(503, "try later")

    def do_post(self) -> tuple[int, str]:
        raise RuntimeError("bug")


ERROR_ROUTES = {"404": NotFoundPage, "5[0-9][0-9]": AnyServerError, "400": BadRequestPage,
                "418": BrokenPage}


def test_error_routes_customise_error_pages() -> None:
    client = Client({"/fails": Fails}, ERROR_ROUTES)
    missing = client.get("/missing")
    assert missing.status == 404
    assert missing.headers["Content-Type"] == "text/html"
    assert missing.text == "<h1>Nothing at /missing</h1>"
    failing = client.get("/fails")
    assert (failing.status, failing.reason, failing.text) == (503, "Oops", "server error 503")
    crashing = client.post("/fails")
    assert (crashing.status, crashing.text) == (500, "server error 500")


def test_error_route_serves_protocol_errors_without_a_request() -> None:
    client = Client({"/": Specific}, ERROR_ROUTES)
    output = client.raw(b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n")
    assert output.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert output.endswith(b"bad: no request: more than one Host in the Host field")


def test_failing_error_page_falls_back_to_the_default(caplog: pytest.LogCaptureFixture) -> None:
    class Teapot(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            raise web.HTTPError(418)

    response = Client({"/": Teapot}, ERROR_ROUTES).get("/")
    assert response.status == 418
    assert response.text.startswith("418 ")
    assert any("BrokenPage" in record.getMessage() for record in caplog.records)


def hello_function() -> tuple[int, str]:
    return 200, "a function, not a handler class"


@pytest.mark.parametrize(("routes", "named"), [
    ({"/": hello_function}, ["'/'", "function hello_function", "HTTPHandler"]),
    ({"/a": Specific, "/b": 42}, ["'/b'", "int 42"]),
    ({"/items/(\\d+": Specific}, ["'/items/(\\\\d+'", "not a valid regular expression"]),
    ([("/", Specific)], ["must be a dict", "not a list"]),
])
def test_a_route_table_that_cannot_be_served_is_refused_when_built(
        routes: object, named: list[str]) -> None:
    with pytest.raises(RouteError) as refused:
        web.HTTPServer(("127.0.0.1", 0), routes)  # type: ignore[arg-type]
    for words in named:
        assert words in str(refused.value)
    with pytest.raises(RouteError):
        Client(routes)  # type: ignore[arg-type]


def test_an_error_route_to_a_plain_handler_is_refused() -> None:
    with pytest.raises(RouteError, match=r"'404' maps to class Specific.*HTTPErrorHandler"):
        Client({"/": Specific}, {"404": Specific})  # type: ignore[dict-item]
