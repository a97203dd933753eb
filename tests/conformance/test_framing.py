"""Message framing, keep-alive and pipelining, on every transport."""

from __future__ import annotations

from harness import Harness, ResponseReader

from conformance.support import exchange, random_sizes, request, send_in_pieces, serving


def test_response_with_known_length_has_content_length(harness: Harness) -> None:
    with serving(harness) as server:
        response, _ = exchange(server, request("GET", "/echo/a"))
    assert response.status == 200
    assert response.reason == "OK"
    assert response.body == b"path=/echo/a query="
    assert response.headers["Content-Length"] == str(len(response.body))
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_every_response_carries_date_and_server(harness: Harness) -> None:
    with serving(harness) as server:
        response, _ = exchange(server, request("GET", "/echo"))
    assert response.headers["Date"].endswith(" GMT")
    assert response.headers["Server"].startswith("webpy")


def test_request_body_with_content_length_reaches_the_handler(harness: Harness) -> None:
    with serving(harness) as server:
        response, _ = exchange(
            server, request("POST", "/echo", "Content-Length: 11", body=b"hello world"), "POST")
    assert response.status == 200
    assert response.body == b"hello world"


def test_chunked_request_body_is_reassembled(harness: Harness) -> None:
    body = b"5\r\nhello\r\n1;name=value\r\n \r\n5\r\nworld\r\n0\r\nTrailer: yes\r\n\r\n"
    with serving(harness) as server:
        response, reader = exchange(
            server, request("POST", "/echo", "Transfer-Encoding: chunked", body=body), "POST")
        assert response.status == 200
        assert response.body == b"hello world"
        assert response.headers.get("Connection") is None
        reader.connection.close()


def test_chunked_request_body_split_anywhere_is_reassembled(harness: Harness) -> None:
    body = b"3\r\nabc\r\n10\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"
    data = request("POST", "/echo", "Transfer-Encoding: chunked", body=body)
    with serving(harness) as server:
        for seed in range(3):
            connection = server.connect()
            reader = ResponseReader(connection)
            send_in_pieces(connection, data, random_sizes(seed, largest=7))
            response = reader.read("POST")
            assert response is not None and response.body == b"abc" + b"x" * 16
            connection.close()


def test_iterable_of_unknown_length_is_sent_chunked(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(server, request("GET", "/stream"))
        assert response.status == 200
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in response.headers
        assert response.body == b"".join(b"part %d;" % n for n in range(5))
        # The chunked framing ended the message: the connection stays usable.
        reader.connection.send(request("GET", "/echo/again"))
        again = reader.read()
        assert again is not None and again.body == b"path=/echo/again query="
        reader.connection.close()


def test_http10_stream_is_close_delimited(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(server, request("GET", "/stream", version="1.0"))
        assert response.status == 200
        assert "Transfer-Encoding" not in response.headers
        assert "Content-Length" not in response.headers
        assert response.body == b"".join(b"part %d;" % n for n in range(5))
        assert reader.at_eof()


def test_http10_known_length_has_content_length_and_closes(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(server, request("GET", "/echo", version="1.0"))
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(response.body))
        assert response.headers["Connection"] == "close"
        assert reader.at_eof()


def test_keep_alive_serves_several_requests_on_one_connection(harness: Harness) -> None:
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        for number in range(3):
            connection.send(request("GET", f"/echo/{number}"))
            response = reader.read()
            assert response is not None
            assert response.body == f"path=/echo/{number} query=".encode()
            assert "Connection" not in response.headers
        connection.send(request("POST", "/echo", "Content-Length: 3", body=b"abc"))
        response = reader.read("POST")
        assert response is not None and response.body == b"abc"
        connection.close()


def test_connection_close_is_honoured_after_the_response(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(server, request("GET", "/echo", "Connection: close"))
        assert response.status == 200
        assert response.headers["Connection"] == "close"
        assert reader.at_eof()


def test_pipelined_requests_are_answered_in_order(harness: Harness) -> None:
    data = b"".join((
        request("GET", "/echo/1"),
        request("POST", "/echo", "Content-Length: 3", body=b"two"),
        request("HEAD", "/echo/3"),
        request("GET", "/stream"),
        request("PUT", "/echo", "Transfer-Encoding: chunked", body=b"4\r\nfive\r\n0\r\n\r\n"),
        request("GET", "/echo/6", "Connection: close"),
        request("GET", "/echo/never-answered"),
    ))
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(data)
        bodies = []
        for method in ("GET", "POST", "HEAD", "GET", "PUT", "GET"):
            response = reader.read(method)
            assert response is not None and response.status == 200
            bodies.append(response.body)
        assert bodies == [b"path=/echo/1 query=", b"two", b"",
                          b"".join(b"part %d;" % n for n in range(5)), b"five",
                          b"path=/echo/6 query="]
        assert reader.at_eof()


def test_pipelined_requests_split_anywhere_are_answered_in_order(harness: Harness) -> None:
    data = b"".join(request("GET", f"/echo/{number}") for number in range(4))
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        send_in_pieces(connection, data, random_sizes(7, largest=13))
        for number in range(4):
            response = reader.read()
            assert response is not None
            assert response.body == f"path=/echo/{number} query=".encode()
        connection.close()


def test_blank_lines_before_a_request_are_ignored(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(server, b"\r\n\r\n" + request("GET", "/echo"))
        assert response.status == 200
        reader.connection.close()


def test_percent_encoded_path_and_query_are_decoded(harness: Harness) -> None:
    with serving(harness) as server:
        response, _ = exchange(server, request("GET", "/echo/a%20b?x=1&y=%C3%A9&x=2"))
    assert response.text == "path=/echo/a b query=x=1&y=é&x=2"


def test_absolute_form_target_is_routed_by_its_path(harness: Harness) -> None:
    with serving(harness) as server:
        response, _ = exchange(server, request("GET", "http://test/echo/abs?q=1"))
    assert response.body == b"path=/echo/abs query=q=1"


def test_unread_small_body_is_skipped_and_the_connection_kept(harness: Harness) -> None:
    # The body of a refused request must not be parsed as the next request.
    smuggled = request("GET", "/echo/smuggled")
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(request("POST", "/nowhere", f"Content-Length: {len(smuggled)}",
                                body=smuggled))
        refused = reader.read("POST")
        assert refused is not None and refused.status == 404
        assert "Connection" not in refused.headers
        connection.send(request("GET", "/echo/next"))
        following = reader.read()
        assert following is not None and following.body == b"path=/echo/next query="


def test_unread_chunked_body_closes_the_connection(harness: Harness) -> None:
    smuggled = request("GET", "/echo/smuggled")
    body = b"%x\r\n" % len(smuggled) + smuggled + b"\r\n0\r\n\r\n"
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(request("POST", "/nowhere", "Transfer-Encoding: chunked", body=body))
        refused = reader.read("POST")
        assert refused is not None and refused.status == 404
        assert refused.headers["Connection"] == "close"
        assert reader.at_eof()
