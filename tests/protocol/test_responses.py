"""Response framing as `ServerConnection` writes it, checked on the bytes."""

from __future__ import annotations

from http import HTTPStatus

import h11
import pytest

from protocol.drive import DATE
from webpy.protocol import InvalidResponse, RequestHead, ServerConnection


def _connection_with_request(data: bytes) -> ServerConnection:
    connection = ServerConnection(server_header=b"test-server")
    connection.receive_data(data)
    head = connection.next_event()
    assert type(head) is RequestHead
    connection.next_event()  # RequestEnd (bodyless requests only here)
    return connection


def _parse(method: bytes, data: bytes) -> tuple[h11.Response, bytes, bool]:
    """Parse `data` as the response to `method`; return it, its body, and if it ended."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    response = client.next_event()
    assert type(response) is h11.Response
    body = b""
    while True:
        event = client.next_event()
        if type(event) is h11.Data:
            body += event.data
        else:
            return response, body, type(event) is h11.EndOfMessage


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_known_length_body_gets_content_length() -> None:
    connection = _connection_with_request(GET)
    data = connection.respond(200, [(b"Content-Type", b"text/plain")], b"hello", DATE)
    response, body, ended = _parse(b"GET", data)
    assert dict(response.headers)[b"content-length"] == b"5"
    assert body == b"hello" and ended


def test_unknown_length_body_is_chunked_on_http11() -> None:
    connection = _connection_with_request(GET)
    data = connection.start_response(200, [], DATE)
    for piece in (b"ab", b"", b"cde"):
        data += b"".join(connection.send_body(piece))
    data += connection.end_response()
    assert b"Transfer-Encoding: chunked\r\n" in data
    assert data.endswith(b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n")


def test_unknown_length_body_on_http10_is_close_delimited() -> None:
    connection = _connection_with_request(b"GET / HTTP/1.0\r\n\r\n")
    data = connection.start_response(200, [], DATE)
    data += b"".join(connection.send_body(b"raw")) + connection.end_response()
    assert b"Transfer-Encoding" not in data and b"Content-Length" not in data
    assert data.endswith(b"\r\n\r\nraw")
    assert connection.will_close


def test_head_response_keeps_content_length_and_sends_no_body() -> None:
    connection = _connection_with_request(HEAD)
    head = connection.start_response(200, [], DATE, content_length=1234)
    assert connection.send_body(b"x" * 1234) == []
    assert connection.end_response() == b""
    assert b"Content-Length: 1234\r\n" in head
    assert head.endswith(b"\r\n\r\n")
    assert not connection.response_has_body


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body_and_no_chunking(status: int) -> None:
    connection = _connection_with_request(GET)
    head = connection.start_response(status, [(b"Transfer-Encoding", b"chunked")], DATE,
                                     content_length=None if status == 304 else 10)
    assert connection.send_body(b"ignored") == []
    assert connection.end_response() == b""
    assert b"Transfer-Encoding" not in head
    if status == 204:
        assert b"Content-Length" not in head
    # The connection is ready for the next request at once.
    connection.receive_data(GET)
    assert type(connection.next_event()) is RequestHead


def test_framing_headers_from_the_application_are_replaced() -> None:
    connection = _connection_with_request(GET)
    headers = [(b"Content-Length", b"999"), (b"Transfer-Encoding", b"gzip")]
    data = connection.respond(200, headers, b"abc", DATE)
    assert data.count(b"Content-Length") == 1
    assert b"Content-Length: 3\r\n" in data
    assert b"Transfer-Encoding" not in data


@pytest.mark.parametrize("status", [status.value for status in HTTPStatus if status >= 200])
def test_every_status_has_a_reason_phrase(status: int) -> None:
    connection = _connection_with_request(GET)
    status_line = connection.respond(status, [], b"", DATE).split(b"\r\n")[0]
    assert status_line == b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode())


def test_unregistered_status_still_has_a_reason_phrase() -> None:
    connection = _connection_with_request(GET)
    assert connection.respond(299, [], b"", DATE).startswith(b"HTTP/1.1 299 Unknown\r\n")


def test_custom_reason_phrase_is_used() -> None:
    connection = _connection_with_request(GET)
    data = connection.respond(200, [], b"", DATE, reason=b"Fine Thanks")
    assert data.startswith(b"HTTP/1.1 200 Fine Thanks\r\n")


def test_date_and_server_head_every_response() -> None:
    connection = _connection_with_request(GET)
    data = connection.respond(404, [(b"X-A", b"b")], b"", DATE)
    lines = data.split(b"\r\n")
    assert lines[1] == b"Date: " + DATE
    assert lines[2] == b"Server: test-server"


@pytest.mark.parametrize("header", [
    (b"X-A", b"a\r\nInjected: yes"),
    (b"X-A", b"a\nb"),
    (b"X-A", b"a\rb"),
    (b"X-A", b"a\x00b"),
    (b"X\r\nInjected", b"yes"),
    (b"X A", b"b"),
    (b"", b"b"),
])
def test_unwritable_header_is_refused_before_anything_is_sent(
        header: tuple[bytes, bytes]) -> None:
    connection = _connection_with_request(GET)
    with pytest.raises(InvalidResponse):
        connection.start_response(200, [header], DATE)
    # Nothing went out, so a proper response can still be sent.
    assert connection.can_respond
    assert connection.respond(500, [], b"", DATE).startswith(b"HTTP/1.1 500 ")


def test_informational_status_is_not_a_final_response() -> None:
    connection = _connection_with_request(GET)
    with pytest.raises(InvalidResponse):
        connection.start_response(101, [], DATE)
    assert connection.can_respond


def test_body_shorter_than_its_content_length_is_refused() -> None:
    connection = _connection_with_request(GET)
    connection.start_response(200, [], DATE, content_length=10)
    connection.send_body(b"short")
    with pytest.raises(InvalidResponse):
        connection.end_response()


def test_close_flag_adds_connection_close_and_ends_the_connection() -> None:
    connection = _connection_with_request(GET)
    data = connection.respond(200, [], b"", DATE, close=True)
    assert b"Connection: close\r\n" in data
    assert connection.will_close


def test_file_body_framing_surrounds_bytes_the_caller_sends() -> None:
    connection = _connection_with_request(GET)
    head = connection.start_response(200, [], DATE)  # chunked: length not declared
    before, after = connection.send_file_body(5)
    end = connection.end_response()
    assert head + before + b"12345" + after + end == (
        head + b"5\r\n12345\r\n" + b"0\r\n\r\n")


def test_content_length_the_application_sets_on_a_streamed_body_is_kept() -> None:
    # A streamed body of a size the application knows (a file, a proxied body)
    # goes out with that length, not chunked, and keeps the connection open.
    connection = _connection_with_request(GET)
    head = connection.start_response(200, [(b"Content-Length", b"5")], DATE)
    data = head + b"".join(connection.send_body(b"ab") + connection.send_body(b"cde"))
    data += connection.end_response()
    response, body, ended = _parse(b"GET", data)
    assert dict(response.headers)[b"content-length"] == b"5"
    assert b"Transfer-Encoding" not in head
    assert body == b"abcde" and ended
    assert not connection.will_close


def test_streamed_body_longer_than_the_application_content_length_is_refused() -> None:
    connection = _connection_with_request(GET)
    connection.start_response(200, [(b"Content-Length", b"2")], DATE)
    with pytest.raises(InvalidResponse):
        connection.send_body(b"abc")
    assert connection.will_close


def test_informational_status_never_reaches_the_state_of_a_sent_response() -> None:
    # A refused start leaves the connection able to answer properly.
    connection = _connection_with_request(GET)
    with pytest.raises(InvalidResponse):
        connection.start_response(100, [], DATE)
    with pytest.raises(InvalidResponse):
        connection.start_response(200, [(b"X", b"\x00")], DATE)
    assert connection.can_respond
    assert connection.respond(200, [], b"ok", DATE).endswith(b"\r\n\r\nok")
