"""The smuggling and framing corpus (corpus.py), over every transport and the protocol layer.

Each case is sent with a valid request pipelined behind it. The server must
answer the case with a 4xx that says `Connection: close`, close, and run
nothing: neither the case itself nor the request behind it reaches a handler.
The protocol layer must refuse it the same way whether the bytes arrive whole
or one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from conformance.support import serving
from harness import Harness, ResponseReader
from protocol.drive import serve

from robustness.corpus import CASES, LIMITS, NAMES, SMUGGLED, Case
from robustness.support import RECORDING_ROUTES, Recorder, unsafe_log_lines
from webpy.protocol import Limits


def _with_known_bugs(cases: list[Case]) -> list[object]:
    return [pytest.param(case, id=case.name, marks=pytest.mark.xfail(
        strict=True, reason=case.known_bug)) if case.known_bug else pytest.param(case, id=case.name)
        for case in cases]


@pytest.fixture(autouse=True)
def _fresh_recorder() -> Iterator[None]:
    Recorder.reset()
    yield
    Recorder.reset()


def test_corpus_is_large_and_every_case_cites_its_source() -> None:
    assert len(CASES) >= 60
    assert all(case.source for case in CASES)
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("case", _with_known_bugs(CASES))
def test_attack_is_refused_closed_and_smuggles_nothing(
        harness: Harness, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="webpy")
    with serving(harness, RECORDING_ROUTES, **LIMITS) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(case.data + (SMUGGLED if case.pipelined else b""))
        connection.close_write()
        response = reader.read()
        assert response is not None, "the server closed without answering"
        assert response.status in case.expected, response.body
        assert response.headers["Connection"] == "close"
        assert reader.at_eof(), "the connection stayed open after a refusal"
    assert Recorder.seen == [], "a handler ran for bytes that were refused"
    assert unsafe_log_lines(caplog.records) == []


def test_refusals_never_echo_the_request_and_forbid_sniffing(harness: Harness) -> None:
    # Whatever the attack, the error body is a fixed text: nothing of the request in it.
    echoes = []
    with serving(harness, RECORDING_ROUTES, **LIMITS) as server:
        for case in CASES:
            if case.known_bug:
                continue
            connection = server.connect()
            reader = ResponseReader(connection)
            connection.send(case.data + (SMUGGLED if case.pipelined else b""))
            connection.close_write()
            response = reader.read()
            assert response is not None, case.name
            assert response.headers.get("X-Content-Type-Options") == "nosniff", case.name
            if any(part in response.body for part in (b"victim", b"smuggled", b"bytearray(",
                                                      b"b'")):
                echoes.append((case.name, response.body))
            connection.close()
    assert echoes == []


@pytest.mark.parametrize("case", _with_known_bugs(CASES))
def test_protocol_layer_refuses_attack_however_it_is_split(case: Case) -> None:
    data = case.data + (SMUGGLED if case.pipelined else b"")
    whole = serve([data], Limits(**LIMITS))
    assert whole.error in case.expected
    assert not any(exchange.complete for exchange in whole.requests)
    assert all(exchange.head.target != b"/smuggled" for exchange in whole.requests)
    head = whole.output.partition(b"\r\n\r\n")[0]
    assert b"\r\nConnection: close" in head
    one_by_one = serve([bytes([byte]) for byte in data], Limits(**LIMITS))
    assert one_by_one.summary() == whole.summary()


# -- what a connection may never run after a request -------------------------------


def _exchange_all(harness: Harness, data: bytes, count: int) -> list[int]:
    """Send `data`, close the sending side; the statuses of up to `count` responses.

    Fails unless the server then closes the connection.
    """
    with serving(harness, RECORDING_ROUTES, **LIMITS) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(data)
        connection.close_write()
        statuses = []
        for _ in range(count):
            response = reader.read()
            if response is None:
                break
            statuses.append(response.status)
        assert reader.at_eof()
    return statuses


def test_request_after_connection_close_never_runs(harness: Harness) -> None:
    first = b"GET /first HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    assert _exchange_all(harness, first + SMUGGLED, 2) == [200]
    assert Recorder.seen == [("GET", "/first")]


def test_request_after_an_http10_request_never_runs(harness: Harness) -> None:
    first = b"GET /first HTTP/1.0\r\n\r\n"
    assert _exchange_all(harness, first + SMUGGLED, 2) == [200]
    assert Recorder.seen == [("GET", "/first")]


def test_body_of_a_request_refused_in_prepare_never_runs_as_a_request(harness: Harness) -> None:
    # The refusal closes the connection: the unread body could be anything.
    data = (b"PUT /refuses HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
            + SMUGGLED)
    assert _exchange_all(harness, data, 2) == [401]
    assert Recorder.seen == []


@pytest.mark.parametrize("framing", ["Content-Length", "chunked"])
def test_body_sent_after_an_expect_refusal_never_runs_as_a_request(
        harness: Harness, framing: str) -> None:
    # The client was told 401 before sending its body, and sends it anyway.
    if framing == "chunked":
        head, body = b"Transfer-Encoding: chunked", (b"%x\r\n" % len(SMUGGLED) + SMUGGLED
                                                     + b"\r\n0\r\n\r\n")
    else:
        head, body = b"Content-Length: %d" % len(SMUGGLED), SMUGGLED
    data = (b"PUT /refuses HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n" + head
            + b"\r\n\r\n" + body)
    assert _exchange_all(harness, data, 2) == [401]
    assert Recorder.seen == []


@pytest.mark.parametrize("framing", ["Content-Length", "chunked"])
def test_body_a_handler_left_unread_never_runs_as_a_request(harness: Harness,
                                                            framing: str) -> None:
    if framing == "chunked":
        head, body = b"Transfer-Encoding: chunked", (b"%x\r\n" % len(SMUGGLED) + SMUGGLED
                                                     + b"\r\n0\r\n\r\n")
    else:
        head, body = b"Content-Length: %d" % len(SMUGGLED), SMUGGLED
    data = (b"PUT /reads-nothing HTTP/1.1\r\nHost: test\r\n" + head + b"\r\n\r\n" + body
            + b"GET /after HTTP/1.1\r\nHost: test\r\n\r\n")
    statuses = _exchange_all(harness, data, 3)
    # Skipping the body and serving /after, or closing after the 202, are both safe.
    assert statuses in ([202, 200], [202])
    assert ("GET", "/smuggled") not in Recorder.seen
    assert Recorder.seen[0] == ("PUT", "/reads-nothing")


def test_body_over_the_limit_never_runs_as_a_request(harness: Harness) -> None:
    data = (b"PUT /tiny HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
            + SMUGGLED)
    assert _exchange_all(harness, data, 2) == [413]
    assert Recorder.seen == []


def test_chunked_body_over_the_limit_never_runs_as_a_request(harness: Harness) -> None:
    chunk = b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n"
    data = b"PUT /tiny HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk
    assert _exchange_all(harness, data + b"0\r\n\r\n" + SMUGGLED, 2) == [413]
    assert Recorder.seen == []


def test_valid_pipelined_requests_all_run_in_order(harness: Harness) -> None:
    # The control for the tests above: pipelining itself works.
    body = b"0\r\n\r\n"
    data = (b"GET /one HTTP/1.1\r\nHost: test\r\n\r\n"
            + b"POST /two HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\n" + body
            + b"POST /three HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"5\r\n" + body + b"\r\n0\r\n\r\n" + SMUGGLED)
    assert _exchange_all(harness, data, 5) == [200, 200, 200, 200]
    assert Recorder.seen == [("GET", "/one"), ("POST", "/two"), ("POST", "/three"),
                             ("GET", "/smuggled")]


# -- what the request may not do to the response or the log -------------------------


@pytest.mark.parametrize("encoded", ["%0d%0aSet-Cookie:%20stolen=1", "%0aSet-Cookie:%20stolen=1",
                                     "%00Set-Cookie:%20stolen=1"])
def test_request_reflected_into_a_header_never_splits_the_response(
        harness: Harness, encoded: str, caplog: pytest.LogCaptureFixture) -> None:
    # uvicorn CVE-2020-7695: a handler copying request data into a header.
    caplog.set_level(logging.CRITICAL, logger="webpy")
    target = f"/reflect/{encoded}".encode()
    data = b"GET " + target + b" HTTP/1.1\r\nHost: test\r\n\r\n" + SMUGGLED
    with serving(harness, RECORDING_ROUTES) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(data)
        response = reader.read()
        assert response is not None
        assert response.status == 500
        assert "Set-Cookie" not in response.headers
        assert b"stolen" not in response.body
        follow = reader.read()
        assert follow is not None and follow.status == 200  # framing is intact
    assert Recorder.seen == [("GET", "/smuggled")]


@pytest.mark.parametrize("target", [b"/%1b%5b2J%1b%5bH", b"/a%0d%0a127.0.0.1%20-%20-%20forged",
                                    b"/missing%00%07"])
def test_control_bytes_decoded_from_the_target_never_reach_the_log_raw(
        harness: Harness, target: bytes, caplog: pytest.LogCaptureFixture) -> None:
    # uvicorn CVE-2020-7694: the log must not carry what the client encoded.
    caplog.set_level(logging.INFO, logger="webpy")
    with serving(harness, {r"/boom/[\s\S]*": _Boom, r"/[\s\S]*": Recorder}) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\n\r\n"
                        + b"GET /boom" + target + b" HTTP/1.1\r\nHost: test\r\n\r\n")
        statuses = [response.status for response in (reader.read(), reader.read())
                    if response is not None]
        assert statuses == [200, 500]
    assert unsafe_log_lines(caplog.records) == []


class _Boom(Recorder):
    def do_get(self) -> tuple[int, str]:
        raise RuntimeError(f"handler bug for the test, at {self.request.path}")
