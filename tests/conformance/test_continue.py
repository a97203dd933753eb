"""`Expect: 100-continue`: the 100 goes out only when the body is wanted."""

from __future__ import annotations

from harness import Harness, ResponseReader

from conformance.support import exchange, read_informational, request, serving

EXPECT = "Expect: 100-continue"


def test_continue_is_sent_before_the_body_is_read(harness: Harness) -> None:
    with serving(harness) as server:
        connection = server.connect()
        connection.send(request("PUT", "/echo", EXPECT, "Content-Length: 5"))
        status_line, rest = read_informational(connection)
        assert status_line == b"HTTP/1.1 100 Continue"
        assert rest == b""
        reader = ResponseReader(connection)
        connection.send(b"hello")
        response = reader.read("PUT")
        assert response is not None
        assert response.status == 200
        assert response.body == b"hello"
        connection.close()


def test_continue_is_sent_when_the_body_came_with_the_head(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(
            server, request("PUT", "/echo", EXPECT, "Content-Length: 5", body=b"hello"), "PUT")
        assert response.status == 200
        assert response.body == b"hello"
        reader.connection.close()


def _refused_without_continue(harness: Harness, data: bytes, status: int) -> None:
    with serving(harness, max_body_bytes=64) as server:
        response, reader = exchange(server, data, "PUT")
        assert response.status == status
        assert response.interim == ()
        # The client was told to wait and never sent the body: the connection closes.
        assert response.headers["Connection"] == "close"
        assert reader.at_eof()


def test_no_continue_for_unrouted_path(harness: Harness) -> None:
    data = request("PUT", "/nowhere", EXPECT, "Content-Length: 5")
    _refused_without_continue(harness, data, 404)


def test_no_continue_for_method_not_allowed(harness: Harness) -> None:
    data = request("PATCH", "/echo", EXPECT, "Content-Length: 5")
    _refused_without_continue(harness, data, 405)


def test_no_continue_when_content_length_is_over_the_limit(harness: Harness) -> None:
    data = request("PUT", "/echo", EXPECT, "Content-Length: 65")
    _refused_without_continue(harness, data, 413)


def test_no_continue_when_content_length_is_over_the_handler_limit(harness: Harness) -> None:
    data = request("PUT", "/small", EXPECT, "Content-Length: 9")
    _refused_without_continue(harness, data, 413)


def test_no_continue_when_prepare_refuses(harness: Harness) -> None:
    data = request("PUT", "/refuses", EXPECT, "Content-Length: 5")
    with serving(harness) as server:
        response, reader = exchange(server, data, "PUT")
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="test"'
        assert response.interim == ()
        assert reader.at_eof()


def test_no_continue_when_a_streaming_handler_never_reads(harness: Harness) -> None:
    data = request("PUT", "/reads-nothing", EXPECT, "Content-Length: 5")
    _refused_without_continue(harness, data, 202)
