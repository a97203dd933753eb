"""An error answer never echoes the request: fixed text per kind of error, details only in the log.

An error page that quotes the request (h11's messages do, as a Python repr)
turns a malformed request into script the browser may run. Each request
below breaks one rule while carrying a payload; the same request with a
different payload must get the very same text, and neither payload may come
back. What the client sent goes to the `webpy` log instead, with control
bytes escaped.
"""

from __future__ import annotations

import logging

import pytest
from conformance.support import serving
from harness import Harness, ResponseReader

from webpy.protocol import Limits, ProtocolError, ServerConnection

SCRIPT = b"<script>alert(1)</script>"
OTHER = b"<img/src=x/onerror=go()>"
CHUNKED = b"PUT /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"

#: Malformed requests, each with PAYLOAD where the client's bytes go.
MALFORMED = {
    "unknown version": b"GET /PAYLOAD HTTP/1.32\r\nHost: test\r\n\r\n",
    "method with markup": b"PAYLOAD / HTTP/1.1\r\nHost: test\r\n\r\n",
    "space in the target": b"GET /a PAYLOAD HTTP/1.1\r\nHost: test\r\n\r\n",
    "target without a slash": b"GET PAYLOAD HTTP/1.1\r\nHost: test\r\n\r\n",
    "header line without a colon": b"GET / HTTP/1.1\r\nHost: test\r\nPAYLOAD\r\n\r\n",
    "space in a header name": b"GET / HTTP/1.1\r\nHost: test\r\nX PAYLOAD: v\r\n\r\n",
    "bad Content-Length": b"PUT / HTTP/1.1\r\nHost: test\r\nContent-Length: PAYLOAD\r\n\r\n",
    "conflicting Content-Length": (b"PUT / HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\n"
                                   b"Content-Length: 2\r\nX: PAYLOAD\r\n\r\nab"),
    "unknown transfer coding": (b"PUT / HTTP/1.1\r\nHost: test\r\n"
                                b"Transfer-Encoding: PAYLOAD\r\n\r\n"),
    "two Host values": b"GET / HTTP/1.1\r\nHost: PAYLOAD, b\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: test\r\nX: a\r\n PAYLOAD\r\n\r\n",
    "bare LF": b"GET /PAYLOAD HTTP/1.1\nHost: test\n\n",
    "escape byte": b"GET / HTTP/1.1\r\nHost: test\r\nX: \x1b[31mPAYLOAD\r\n\r\n",
    "NUL in the target": b"GET /\x00PAYLOAD HTTP/1.1\r\nHost: test\r\n\r\n",
    "HTTP/2.0": b"GET /PAYLOAD HTTP/2.0\r\nHost: test\r\n\r\n",
    "CONNECT": b"CONNECT PAYLOAD:443 HTTP/1.1\r\nHost: test\r\n\r\n",
    "chunk extension with markup": CHUNKED + b"1;PAYLOAD\r\na\r\n0\r\n\r\n",
    "trailer line without a colon": CHUNKED + b"1\r\na\r\n0\r\nPAYLOAD\r\n\r\n",
    "request line too long": b"GET /" + b"PAYLOAD" * 200 + b" HTTP/1.1\r\nHost: test\r\n\r\n",
}
LIMITS = Limits(max_request_line=1024)


def _refusal(data: bytes) -> ProtocolError:
    connection = ServerConnection(LIMITS)
    connection.receive_data(data)
    connection.receive_data(b"")
    with pytest.raises(ProtocolError) as refused:
        while True:
            connection.next_event()
            connection.accept_body()
    return refused.value


@pytest.mark.parametrize("case", MALFORMED)
def test_error_detail_is_fixed_text_that_quotes_nothing(case: str) -> None:
    with_script = _refusal(MALFORMED[case].replace(b"PAYLOAD", SCRIPT))
    with_other = _refusal(MALFORMED[case].replace(b"PAYLOAD", OTHER))
    assert with_script.status_code == with_other.status_code
    assert with_script.detail == with_other.detail
    for detail in (with_script.detail, with_other.detail):
        assert "<" not in detail and "script" not in detail and "onerror" not in detail
        assert "b'" not in detail and "bytearray" not in detail
        assert detail.isprintable()


def test_specifics_for_the_log_keep_what_h11_saw_with_control_bytes_escaped() -> None:
    error = _refusal(b"GET / HTTP/1.1\r\nHost: test\r\nX \x1b[31m: v\r\n\r\n")
    assert error.detail == "control byte in request head"
    error = _refusal(b"GET /" + SCRIPT + b" HTTP/1.32\r\nHost: test\r\n\r\n")
    assert error.detail == "malformed request line"
    assert "alert(1)" in error.specifics and "alert(1)" in str(error)
    escaped = ProtocolError(400, "malformed request line", "seen: \x1b[31m\x00")
    assert escaped.specifics == "seen: \\x1b[31m\\x00"
    assert escaped.specifics.isprintable() and str(escaped).isprintable()


@pytest.mark.parametrize("case", ["unknown version", "header line without a colon",
                                  "escape byte", "chunk extension with markup",
                                  "trailer line without a colon", "request line too long"])
def test_error_page_over_the_wire_quotes_nothing_and_is_not_sniffed(
        harness: Harness, case: str, caplog: pytest.LogCaptureFixture) -> None:
    data = MALFORMED[case].replace(b"PAYLOAD", SCRIPT)
    with caplog.at_level(logging.INFO, logger="webpy"), \
            serving(harness, max_request_line=1024) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(data)
        connection.close_write()
        response = reader.read("PUT" if data.startswith(b"PUT") else "GET")
        assert response is not None, "the server closed without answering"
    assert 400 <= response.status < 600
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert b"script" not in response.body and b"<" not in response.body
    assert b"alert" not in response.body
    logged = [record.getMessage() for record in caplog.records if record.name == "webpy"]
    assert logged, "the refusal was not logged"
    assert all(message.isprintable() for message in logged)
