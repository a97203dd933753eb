"""Property tests: whatever bytes arrive, split wherever, the protocol layer stays sane.

`serve` (see drive.py) bounds the calls to `next_event`, so a hang fails the
test instead of stalling it, and it lets only `ProtocolError` through as an
outcome: anything else raised is a failure.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from protocol.drive import serve, split
from protocol.strategies import chunked_bodies, mutations, requests, split_points
from webpy.protocol import Limits


@given(requests(), split_points)
@example(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3;a=b\r\nabc\r\n0\r\nT: v\r\n\r\n", list(range(100)))
# A Content-Length body that ends exactly where a read ends, and a chunk split in its CRLF.
@example(b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", [44, 45])
@example(b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3\r\nabc\r\n0\r\n\r\n", [60, 61, 62, 63])
def test_valid_request_split_anywhere_parses_the_same(data: bytes, points: list[int]) -> None:
    whole = serve([data])
    assert whole.error is None
    assert len(whole.requests) == 1 and whole.requests[0].complete
    assert serve(split(data, points)).summary() == whole.summary()


@given(requests(last=False), requests(), split_points)
def test_pipelined_pair_split_anywhere_parses_the_same(
    first: bytes, second: bytes, points: list[int]
) -> None:
    whole = serve([first + second])
    assert whole.error is None
    assert [exchange.complete for exchange in whole.requests] == [True, True]
    assert whole.summary() == serve(split(first + second, points)).summary()
    # Each request parses the same alone as behind another one.
    assert whole.requests[0].head == serve([first]).requests[0].head
    assert whole.requests[1].head == serve([second]).requests[0].head


@given(chunked_bodies())
def test_chunked_body_is_delivered_without_its_framing(body: tuple[bytes, bytes]) -> None:
    wire, payload = body
    head = b"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    outcome = serve([head, wire])
    assert outcome.error is None
    assert outcome.requests[0].body == payload


@given(st.binary(max_size=300), split_points)
def test_arbitrary_bytes_only_ever_raise_protocol_error(data: bytes, points: list[int]) -> None:
    serve(split(data, points))


@given(st.binary(max_size=200).map(lambda tail: b"GET / HTTP/1.1\r\nHost: x\r\n" + tail),
       split_points)
def test_arbitrary_header_bytes_only_ever_raise_protocol_error(data: bytes,
                                                               points: list[int]) -> None:
    serve(split(data, points))


@given(mutations(), split_points)
def test_mutated_requests_only_raise_protocol_error_and_ignore_splits(
    data: bytes, points: list[int]
) -> None:
    whole = serve([data])
    assert serve(split(data, points)).summary() == whole.summary()


SMALL = Limits(max_request_line=64, max_header_bytes=256, max_header_count=6,
               max_body_bytes=100, max_chunk_line=32)


@st.composite
def over_limit(draw: st.DrawFn) -> tuple[bytes, int]:
    """A request that breaks exactly one of `SMALL`'s limits, with its status code."""
    kind = draw(st.sampled_from(["target", "header bytes", "header count", "length",
                                 "chunked", "chunk line"]))
    host = b"Host: h\r\n"
    if kind == "target":
        target = b"/" + b"t" * draw(st.integers(64, 200))
        return b"GET " + target + b" HTTP/1.1\r\n" + host + b"\r\n", 414
    if kind == "header bytes":
        value = b"v" * draw(st.integers(256, 600))
        return b"GET / HTTP/1.1\r\n" + host + b"X: " + value + b"\r\n\r\n", 431
    if kind == "header count":
        count = draw(st.integers(6, 20))
        return b"GET / HTTP/1.1\r\n" + host + b"X: y\r\n" * count + b"\r\n", 431
    if kind == "length":
        length = draw(st.integers(101, 10**12))
        return b"PUT / HTTP/1.1\r\n" + host + b"Content-Length: %d\r\n\r\n" % length, 413
    if kind == "chunked":
        sizes = draw(st.lists(st.integers(1, 60), min_size=1, max_size=8)
                     .filter(lambda sizes: sum(sizes) > 100))
        body = b"".join(b"%x\r\n" % size + b"c" * size + b"\r\n" for size in sizes)
        return (b"PUT / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n" + body
                + b"0\r\n\r\n", 413)
    extension = b";" + b"e" * draw(st.integers(40, 80))
    return (b"PUT / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n1" + extension
            + b"\r\nc\r\n0\r\n\r\n", 400)


# One byte past each of SMALL's limits, cut near the edge (every cut: test_exact_limits.py).
@given(over_limit(), split_points)
@example((b"GET /" + b"t" * 51 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414), [65, 66, 67])
@example((b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"v" * 243 + b"\r\n\r\n", 431), [272, 273])
@example((b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 6 + b"\r\n", 431), [61, 62])
@example((b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", 413), [])
@example((b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"65\r\n" + b"c" * 101 + b"\r\n0\r\n\r\n", 413), [57, 58, 59])
@example((b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"1;" + b"e" * 29 + b"\r\nc\r\n0\r\n\r\n", 400), [88, 89, 90])
def test_limit_status_does_not_depend_on_split_points(case: tuple[bytes, int],
                                                      points: list[int]) -> None:
    data, status = case
    assert serve([data], SMALL).error == status
    assert serve(split(data, points), SMALL).error == status
    assert serve([bytes([byte]) for byte in data], SMALL).error == status
