"""Which methods reach a handler, and what the others get, on every transport."""

from __future__ import annotations

import pytest
from harness import Harness, ResponseReader

from conformance.support import exchange, request, serving


def test_head_has_the_headers_of_get_but_no_body(harness: Harness) -> None:
    with serving(harness) as server:
        get, _ = exchange(server, request("GET", "/echo/x"))
        head, reader = exchange(server, request("HEAD", "/echo/x"), "HEAD")
        assert head.status == 200
        assert head.body == b""
        assert head.headers["Content-Length"] == get.headers["Content-Length"] != "0"
        assert head.headers["Content-Type"] == get.headers["Content-Type"]
        # No stray body bytes: the next response on the connection parses cleanly.
        reader.connection.send(request("GET", "/echo/next"))
        following = reader.read()
        assert following is not None and following.body == b"path=/echo/next query="
        reader.connection.close()


def test_head_of_a_stream_announces_chunked_and_sends_nothing(harness: Harness) -> None:
    with serving(harness) as server:
        head, reader = exchange(server, request("HEAD", "/stream"), "HEAD")
        assert head.headers["Transfer-Encoding"] == "chunked"
        assert head.body == b""
        reader.connection.send(request("GET", "/echo"))
        following = reader.read()
        assert following is not None and following.status == 200
        reader.connection.close()


def test_options_lists_the_allowed_methods(harness: Harness) -> None:
    with serving(harness) as server:
        response, _ = exchange(server, request("OPTIONS", "/echo"))
    assert response.status == 204
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST, PUT"
    assert response.body == b""


def test_method_the_resource_lacks_is_405_with_allow(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(server, request("DELETE", "/echo"))
        assert response.status == 405
        assert response.reason == "Method Not Allowed"
        assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST, PUT"
        # A refused method is an answer, not a protocol error: keep-alive continues.
        reader.connection.send(request("GET", "/echo"))
        following = reader.read()
        assert following is not None and following.status == 200
        reader.connection.close()


def test_unknown_method_is_501(harness: Harness) -> None:
    with serving(harness) as server:
        response, _ = exchange(server, request("BREW", "/echo"))
    assert response.status == 501
    assert response.reason == "Not Implemented"


@pytest.mark.parametrize("method", ["GET_HELPER", "HELPER", "get", "Get", "__INIT__",
                                    "PREPARE", "DECODE", "ENCODE", "DO_GET", "__CLASS__"])
def test_request_cannot_reach_methods_that_are_not_handlers(harness: Harness,
                                                            method: str) -> None:
    with serving(harness) as server:
        response, _ = exchange(server, request(method, "/echo"))
    assert response.status in (405, 501)
    assert b"SECRET" not in response.body


def test_unrouted_path_is_404(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(server, request("GET", "/nowhere"))
        assert response.status == 404
        assert response.reason == "Not Found"
        reader.connection.close()


def test_connect_is_refused_and_never_switches_protocols(harness: Harness) -> None:
    tunnelled = b"GET /echo HTTP/1.1\r\nHost: test\r\n\r\n"
    data = b"CONNECT test:443 HTTP/1.1\r\nHost: test:443\r\n\r\n" + tunnelled
    with serving(harness) as server:
        response, reader = exchange(server, data)
        assert response.status == 501
        assert response.headers["Connection"] == "close"
        assert reader.at_eof()


def test_upgrade_request_is_answered_as_plain_http(harness: Harness) -> None:
    data = request("GET", "/echo", "Connection: Upgrade", "Upgrade: websocket")
    with serving(harness) as server:
        response, reader = exchange(server, data)
        assert response.status == 200
        assert "Upgrade" not in response.headers
        reader.connection.send(request("GET", "/echo/after"))
        following = reader.read()
        assert following is not None and following.body == b"path=/echo/after query="
        reader.connection.close()


def test_refused_head_request_is_answered_without_a_body(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(server, b"HEAD /echo HTTP/1.1\r\nHost: a, b\r\n\r\n", "HEAD")
        assert response.status == 400
        assert response.body == b""
        assert reader.at_eof()


def test_malformed_request_after_head_gets_an_error_with_a_body(harness: Harness) -> None:
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(request("HEAD", "/echo") + b"GET /echo HTTP/1.1\nHost: test\n\n")
        head = reader.read("HEAD")
        refused = reader.read("GET")
        assert head is not None and head.status == 200
        assert refused is not None and refused.status == 400
        assert refused.body.startswith(b"400 Bad Request")
        assert reader.at_eof()
