"""Mutated requests against the protocol layer and a live server on every transport.

The mutations (tests/protocol/strategies.py) delete, replace, insert and
duplicate bytes of valid requests, pipelined in pairs. Whatever comes of it,
the server answers only with statuses a client can act on (never 500, 502,
503 or 504: 501 and 505 are the RFC's answers to unsupported methods and
versions), closes or keeps the connection as it said, does not hang (a client
timeout turns a hang into a failure), and keeps serving a normal client.

Examples are bounded by the hypothesis profile (tests/conftest.py); for long
runs there is an atheris target, tests/robustness/fuzz_atheris.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from harness import HARNESSES, ResponseReader, Server
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from protocol.drive import serve, split
from protocol.strategies import mutations, requests, split_points

from robustness.clients import Footprint, settles_back
from robustness.corpus import LIMITS
from robustness.support import FUZZ_ROUTES
from webpy.protocol import Limits

#: Statuses that say "the server failed", as opposed to "the request was refused".
SERVER_FAILURES = {500, 502, 503, 504}
_STATUS_LINE = re.compile(rb"(?:^|\r\n)HTTP/1\.1 (\d{3}) ")
_HEALTH_CHECK = b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"


def _statuses(output: bytes) -> list[int]:
    return [int(status) for status in _STATUS_LINE.findall(output)]


# -- the protocol layer --------------------------------------------------------------


@given(mutations(), split_points)
@example(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", [20])
def test_mutated_requests_get_only_client_error_statuses_from_the_protocol_layer(
        data: bytes, points: list[int]) -> None:
    outcome = serve(split(data, points), Limits(**LIMITS))
    if outcome.error is not None:
        assert outcome.error not in SERVER_FAILURES
        assert 400 <= outcome.error < 600
    answered = [200] * sum(exchange.complete for exchange in outcome.requests)
    if outcome.error is not None:
        answered.append(outcome.error)
    assert _statuses(outcome.output) == answered


@given(requests(last=False), mutations())
def test_valid_request_before_a_mutated_one_is_answered_first(first: bytes, data: bytes) -> None:
    outcome = serve([first + data], Limits(**LIMITS))
    assert outcome.requests[0].complete
    assert _statuses(outcome.output)[:1] == [200]


# -- a live server on every transport -----------------------------------------------------


@pytest.fixture(scope="module", params=sorted(HARNESSES))
def live(request: pytest.FixtureRequest) -> Iterator[Server]:
    """One server per transport for all the examples of a test: a server per example is slow.

    After the last example, the server must hold no more than it did after the
    first requests: no thread, file descriptor or memory kept per fuzzed connection.
    """
    with HARNESSES[request.param]().serve(FUZZ_ROUTES, **LIMITS) as server:
        _still_serves(server)
        baseline = Footprint.now()
        yield server
        settles_back(baseline, extra_threads=8)


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="webpy")


def _send_and_read_everything(server: Server, pieces: list[bytes]) -> bytes:
    connection = server.connect()
    try:
        for piece in pieces:
            try:
                connection.send(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # refused early; what it answered is still to be read
        try:
            connection.close_write()
        except OSError:
            pass
        # Returns at EOF; a server that never closes fails on the client timeout.
        return connection.receive_until_closed()
    finally:
        connection.close()


def _still_serves(server: Server) -> None:
    connection = server.connect()
    try:
        reader = ResponseReader(connection)
        connection.send(_HEALTH_CHECK)
        response = reader.read()
        assert response is not None and response.status == 200, "the server stopped serving"
    finally:
        connection.close()


_live_settings = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])


@_live_settings
@given(data=mutations(), points=split_points)
@example(data=b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nXYZ0\r\n\r\n",
         points=[])
def test_mutated_requests_never_get_a_server_error_or_hang(
        live: Server, data: bytes, points: list[int]) -> None:
    output = _send_and_read_everything(live, split(data, points))
    assert not output or output.startswith(b"HTTP/1.1 ")
    assert not SERVER_FAILURES.intersection(_statuses(output))
    _still_serves(live)


@_live_settings
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_get_a_server_error_or_hang(live: Server, data: bytes) -> None:
    output = _send_and_read_everything(live, [data])
    assert not output or output.startswith(b"HTTP/1.1 ")
    assert not SERVER_FAILURES.intersection(_statuses(output))
    _still_serves(live)

