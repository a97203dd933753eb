"""Every limit has its status code, whatever the packet boundaries, on every transport."""

from __future__ import annotations

import pytest
from harness import Harness, ResponseReader

from conformance.support import random_sizes, request, send_in_pieces, serving

LIMITS = {
    "max_request_line": 200,
    "max_header_bytes": 600,
    "max_header_count": 8,
    "max_body_bytes": 100,
    "max_chunk_line": 64,
}

OVER_LIMIT = {
    "long target": (request("GET", "/echo/" + "a" * 200), 414),
    "long method": (request("G" * 200, "/echo"), 414),
    "large header": (request("GET", "/echo", "X-Big: " + "b" * 600), 431),
    "large header section": (request("GET", "/echo", *[f"X-{n}: {'c' * 90}" for n in range(7)]),
                             431),
    "too many headers": (request("GET", "/echo", *[f"X-{n}: v" for n in range(8)]), 431),
    "body by content-length": (
        request("PUT", "/echo", "Content-Length: 101", body=b"d" * 101), 413),
    "chunked body": (
        request("PUT", "/echo", "Transfer-Encoding: chunked",
                body=b"40\r\n" + b"e" * 64 + b"\r\n40\r\n" + b"e" * 64 + b"\r\n0\r\n\r\n"),
        413),
    "chunk size line": (
        request("PUT", "/echo", "Transfer-Encoding: chunked",
                body=b"1;" + b"e" * 80 + b"\r\nx\r\n0\r\n\r\n"), 400),
    "handler limit by content-length": (
        request("PUT", "/small", "Content-Length: 9", body=b"f" * 9), 413),
    "handler limit while chunked": (
        request("PUT", "/small", "Transfer-Encoding: chunked",
                body=b"5\r\nggggg\r\n5\r\nggggg\r\n0\r\n\r\n"), 413),
}

SPLITS = {
    "one piece": [1 << 20],
    "byte by byte": [1],
    "random pieces": random_sizes(1),
    "other random pieces": random_sizes(2, largest=200),
}


def _status_when_sent(harness: Harness, data: bytes, sizes: list[int]) -> int:
    with serving(harness, **LIMITS) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        send_in_pieces(connection, data, sizes)
        response = reader.read("PUT")
        assert response is not None, "the server closed without answering"
        assert response.headers["Connection"] == "close"
        assert reader.at_eof(), "the connection stayed open after a limit was broken"
        connection.close()
        return response.status


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("case", OVER_LIMIT)
def test_limit_status_does_not_depend_on_splits(harness: Harness, case: str, split: str) -> None:
    data, status = OVER_LIMIT[case]
    assert _status_when_sent(harness, data, SPLITS[split]) == status


AT_LIMIT = {
    "target": request("GET", "/echo/" + "a" * (200 - len("GET /echo/ HTTP/1.1"))),
    "headers": request("GET", "/echo", *[f"X-{n}: v" for n in range(7)]),
    "body": request("PUT", "/echo", "Content-Length: 100", body=b"d" * 100),
    "chunked body": request("PUT", "/echo", "Transfer-Encoding: chunked",
                            body=b"64\r\n" + b"e" * 100 + b"\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("split", ["one piece", "byte by byte"])
@pytest.mark.parametrize("case", AT_LIMIT)
def test_request_exactly_at_a_limit_is_served(harness: Harness, case: str, split: str) -> None:
    with serving(harness, **LIMITS) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        send_in_pieces(connection, AT_LIMIT[case], SPLITS[split])
        response = reader.read("PUT")
        assert response is not None and response.status == 200
        connection.close()


def test_header_section_at_its_byte_limit_is_served(harness: Harness) -> None:
    line = "X-Fill: "
    # Header lines plus their CRLFs fill max_header_bytes exactly ("Host: test\r\n" is 12).
    fill = "h" * (600 - 12 - len(line) - 2)
    with serving(harness, **LIMITS) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(request("GET", "/echo", line + fill))
        response = reader.read()
        assert response is not None and response.status == 200
        connection.send(request("GET", "/echo", line + fill + "h"))
        response = reader.read()
        assert response is not None and response.status == 431
        connection.close()


def test_default_limits_serve_a_20kb_head_and_refuse_the_101st_field(harness: Harness) -> None:
    # 20 KB of headers in large reads passes h11's own 16 KiB cap; ours counts bytes.
    headers = [f"X-{n}: {'v' * 200}" for n in range(99)]
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(request("GET", "/echo", *headers))
        response = reader.read()
        assert response is not None and response.status == 200
        connection.send(request("GET", "/echo", *headers, "X-Last: v"))
        response = reader.read()
        assert response is not None and response.status == 431
        assert reader.at_eof()
