"""Whatever a client sends, the whole request cycle (protocol, driver, app) keeps its footing.

The memory transport lets any exception out of the request cycle reach the
test, where a socket server would only log it and drop the connection; so
these properties catch errors that would otherwise pass as "client went away".
"""

from __future__ import annotations

import logging

import pytest
from conformance.support import ROUTES
from hypothesis import given
from hypothesis import strategies as st
from protocol.drive import split
from protocol.strategies import mutations, split_points

import webpy as web
from webpy.transports.memory import Client

TARGETS = [b"GET /echo", b"HEAD /echo", b"PUT /small", b"PUT /reads-nothing", b"GET /stream",
           b"HEAD /stream", b"PUT /refuses", b"GET /boom", b"GET /inject/crlf",
           b"GET /stream-fails", b"OPTIONS /echo", b"DELETE /echo"]

CLIENT = Client(ROUTES, limits=web.Limits(max_request_line=100, max_header_bytes=200,
                                          max_header_count=5, max_body_bytes=50))


def _aimed(data: bytes, method_and_target: bytes) -> bytes:
    """Point a generated request line at one of the test routes."""
    line_end = data.find(b" HTTP")
    return method_and_target + data[line_end:] if line_end > 0 else data


def _run(pieces: list[bytes], end_with_eof: bool) -> None:
    connection = CLIENT.connect()
    for piece in pieces:
        connection.send(piece)
    if end_with_eof:
        connection.close_write()
    # Let every wait the server is left in time out, as a silent client's would.
    while not connection.closed and connection.waiting_for is not None:
        connection.time_out()
    output = connection.receive()
    connection.close()
    assert connection.closed
    assert not output or output.startswith(b"HTTP/1.1 ")


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    # The handlers here fail on purpose; their tracebacks are expected.
    caplog.set_level(logging.CRITICAL, logger="webpy")


@given(mutations(), st.sampled_from(TARGETS), split_points, st.booleans())
def test_mutated_requests_never_break_the_request_cycle(
    data: bytes, target: bytes, points: list[int], end_with_eof: bool
) -> None:
    _run(split(_aimed(data, target), points), end_with_eof)


@given(st.binary(max_size=300), split_points, st.booleans())
def test_arbitrary_bytes_never_break_the_request_cycle(
    data: bytes, points: list[int], end_with_eof: bool
) -> None:
    _run(split(data, points), end_with_eof)
