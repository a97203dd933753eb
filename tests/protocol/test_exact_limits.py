"""Every limit at its exact edge: the last size accepted, the first refused, whole or split.

A limit checked with `>` where `>=` was meant (or against the wrong count)
refuses legal requests or lets one byte too many through, and only a request
of exactly the limit's size shows it. Each request here is built to land on
an edge, and is sent whole, one byte at a time, and in two pieces at every
cut point near the edge.
"""

from __future__ import annotations

import pytest

from protocol.drive import serve, split
from webpy.protocol import Limits, ProtocolError, ServerConnection

LIMITS = Limits(max_request_line=64, max_header_bytes=256, max_header_count=6,
                max_body_bytes=100, max_chunk_line=32)
HOST = b"Host: h\r\n"  # 9 bytes
CHUNKED_HEAD = b"PUT / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"


def _request_line(length: int) -> bytes:
    """A request line of exactly `length` bytes, CRLF not counted."""
    return b"GET /" + b"t" * (length - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"


def _header_bytes(total: int) -> bytes:
    """A head whose field lines, CRLFs included, take exactly `total` bytes."""
    value = b"v" * (total - len(HOST) - len(b"X: \r\n"))
    return b"GET / HTTP/1.1\r\n" + HOST + b"X: " + value + b"\r\n\r\n"


def _header_count(count: int) -> bytes:
    return b"GET / HTTP/1.1\r\n" + HOST + b"X: y\r\n" * (count - 1) + b"\r\n"


def _chunk_line(length: int) -> bytes:
    """A chunked body whose first size line takes exactly `length` bytes with its CRLF."""
    extension = b";" + b"e" * (length - len(b"1;\r\n"))
    return CHUNKED_HEAD + b"1" + extension + b"\r\nc\r\n0\r\n\r\n"


def _trailer_bytes(total: int) -> bytes:
    """A chunked body whose trailer fields, CRLFs included, take exactly `total` bytes."""
    value = b"v" * (total - len(b"T: \r\n"))
    return CHUNKED_HEAD + b"1\r\nc\r\n0\r\nT: " + value + b"\r\n\r\n"


def _trailer_count(count: int) -> bytes:
    return CHUNKED_HEAD + b"1\r\nc\r\n0\r\n" + b"T: v\r\n" * count + b"\r\n"


def _content_length(length: int) -> bytes:
    return b"PUT / HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % length + b"b" * length


def _chunked_total(total: int) -> bytes:
    return CHUNKED_HEAD + b"%x\r\n" % total + b"b" * total + b"\r\n0\r\n\r\n"


EDGES = {
    # name: (request at the limit, request one past it, status for the second)
    "request line": (_request_line(64) + b"\r\n" + HOST + b"\r\n",
                     _request_line(65) + b"\r\n" + HOST + b"\r\n", 414),
    "header bytes": (_header_bytes(256), _header_bytes(257), 431),
    "header count": (_header_count(6), _header_count(7), 431),
    "content length": (_content_length(100), _content_length(101), 413),
    "chunked total": (_chunked_total(100), _chunked_total(101), 413),
    "chunk size line": (_chunk_line(32), _chunk_line(33), 400),
    "trailer bytes": (_trailer_bytes(256), _trailer_bytes(257), 431),
    "trailer count": (_trailer_count(6), _trailer_count(7), 431),
}


def _ways_to_send(data: bytes) -> list[list[bytes]]:
    ways = [[data], [bytes([byte]) for byte in data]]
    ways += [split(data, [cut]) for cut in range(1, len(data))]
    return ways


@pytest.mark.parametrize("edge", EDGES)
def test_request_exactly_at_a_limit_is_served_however_it_arrives(edge: str) -> None:
    at_limit = EDGES[edge][0]
    for pieces in _ways_to_send(at_limit):
        outcome = serve(pieces, LIMITS)
        assert outcome.error is None, (edge, pieces)
        assert [exchange.complete for exchange in outcome.requests] == [True]


@pytest.mark.parametrize("edge", EDGES)
def test_one_byte_past_a_limit_is_refused_however_it_arrives(edge: str) -> None:
    _, past_limit, status = EDGES[edge]
    for pieces in _ways_to_send(past_limit):
        assert serve(pieces, LIMITS).error == status, (edge, pieces)


def test_request_line_that_never_ends_is_refused_without_holding_more_than_the_limit() -> None:
    connection = ServerConnection(LIMITS)
    taken = 0
    with pytest.raises(ProtocolError) as refused:
        for _ in range(10_000):
            connection.receive_data(b"GET /" if not taken else b"t" * 7)
            taken += 5 if taken == 0 else 7
            connection.next_event()
    assert refused.value.status_code == 414
    # Refused as soon as the line could no longer fit: within one piece of the limit.
    assert taken <= LIMITS.max_request_line + 2 + 7


@pytest.mark.parametrize("fold", [b" ", b"\t"])
def test_folded_trailer_line_is_refused(fold: bytes) -> None:
    data = CHUNKED_HEAD + b"1\r\nc\r\n0\r\nT: a\r\n" + fold + b"b\r\n\r\n"
    for pieces in _ways_to_send(data):
        assert serve(pieces, LIMITS).error == 400


def test_trailer_line_without_a_colon_is_refused_like_a_header_line() -> None:
    data = CHUNKED_HEAD + b"1\r\nc\r\n0\r\nnot a field\r\n\r\n"
    assert serve([data], LIMITS).error == 400


def test_valid_trailer_is_read_and_the_next_request_follows() -> None:
    data = _trailer_count(2) + b"GET /next HTTP/1.1\r\n" + HOST + b"\r\n"
    outcome = serve([data], LIMITS)
    assert outcome.error is None
    assert [exchange.head.target for exchange in outcome.requests] == [b"/", b"/next"]
    assert outcome.requests[0].body == b"c"
