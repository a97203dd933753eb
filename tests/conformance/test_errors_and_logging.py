"""Application failures become logged 500s; every response gets one access-log record."""

from __future__ import annotations

import logging
import re

import pytest
from harness import Harness, ResponseReader

from conformance.support import exchange, request, serving

#: host ident user [date] "request line" status size
CLF = re.compile(
    r'^(\S+) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+|-)$'
)


def test_handler_exception_is_a_logged_500_and_the_connection_survives(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="webpy")
    with serving(harness) as server:
        response, reader = exchange(server, request("GET", "/boom"))
        assert response.status == 500
        assert response.reason == "Internal Server Error"
        assert b"handler bug" not in response.body  # no internals leak to the client
        assert "Connection" not in response.headers
        reader.connection.send(request("GET", "/echo/next"))
        following = reader.read()
        assert following is not None and following.status == 200
        reader.connection.close()
    errors = [record for record in caplog.records if record.name == "webpy"
              and record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "GET /boom" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert "handler bug for the test" in str(errors[0].exc_info[1])


def test_stream_failing_midway_is_cut_off_and_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="webpy")
    with serving(harness) as server:
        connection = server.connect()
        connection.send(request("GET", "/stream-fails"))
        data = connection.receive_until_closed()
    # The head and the first chunk were sent; the body never ends properly, so the
    # client cannot take the truncated body for a whole one.
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\n5\r\nfirst\r\n")
    errors = [record for record in caplog.records if record.name == "webpy"
              and record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert "producer bug" in str(errors[0].exc_info[1])


@pytest.mark.parametrize("target", ["/inject/crlf", "/inject/lf", "/inject/nul", "/inject/name",
                                    "/inject/reason"])
def test_response_header_or_reason_with_cr_lf_or_nul_is_never_written(
    harness: Harness, caplog: pytest.LogCaptureFixture, target: str
) -> None:
    caplog.set_level(logging.ERROR, logger="webpy")
    with serving(harness) as server:
        connection = server.connect()
        connection.send(request("GET", target, "Connection: close"))
        reader = ResponseReader(connection)
        response = reader.read()
        assert response is not None
        assert response.status == 500
        assert "Injected" not in response.headers
        assert "X-Test" not in response.headers
        assert b"must not be sent" not in response.body
        assert reader.at_eof()
    logged = [record.getMessage() for record in caplog.records
              if record.name == "webpy" and record.levelno == logging.ERROR]
    assert len(logged) == 1
    assert target in logged[0]


def test_each_response_gets_one_common_log_format_record(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="webpy.access")
    with serving(harness) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(request("GET", "/echo/a?b=c")
                        + request("HEAD", "/echo")
                        + request("GET", "/nowhere")
                        + request("GET", "/stream")
                        + request("POST", "/echo", "Content-Length: 3", "Connection: close",
                                  body=b"xyz"))
        for method in ("GET", "HEAD", "GET", "GET", "POST"):
            assert reader.read(method) is not None
        # The server logs before it closes, so after EOF every record is in.
        assert reader.at_eof()
    records = [record for record in caplog.records if record.name == "webpy.access"]
    assert all(record.levelno == logging.INFO for record in records)
    lines = [CLF.match(record.getMessage()) for record in records]
    assert all(lines), [record.getMessage() for record in records]
    fields = [(match[3], match[4], match[5]) for match in lines if match]
    assert fields == [
        ("GET /echo/a?b=c HTTP/1.1", "200", str(len(b"path=/echo/a query=b=c"))),
        ("HEAD /echo HTTP/1.1", "200", "-"),
        ("GET /nowhere HTTP/1.1", "404", str(len(b"404 Not Found\n"))),
        ("GET /stream HTTP/1.1", "200", str(len(b"".join(b"part %d;" % n for n in range(5))))),
        ("POST /echo HTTP/1.1", "200", "3"),
    ]


def test_refused_request_is_logged_in_the_access_log(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="webpy.access")
    with serving(harness) as server:
        response, reader = exchange(server, b"GET /echo HTTP/1.1\nHost: test\n\n")
        assert response.status == 400
        assert reader.at_eof()
    records = [CLF.match(record.getMessage()) for record in caplog.records
               if record.name == "webpy.access"]
    assert len(records) == 1 and records[0] is not None
    assert records[0][4] == "400"
    assert records[0][5] == str(len(response.body))


def test_refused_head_request_logs_no_body_bytes(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="webpy.access")
    data = request("HEAD", "/echo", "Content-Length: 500", body=b"x" * 500)
    with serving(harness, max_body_bytes=100) as server:
        response, reader = exchange(server, data, "HEAD")
        assert response.status == 413
        assert reader.at_eof()
    records = [CLF.match(record.getMessage()) for record in caplog.records
               if record.name == "webpy.access"]
    assert len(records) == 1 and records[0] is not None
    assert (records[0][3], records[0][4], records[0][5]) == ("HEAD /echo HTTP/1.1", "413", "-")
