"""Malformed requests get 400 (or 501/505) and a closed connection, on every transport.

Many of these are things h11 0.16 accepts; each is refused because a lenient
parser behind or in front of a proxy is how requests get smuggled.
"""

from __future__ import annotations

import pytest
from harness import Harness, ResponseReader

from conformance.support import exchange, random_sizes, send_in_pieces, serving

HEAD = b"GET /echo HTTP/1.1\r\nHost: test\r\n"
POST = b"POST /echo HTTP/1.1\r\nHost: test\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"

MALFORMED = {
    "bare LF line endings": b"GET /echo HTTP/1.1\nHost: test\n\n",
    "one bare LF in the head": HEAD + b"X-A: b\n\r\n",
    "bare LF after the request line": b"GET /echo HTTP/1.1\nHost: test\r\n\r\n",
    "bare CR in a header value": HEAD + b"X-A: b\rc\r\n\r\n",
    "bare CR in the request line": b"GET /echo\r HTTP/1.1\r\nHost: test\r\n\r\n",
    "obs-fold continuation line": HEAD + b"X-A: b\r\n c\r\n\r\n",
    "obs-fold with a tab": HEAD + b"X-A: b\r\n\tc\r\n\r\n",
    "control byte in a header value": HEAD + b"X-A: b\x01c\r\n\r\n",
    "escape byte in a header value": HEAD + b"X-A: \x1b[31m\r\n\r\n",
    "DEL in a header value": HEAD + b"X-A: b\x7f\r\n\r\n",
    "NUL in a header value": HEAD + b"X-A: b\x00c\r\n\r\n",
    "NUL in the target": b"GET /echo\x00 HTTP/1.1\r\nHost: test\r\n\r\n",
    "NUL in a header name": HEAD + b"X-\x00A: b\r\n\r\n",
    "space before the colon": HEAD + b"X-A : b\r\n\r\n",
    "header line without a colon": HEAD + b"X-A b\r\n\r\n",
    "empty header name": HEAD + b": b\r\n\r\n",
    "space inside the target": b"GET /echo x HTTP/1.1\r\nHost: test\r\n\r\n",
    "missing HTTP version": b"GET /echo\r\n\r\n",
    "lowercase HTTP version": b"GET /echo http/1.1\r\nHost: test\r\n\r\n",
    "missing Host on HTTP/1.1": b"GET /echo HTTP/1.1\r\n\r\n",
    "two Host fields": HEAD + b"Host: other\r\n\r\n",
    "Host with two values": b"GET /echo HTTP/1.1\r\nHost: a, b\r\n\r\n",
    "asterisk target on GET": b"GET * HTTP/1.1\r\nHost: test\r\n\r\n",
    "authority target on GET": b"GET test:80 HTTP/1.1\r\nHost: test\r\n\r\n",
    "Content-Length and Transfer-Encoding": (
        POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "Transfer-Encoding and Content-Length": (
        POST + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    "Transfer-Encoding on HTTP/1.0": (
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "two different Content-Lengths": POST + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "negative Content-Length": POST + b"Content-Length: -1\r\n\r\n",
    "signed Content-Length": POST + b"Content-Length: +1\r\n\r\na",
    "hex Content-Length": POST + b"Content-Length: 0x1\r\n\r\na",
    "non-hex chunk size": CHUNKED + b"zz\r\nab\r\n0\r\n\r\n",
    "negative chunk size": CHUNKED + b"-2\r\nab\r\n0\r\n\r\n",
    "chunk size with 0x": CHUNKED + b"0x2\r\nab\r\n0\r\n\r\n",
    "chunk size too large": CHUNKED + b"fffffffffffffffff\r\nab\r\n0\r\n\r\n",
    "chunk size with bare LF": CHUNKED + b"2\nab\r\n0\r\n\r\n",
    "chunk data longer than its size": CHUNKED + b"2\r\nabc\r\n0\r\n\r\n",
    "chunk data ended by bare LF": CHUNKED + b"2\r\nab\n0\r\n\r\n",
    "chunk extension with bare CR": CHUNKED + b"2;a\rb\r\nab\r\n0\r\n\r\n",
    "chunk extension with NUL": CHUNKED + b"2;a\x00\r\nab\r\n0\r\n\r\n",
    "chunk extension without a name": CHUNKED + b"2;=b\r\nab\r\n0\r\n\r\n",
    "chunk extension with a bad value": CHUNKED + b"2;a=b c\r\nab\r\n0\r\n\r\n",
    "chunk extension with an unclosed quote": CHUNKED + b'2;a="b\r\nab\r\n0\r\n\r\n',
    "text after the chunk size": CHUNKED + b"2 junk\r\nab\r\n0\r\n\r\n",
    "trailer ended by bare LF": CHUNKED + b"2\r\nab\r\n0\r\nX-T: v\n\r\n",
    "trailer with obs-fold": CHUNKED + b"2\r\nab\r\n0\r\nX-T: v\r\n w\r\n\r\n",
    "trailer with a control byte": CHUNKED + b"2\r\nab\r\n0\r\nX-T: \x01\r\n\r\n",
    "last chunk ended by bare LF": CHUNKED + b"2\r\nab\r\n0\r\n\n",
    "connection closed inside the head": b"GET /echo HTTP/1.1\r\nHost: te",
    "connection closed inside the body": POST + b"Content-Length: 10\r\n\r\nabc",
    "connection closed inside a chunk": CHUNKED + b"a\r\nabc",
}


def _refusal(harness: Harness, data: bytes, method: str = "POST") -> tuple[int, bool]:
    """Send `data`, end the client side; return the status and whether the server closed."""
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(data)
        connection.close_write()
        response = reader.read(method)
        assert response is not None, "the server closed without answering"
        assert response.headers["Connection"] == "close"
        closed = reader.at_eof()
        connection.close()
        return response.status, closed


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_request_is_400_and_closes(harness: Harness, case: str) -> None:
    assert _refusal(harness, MALFORMED[case]) == (400, True)


@pytest.mark.parametrize("version", [b"2.0", b"9.9", b"3.0", b"0.9", b"1.2"])
def test_unsupported_http_version_is_505(harness: Harness, version: bytes) -> None:
    data = b"GET /echo HTTP/" + version + b"\r\nHost: test\r\n\r\n"
    assert _refusal(harness, data, "GET") == (505, True)


def test_http2_preface_is_505(harness: Harness) -> None:
    data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    assert _refusal(harness, data, "GET") == (505, True)


@pytest.mark.parametrize("coding", [b"gzip", b"gzip, chunked", b"chunked, gzip", b"identity"])
def test_unsupported_transfer_coding_is_refused(harness: Harness, coding: bytes) -> None:
    data = POST + b"Transfer-Encoding: " + coding + b"\r\n\r\n0\r\n\r\n"
    status, closed = _refusal(harness, data)
    assert status in (400, 501)
    assert closed


def test_request_before_a_malformed_one_is_still_answered(harness: Harness) -> None:
    data = HEAD + b"\r\n" + MALFORMED["obs-fold continuation line"]
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(data)
        first = reader.read()
        second = reader.read()
        assert first is not None and first.status == 200
        assert second is not None and second.status == 400
        assert reader.at_eof()
        connection.close()


@pytest.mark.parametrize("case", ["bare LF line endings", "obs-fold continuation line",
                                  "chunk extension with bare CR", "trailer ended by bare LF",
                                  "Content-Length and Transfer-Encoding"])
def test_malformed_request_split_anywhere_is_still_400(harness: Harness, case: str) -> None:
    with serving(harness) as server:
        for sizes in ([1], random_sizes(3, largest=9)):
            connection = server.connect()
            reader = ResponseReader(connection)
            send_in_pieces(connection, MALFORMED[case], sizes)
            response = reader.read("POST")
            assert response is not None and response.status == 400
            assert reader.at_eof()
            connection.close()


def test_error_response_after_malformed_head_has_a_body_and_reason(harness: Harness) -> None:
    with serving(harness) as server:
        response, reader = exchange(server, MALFORMED["bare CR in a header value"])
        assert response.status == 400
        assert response.reason == "Bad Request"
        assert response.body.startswith(b"400 Bad Request")
        assert response.headers["Content-Length"] == str(len(response.body))
        assert reader.at_eof()
