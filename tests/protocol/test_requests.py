"""Request parsing by `ServerConnection`, fed bytes directly."""

from __future__ import annotations

import pytest

from protocol.drive import DATE, serve
from webpy.protocol import (
    CONTINUE_RESPONSE,
    NEED_DATA,
    PAUSED,
    BodyChunk,
    ConnectionClosed,
    Limits,
    ProtocolError,
    RequestEnd,
    RequestHead,
    ServerConnection,
)


def test_request_head_keeps_fields_as_received() -> None:
    connection = ServerConnection()
    connection.receive_data(b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Mixed-Case: One\r\n"
                            b"x-mixed-case: Two\r\n\r\n")
    head = connection.next_event()
    assert head == RequestHead(
        method=b"GET", target=b"/a?b=c", http_version=b"1.1",
        headers=[(b"Host", b"x"), (b"X-Mixed-Case", b"One"), (b"x-mixed-case", b"Two")],
        content_length=0, expects_continue=False, keep_alive=True)
    assert connection.next_event() == RequestEnd()
    assert connection.request_complete


def test_events_follow_the_request_cycle() -> None:
    connection = ServerConnection()
    assert connection.next_event() is NEED_DATA
    connection.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
    head = connection.next_event()
    assert type(head) is RequestHead and head.content_length == 6
    assert connection.next_event() == BodyChunk(b"abc")
    assert connection.next_event() is NEED_DATA
    connection.receive_data(b"def")
    assert connection.next_event() == BodyChunk(b"def")
    assert connection.next_event() == RequestEnd()
    assert connection.next_event() is PAUSED  # until the response is sent
    connection.respond(200, [], b"", DATE)
    assert connection.next_event() is NEED_DATA
    connection.receive_data(b"")
    assert connection.next_event() == ConnectionClosed()


def test_pipelined_request_waits_until_the_response_is_sent() -> None:
    connection = ServerConnection()
    connection.receive_data(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    first = connection.next_event()
    assert type(first) is RequestHead and first.target == b"/1"
    assert connection.next_event() == RequestEnd()
    assert connection.next_event() is PAUSED
    assert connection.buffered
    connection.respond(200, [], b"one", DATE)
    second = connection.next_event()
    assert type(second) is RequestHead and second.target == b"/2"


def test_connection_close_request_ends_the_connection_after_its_response() -> None:
    outcome = serve([b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     b"GET /never HTTP/1.1\r\nHost: x\r\n\r\n"], end_with_eof=False)
    assert [exchange.head.target for exchange in outcome.requests] == [b"/"]
    assert outcome.closed
    assert b"Connection: close\r\n" in outcome.output


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
])
def test_http10_connection_closes_after_one_response(request_bytes: bytes) -> None:
    outcome = serve([request_bytes * 2], end_with_eof=False)
    assert len(outcome.requests) == 1
    assert outcome.closed
    assert not outcome.requests[0].head.keep_alive or b"keep-alive" in request_bytes


def test_chunked_body_events_carry_the_data_only() -> None:
    outcome = serve([b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer-Field: v\r\n\r\n"])
    assert outcome.error is None
    assert outcome.requests[0].head.content_length is None
    assert outcome.requests[0].body == b"abcde"


class TestExpectContinue:
    HEAD = b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"

    def test_continue_is_returned_when_the_body_is_accepted(self) -> None:
        connection = ServerConnection()
        connection.receive_data(self.HEAD)
        head = connection.next_event()
        assert type(head) is RequestHead and head.expects_continue
        assert connection.expects_continue
        assert connection.next_event() is NEED_DATA  # nothing sent yet: no 100
        assert connection.accept_body() == CONTINUE_RESPONSE
        assert connection.accept_body() == b""  # only once
        connection.receive_data(b"hello")
        assert connection.next_event() == BodyChunk(b"hello")

    def test_response_without_accepting_sends_no_continue_and_closes(self) -> None:
        connection = ServerConnection()
        connection.receive_data(self.HEAD)
        connection.next_event()
        data = connection.respond(401, [], b"", DATE, close=True)
        assert b"100 Continue" not in data
        assert connection.will_close

    def test_declared_length_over_the_limit_is_refused_before_continue(self) -> None:
        connection = ServerConnection(Limits(max_body_bytes=4))
        connection.receive_data(self.HEAD)
        connection.next_event()
        with pytest.raises(ProtocolError) as refused:
            connection.accept_body()
        assert refused.value.status_code == 413
        assert connection.can_respond
        with pytest.raises(ProtocolError):
            connection.next_event()  # the connection stays broken

    def test_per_request_limit_overrides_the_connection_limit(self) -> None:
        connection = ServerConnection(Limits(max_body_bytes=1000))
        connection.receive_data(self.HEAD)
        connection.next_event()
        with pytest.raises(ProtocolError) as refused:
            connection.accept_body(max_body=4)
        assert refused.value.status_code == 413

    def test_per_request_limit_can_raise_the_limit(self) -> None:
        connection = ServerConnection(Limits(max_body_bytes=4))
        connection.receive_data(self.HEAD)
        connection.next_event()
        assert connection.accept_body(max_body=5) == CONTINUE_RESPONSE


def test_chunked_body_over_the_limit_is_refused_while_reading() -> None:
    chunks = b"4\r\nabcd\r\n" * 3
    outcome = serve([b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", chunks],
                    Limits(max_body_bytes=10))
    assert outcome.error == 413
    assert len(outcome.requests[0].body) <= 10


def test_body_beyond_content_length_is_the_next_request() -> None:
    outcome = serve([b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabGET /next"
                     b" HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert [(exchange.head.target, exchange.body) for exchange in outcome.requests] == [
        (b"/", b"ab"), (b"/next", b"")]


@pytest.mark.parametrize(("data", "status"), [
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
     400),
    (b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: \x7f\r\n\r\n", 400),
    (b"GET / HTTP/1.1\nHost: x\n\n", 400),
    (b"OPTIONS * HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 501),
    (b"DELETE * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
])
def test_requests_h11_would_accept_are_refused(data: bytes, status: int) -> None:
    outcome = serve([data])
    assert outcome.error == status
    assert outcome.requests == []


def test_asterisk_target_is_accepted_for_options() -> None:
    outcome = serve([b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert outcome.error is None
    assert outcome.requests[0].head.target == b"*"


def test_error_is_raised_again_on_every_later_call() -> None:
    connection = ServerConnection()
    connection.receive_data(b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n")
    for _ in range(3):
        with pytest.raises(ProtocolError) as refused:
            connection.next_event()
        assert refused.value.status_code == 400
    assert connection.will_close


def test_blank_lines_between_requests_are_skipped() -> None:
    outcome = serve([b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\nGET /b HTTP/1.1\r\n"
                     b"Host: x\r\n\r\n"])
    assert outcome.error is None
    assert [exchange.head.target for exchange in outcome.requests] == [b"/", b"/b"]


def test_eof_between_requests_closes_quietly_and_inside_one_is_400() -> None:
    assert serve([b""]).closed
    assert serve([b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]).closed
    assert serve([b"GET / HTTP/1.1\r\nHo"]).error == 400
    assert serve([b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na"]).error == 400


def test_trickled_head_costs_linear_work() -> None:
    # A head sent byte by byte must not be rescanned from the start each time;
    # one byte at a time over a large head would otherwise be quadratic.
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Field: value\r\n" * 90 + b"\r\n"
    outcome = serve([bytes([byte]) for byte in head])
    assert outcome.error is None and len(outcome.requests) == 1


def test_refused_head_request_gets_a_bodiless_error_response() -> None:
    # h11 has parsed the HEAD when our own checks refuse it; both must frame the
    # answer as a HEAD response, or writing the error would fail.
    outcome = serve([b"HEAD / HTTP/1.1\r\nHost: a, b\r\n\r\n"])
    assert outcome.error == 400
    assert outcome.output.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert outcome.output.endswith(b"\r\n\r\n")


def test_error_after_a_head_request_has_its_body() -> None:
    # The refused head is not a HEAD request: the previous request's method must not stick.
    outcome = serve([b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\nHost: x\n\n"])
    assert outcome.error == 400
    assert outcome.output.endswith(b"\r\n\r\nbare LF line ending")
