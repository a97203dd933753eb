"""Our response writer against h11's: same bytes, same keep-alive decision.

webpy writes responses itself (webpy/protocol/writer.py) and no longer feeds
them through h11. These tests keep the two writers in step: hypothesis makes
a request (GET, HEAD, POST, HTTP/1.0 or 1.1, with or without a Connection
field, or no request at all) and a response to it (status 200-999 or a 1xx,
application fields, a known or unknown length, the caller's `close`, a body
in pieces). `ServerConnection` writes it, and a fresh `h11.Connection` that
received the same request is given the same response through its public
API only; the bytes and the decision to keep the connection open must be
equal.

What h11 is given is what our writer promises to keep of the application's
fields: its Transfer-Encoding is always dropped (the framing is ours), its
Content-Length is replaced when the caller knows the length (except on a
304, where it describes the resource) and dropped on a 204, and the
caller's `close=True` becomes a ``Connection: close`` field. The reason
phrase is the standard one (h11 leaves it empty unless told). h11 then makes
every framing and keep-alive decision itself.

Where the two may differ, and why:

- Connection fields. We always write the Connection field last, and when a
  response closes we write one Connection field without ``keep-alive``.
  h11 leaves the fields it was given where they stand (and keeps a
  contradictory ``keep-alive``) unless the request itself asked to close.
  So Connection fields are compared as token sets, after the other fields
  are compared in order; when the application sent no Connection field and
  the request decided the closing, the bytes are compared whole.
- An answer before any request parsed (an error, or a 503 at the connection
  limit) always closes with us, since there is no request whose keep-alive
  it could honour; h11 would keep such a connection open. Callers always
  pass ``close=True`` there, so only that case is generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import h11
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from protocol.drive import DATE
from webpy.protocol import (
    CONTINUE_RESPONSE,
    REASON_PHRASES,
    InvalidResponse,
    RequestEnd,
    RequestHead,
    ServerConnection,
)
from webpy.protocol.writer import write_informational

SERVER = b"differential"


@dataclass(frozen=True)
class Exchange:
    """A request (None: answered before any request) and the response to write."""

    request: bytes | None
    status: int
    fields: list[tuple[bytes, bytes]]
    content_length: int | None
    close: bool
    pieces: list[bytes]


@st.composite
def requests(draw: st.DrawFn) -> bytes | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    method = draw(st.sampled_from([b"GET", b"HEAD", b"POST"]))
    version = draw(st.sampled_from([b"1.1", b"1.0"]))
    lines = [method + b" / HTTP/" + version, b"Host: example.test"]
    connection = draw(st.sampled_from([None, b"close", b"Close", b"keep-alive",
                                       b"keep-alive, close", b"x-other"]))
    if connection is not None:
        lines.append(b"Connection: " + connection)
    return b"\r\n".join(lines) + b"\r\n\r\n"


APPLICATION_FIELDS = st.sampled_from([
    (b"Content-Type", b"text/plain; charset=utf-8"),
    (b"X-Custom", b"a b"),
    (b"cache-control", b"no-store"),
    (b"ETag", b'"abc"'),
    (b"Transfer-Encoding", b"gzip"),
    (b"Content-Length", b"7"),
    (b"Connection", b"close"),
    (b"Connection", b"keep-alive"),
])
STATUSES = st.one_of(st.sampled_from([200, 201, 204, 206, 301, 304, 400, 404, 500, 503]),
                     st.integers(200, 999))


@st.composite
def exchanges(draw: st.DrawFn) -> Exchange:
    request = draw(requests())
    pieces = draw(st.lists(st.binary(min_size=0, max_size=9), max_size=3))
    known = draw(st.booleans())
    return Exchange(
        request=request,
        status=draw(STATUSES),
        fields=draw(st.lists(APPLICATION_FIELDS, max_size=4)),
        content_length=sum(map(len, pieces)) if known else None,
        close=request is None or draw(st.booleans()),
        pieces=pieces,
    )


def _ours(exchange: Exchange) -> tuple[bytes, bool] | None:
    """Our bytes and whether we keep the connection; None if our writer refuses."""
    connection = ServerConnection(server_header=SERVER)
    if exchange.request is not None:
        connection.receive_data(exchange.request)
        assert type(connection.next_event()) is RequestHead
        assert type(connection.next_event()) is RequestEnd
    try:
        data = connection.start_response(exchange.status, exchange.fields, DATE,
                                         content_length=exchange.content_length,
                                         close=exchange.close)
        for piece in exchange.pieces:
            data += b"".join(connection.send_body(piece))
        data += connection.end_response()
    except InvalidResponse:
        return None
    return data, not connection.will_close


def _h11_fields(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    """What our writer promises to keep of the application's fields, as h11's input."""
    known = exchange.content_length is not None
    fields = [(b"Date", DATE), (b"Server", SERVER)]
    for name, value in exchange.fields:
        lower = name.lower()
        if lower == b"transfer-encoding":
            continue
        if lower == b"content-length" and (exchange.status == 204 or (
                known and exchange.status != 304)):
            continue
        fields.append((name, value))
    if known and exchange.status not in (204, 304):
        fields.append((b"Content-Length", b"%d" % exchange.content_length))  # type: ignore[str-format]
    if exchange.close:
        fields.append((b"Connection", b"close"))
    return fields


def _theirs(exchange: Exchange) -> tuple[bytes, bool] | None:
    """h11's bytes and whether it keeps the connection; None if h11 refuses."""
    connection = h11.Connection(h11.SERVER)
    no_body = exchange.status in (204, 304)
    if exchange.request is not None:
        connection.receive_data(exchange.request)
        request = connection.next_event()
        assert type(request) is h11.Request
        assert type(connection.next_event()) is h11.EndOfMessage
        no_body = no_body or request.method == b"HEAD"
    try:
        data = connection.send(h11.Response(
            status_code=exchange.status, headers=_h11_fields(exchange),
            reason=REASON_PHRASES.get(exchange.status, b"Unknown"))) or b""
        for piece in exchange.pieces:
            if piece and not no_body:  # our writer drops a body h11 would refuse
                data += connection.send(h11.Data(data=piece)) or b""
        data += connection.send(h11.EndOfMessage()) or b""
    except h11.LocalProtocolError:
        return None
    return data, connection.our_state is h11.DONE


def _comparable(data: bytes) -> tuple[bytes, list[bytes], set[bytes], bytes]:
    """Status line, non-Connection fields in order, Connection tokens, body."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    fields, tokens = [], set()
    for line in lines:
        name, _, value = line.partition(b": ")
        if name.lower() == b"connection":
            tokens |= {token.strip() for token in value.lower().split(b",")}
        else:
            fields.append(line)
    return status_line, fields, tokens, body


@settings(max_examples=400)
@given(exchanges())
@example(Exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200,
                  [(b"Content-Type", b"text/plain")], 5, False, [b"hello"]))
@example(Exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, [], None, False, [b"ab", b"c"]))
@example(Exchange(b"GET / HTTP/1.0\r\n\r\n", 200, [], None, False, [b"raw"]))
@example(Exchange(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 200, [], None, False, [b"x"]))
@example(Exchange(b"HEAD / HTTP/1.0\r\n\r\n", 200, [], None, False, []))
@example(Exchange(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, [], None,
                  False, [b"x"]))
@example(Exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, [], None, True, [b"x"]))
@example(Exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 304, [(b"Content-Length", b"7")],
                  None, False, []))
@example(Exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, [(b"Content-Length", b"7")],
                  None, False, [b"1234567"]))
@example(Exchange(None, 400, [], 3, True, [b"bad"]))
@example(Exchange(None, 503, [], None, True, [b"busy"]))
def test_response_bytes_and_keep_alive_match_h11(exchange: Exchange) -> None:
    ours, theirs = _ours(exchange), _theirs(exchange)
    assert (ours is None) == (theirs is None), (ours, theirs)
    if ours is None or theirs is None:
        return
    (our_bytes, our_keep), (their_bytes, their_keep) = ours, theirs
    assert our_keep == their_keep
    if not our_keep:
        # We never say keep-alive on a response that closes (see the docstring).
        their_bytes = their_bytes.replace(b"Connection: keep-alive\r\n", b"")
    assert _comparable(our_bytes) == _comparable(their_bytes)
    application_connection = any(name.lower() == b"connection" for name, _ in exchange.fields)
    if not application_connection and not (exchange.close and _request_keeps_alive(exchange)):
        assert our_bytes == their_bytes


def _request_keeps_alive(exchange: Exchange) -> bool:
    request = exchange.request or b""
    return b"HTTP/1.1" in request and b"close" not in request.lower()


@pytest.mark.parametrize("status", [100, 102, 103])
def test_informational_response_bytes_match_h11(status: int) -> None:
    fields = [(b"Link", b"</style.css>; rel=preload")] if status == 103 else []
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    connection.next_event()
    theirs = connection.send(h11.InformationalResponse(status_code=status, headers=fields,
                                                       reason=REASON_PHRASES[status]))
    assert write_informational(status, fields) == theirs


def test_continue_response_is_what_h11_sends() -> None:
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                            b"Content-Length: 1\r\n\r\n")
    connection.next_event()
    assert connection.send(h11.InformationalResponse(status_code=100, headers=[],
                                                     reason=b"Continue")) == CONTINUE_RESPONSE


@pytest.mark.parametrize("status", [100, 101, 199])
def test_informational_status_is_refused_as_a_final_response_like_h11(status: int) -> None:
    with pytest.raises(h11.LocalProtocolError):
        h11.Response(status_code=status, headers=[])
    connection = ServerConnection()
    connection.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    connection.next_event()
    with pytest.raises(InvalidResponse):
        connection.start_response(status, [], DATE)


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1 2", b"0x10"])
def test_invalid_application_content_length_is_refused_like_h11(value: bytes) -> None:
    exchange = Exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200,
                        [(b"Content-Length", value)], None, False, [])
    assert _ours(exchange) is None
    assert _theirs(exchange) is None


def test_conflicting_application_content_lengths_are_refused_like_h11() -> None:
    exchange = Exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200,
                        [(b"Content-Length", b"1"), (b"Content-Length", b"2")], None, False,
                        [b"x"])
    assert _ours(exchange) is None
    assert _theirs(exchange) is None
