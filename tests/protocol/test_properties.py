"""Property tests: whatever bytes arrive, split wherever, the protocol layer stays sane.

`serve` (see drive.py) bounds the calls to `next_event`, so a hang fails the
test instead of stalling it, and it lets only `ProtocolError` through as an
outcome: anything else raised is a failure.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from protocol.drive import serve, split
from webpy.protocol import Limits

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VALUE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F)) + " \t"
PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~%/?=&"

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
field_values = st.text(VALUE_CHARS, max_size=30).map(str.strip)
split_points = st.lists(st.integers(min_value=0, max_value=2000), max_size=30)

#: Fields the generator controls itself; random ones must not collide with them.
RESERVED = {"host", "content-length", "transfer-encoding", "connection", "expect", "te",
            "upgrade", "trailer"}


@st.composite
def chunked_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A chunked body's wire bytes and the payload they carry."""
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
    wire, payload = bytearray(), bytearray()
    for chunk in chunks:
        extension = draw(st.sampled_from([b"", b";a", b";a=b", b';q="x y"', b";n = v"]))
        size = b"%x" % len(chunk)
        if draw(st.booleans()):
            size = size.upper()
        wire += size + extension + b"\r\n" + chunk + b"\r\n"
        payload += chunk
    wire += b"0\r\n"
    for name, value in draw(st.lists(st.tuples(tokens, field_values), max_size=2)):
        wire += f"{name}: {value}\r\n".encode()
    wire += b"\r\n"
    return bytes(wire), bytes(payload)


@st.composite
def requests(draw: st.DrawFn, *, last: bool = True) -> bytes:
    """One well-formed request; `last=False` keeps the connection open after it."""
    version = draw(st.sampled_from(["1.1", "1.1", "1.0"])) if last else "1.1"
    method = draw(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "BREW"]))
    target = "/" + draw(st.text(PATH_CHARS, max_size=30).filter(lambda t: "%" not in t))
    lines = [f"{method} {target} HTTP/{version}"]
    fields = [(name, value) for name, value in draw(st.lists(st.tuples(tokens, field_values),
                                                             max_size=6))
              if name.lower() not in RESERVED]
    if version == "1.1":
        fields.insert(draw(st.integers(0, len(fields))), ("Host", "example.test"))
    body_kind = draw(st.sampled_from(["none", "length", "chunked"] if version == "1.1"
                                     else ["none", "length"]))
    body = b""
    if body_kind == "length":
        body = draw(st.binary(max_size=60))
        fields.append(("Content-Length", str(len(body))))
    elif body_kind == "chunked":
        body, _ = draw(chunked_bodies())
        fields.append(("Transfer-Encoding", "chunked"))
    if last and draw(st.booleans()):
        fields.append(("Connection", "close"))
    lines += [f"{name}: {value}" for name, value in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@given(requests(), split_points)
@example(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3;a=b\r\nabc\r\n0\r\nT: v\r\n\r\n", list(range(100)))
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


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A valid request (or pipelined pair) with a few bytes deleted, replaced or inserted."""
    data = bytearray(draw(requests(last=False)) + draw(requests()))
    interesting = st.sampled_from(b"\r\n\x00 \t:;,\"\x7f\x80\xff0aZ")
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["delete", "replace", "insert", "duplicate"]))
        if action == "delete" and position < len(data):
            del data[position]
        elif action == "replace" and position < len(data):
            data[position] = draw(interesting)
        elif action == "insert":
            data.insert(position, draw(interesting))
        else:
            data[position:position] = data[position:position + draw(st.integers(1, 8))]
    return bytes(data)


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


@given(over_limit(), split_points)
def test_limit_status_does_not_depend_on_split_points(case: tuple[bytes, int],
                                                      points: list[int]) -> None:
    data, status = case
    assert serve([data], SMALL).error == status
    assert serve(split(data, points), SMALL).error == status
    assert serve([bytes([byte]) for byte in data], SMALL).error == status
