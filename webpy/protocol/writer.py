"""Response bytes: the framing decisions as one table, and the serialisation, with no state.

Theory of operation
-------------------
Two rules keep this module small enough to trust:

1. Everything that decides how a response is framed lives in `_FRAMING`
   and `write_head` below: which framing field goes out (Content-Length,
   Transfer-Encoding: chunked or none), whether a body follows the head at
   all, and whether the connection stays open afterwards. Nothing else in
   the package makes those decisions.
2. This module keeps no state and knows nothing of connections. The caller
   (`ServerConnection`) says what it knows of the request being answered
   (`Peer`) and holds the returned `Framing` while it sends the body.

The framing of a response depends on three things: what kind of response
it is, whether its length is known, and whether the client speaks
HTTP/1.1. RFC 9112 section 6.3 and RFC 9110 sections 6.4.1, 8.6 and 15
give the table:

=============  ======  ========  ============  ======================  =========
response       length  HTTP/1.1  framing       framing field           closes
=============  ======  ========  ============  ======================  =========
204            any     any       NONE          none (any CL/TE gone)   no
304            any     any       NONE          the app's CL, if any    no
to HEAD        known   any       NONE          Content-Length          no
to HEAD        not     yes       NONE          TE: chunked             no
to HEAD        not     no        NONE          none                    no
other          known   any       LENGTH        Content-Length          no
other          not     yes       CHUNKED       TE: chunked             no
other          not     no        UNTIL_CLOSE   none                    yes
=============  ======  ========  ============  ======================  =========

A HEAD response carries the fields the same GET would (RFC 9110 section
9.3.2), hence its framing field without a body. "Length known" means the
caller passed `content_length`, or, for a body of unknown length, the
application set a valid Content-Length itself (a streamed file of known
size): that field is kept where it stands. "HTTP/1.1" is false for an
HTTP/1.0 client and for an error answered before any request parsed, when
nothing is known of the client.

The connection stays open after the response only if the request allowed it
(HTTP/1.1 without ``Connection: close``), the caller did not ask to close,
the application's own Connection field does not say close, and the framing
does not end by closing. Otherwise the head says ``Connection: close``.

Fields are written in the order given, after ``Date`` and ``Server``; the
framing field and then the Connection field come last. Every name and value
is checked before anything is written: a CR, LF or NUL from an application
must never reach the wire (response splitting), so `InvalidResponse` is
raised instead. tests/protocol/test_writer_differential.py holds these bytes
to what h11's own writer produces for the same response.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from http import HTTPStatus

from .errors import InvalidResponse


class Framing(enum.Enum):
    """How the body after a response head is delimited."""

    #: Nothing follows the head (HEAD, 204, 304), whatever its fields say.
    NONE = "no body"
    #: Exactly the declared Content-Length bytes follow.
    LENGTH = "content-length"
    #: Chunks, then a zero-size chunk.
    CHUNKED = "chunked"
    #: Bytes until the server closes the connection (HTTP/1.0 clients).
    UNTIL_CLOSE = "until close"


@dataclass(frozen=True, slots=True)
class Peer:
    """What the writer needs to know of the request being answered."""

    #: The request's method was HEAD: no body goes out.
    head_request: bool = False
    #: The client speaks HTTP/1.1, so it understands chunked bodies.
    http_11: bool = False
    #: The request allows the connection to stay open after the response.
    keep_alive: bool = False


#: Answering before any request parsed: nothing is known of the client.
UNKNOWN_PEER = Peer()

_NO_BODY_204, _NO_BODY_304, _TO_HEAD, _WITH_BODY = range(4)
_CONTENT_LENGTH = b"Content-Length"
_CHUNKED = b"Transfer-Encoding: chunked"

#: (kind of response, length known, HTTP/1.1 client) -> (framing, field we add, closes)
#: The field we add is None, `_CHUNKED`, or `_CONTENT_LENGTH` (only if the caller gave
#: the length; the application's own is kept where it stands otherwise).
_FRAMING: dict[tuple[int, bool, bool], tuple[Framing, bytes | None, bool]] = {
    (_NO_BODY_204, False, False): (Framing.NONE, None, False),
    (_NO_BODY_204, False, True): (Framing.NONE, None, False),
    (_NO_BODY_204, True, False): (Framing.NONE, None, False),
    (_NO_BODY_204, True, True): (Framing.NONE, None, False),
    (_NO_BODY_304, False, False): (Framing.NONE, None, False),
    (_NO_BODY_304, False, True): (Framing.NONE, None, False),
    (_NO_BODY_304, True, False): (Framing.NONE, None, False),
    (_NO_BODY_304, True, True): (Framing.NONE, None, False),
    (_TO_HEAD, True, False): (Framing.NONE, _CONTENT_LENGTH, False),
    (_TO_HEAD, True, True): (Framing.NONE, _CONTENT_LENGTH, False),
    (_TO_HEAD, False, True): (Framing.NONE, _CHUNKED, False),
    (_TO_HEAD, False, False): (Framing.NONE, None, False),
    (_WITH_BODY, True, False): (Framing.LENGTH, _CONTENT_LENGTH, False),
    (_WITH_BODY, True, True): (Framing.LENGTH, _CONTENT_LENGTH, False),
    (_WITH_BODY, False, True): (Framing.CHUNKED, _CHUNKED, False),
    (_WITH_BODY, False, False): (Framing.UNTIL_CLOSE, None, True),
}

#: What ends a body of each framing.
END_OF_BODY = {
    Framing.NONE: b"",
    Framing.LENGTH: b"",
    Framing.CHUNKED: b"0\r\n\r\n",
    Framing.UNTIL_CLOSE: b"",
}

REASON_PHRASES = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}
CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"

_STATUS_LINES = {status: b"HTTP/1.1 %d %s" % (status, phrase)
                 for status, phrase in REASON_PHRASES.items()}

# RFC 9110 sections 5.1, 5.5 and 8.6: a field name is a token; a value has no
# CR, LF, NUL or other control bytes, and no leading or trailing whitespace.
_FIELD_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?")
_REASON_PHRASE = re.compile(rb"[\t \x21-\x7e\x80-\xff]*")
_DIGITS = re.compile(rb"[0-9]{1,20}")
#: Valid field names seen so far, with their lowercase form (bounded, see `_lower_name`).
_NAMES: dict[bytes, bytes] = {}
#: Valid field values seen so far (bounded, see `_check_value`).
_VALUES: set[bytes] = set()


class ResponseHead:
    """A serialised head and what it decided; returned by `write_head`."""

    __slots__ = ("data", "framing", "keep_alive", "length")

    def __init__(self, data: bytes, framing: Framing, length: int | None,
                 keep_alive: bool) -> None:
        #: The head's bytes, status line to blank line.
        self.data = data
        #: How the body that follows is delimited.
        self.framing = framing
        #: The declared Content-Length (also for HEAD), or None.
        self.length = length
        #: Whether the connection stays open after this response.
        self.keep_alive = keep_alive


def write_head(
    status_code: int,
    fields: list[tuple[bytes, bytes]],
    date: bytes,
    server: bytes,
    peer: Peer,
    *,
    reason: bytes | None = None,
    content_length: int | None = None,
    close: bool = False,
) -> ResponseHead:
    """Serialise a final response head to `peer`; see the module docstring for the rules.

    `server` is the value of the Server field. Raises `InvalidResponse` for a
    status outside 200-999, a field or reason that must not go on the wire,
    or an invalid Content-Length set by the application.
    """
    if not 200 <= status_code <= 999:
        raise InvalidResponse(f"final status code expected, got {status_code}")
    if reason is None:
        status_line = _STATUS_LINES.get(status_code) or b"HTTP/1.1 %d Unknown" % status_code
    elif _REASON_PHRASE.fullmatch(reason):
        status_line = b"HTTP/1.1 %d %s" % (status_code, reason)
    else:
        raise InvalidResponse(f"invalid reason phrase {reason!r}")
    if status_code == 204:
        kind = _NO_BODY_204
    elif status_code == 304:
        kind = _NO_BODY_304
    else:
        kind = _TO_HEAD if peer.head_request else _WITH_BODY
    # The caller's length replaces the application's Content-Length, except on a 304.
    drop_length = kind == _NO_BODY_204 or (content_length is not None and kind != _NO_BODY_304)
    lines = [status_line, b"Date: " + date, b"Server: " + server]
    app_length: int | None = None
    connection: list[bytes] | None = None
    for name, value in fields:
        lower = _NAMES.get(name) or _lower_name(name)
        if type(value) is not bytes or value not in _VALUES:
            _check_value(name, value)
        if lower in _FRAMING_NAMES:
            if lower == b"transfer-encoding":
                continue  # the framing is ours to choose
            if lower == b"content-length":
                if drop_length:
                    continue
                declared = _app_length(value)
                if app_length is not None:
                    if declared != app_length:
                        raise InvalidResponse("conflicting Content-Length values")
                    continue
                app_length = declared
            else:  # connection
                connection = (connection or []) + [
                    token.strip() for token in value.lower().split(b",") if token.strip()]
        lines.append(name + b": " + value)
    length = content_length if content_length is not None else app_length
    framing, field, closes = _FRAMING[kind, length is not None, peer.http_11]
    if field is _CONTENT_LENGTH:
        if content_length is not None:
            lines.append(b"Content-Length: %d" % content_length)
    elif field is not None:
        lines.append(field)
    keep_alive = peer.keep_alive and not (close or closes)
    if connection is not None:
        keep_alive = keep_alive and b"close" not in connection
        if not keep_alive:  # one Connection field, last, with "close" among its tokens
            lines = [line for line in lines if line[:11].lower() != b"connection:"]
            tokens = sorted({*connection, b"close"} - {b"keep-alive"})
            lines += [b"Connection: " + token for token in tokens]
    elif not keep_alive:
        lines.append(b"Connection: close")
    lines += (b"", b"")
    return ResponseHead(b"\r\n".join(lines), framing, length, keep_alive)


def write_informational(status_code: int, fields: list[tuple[bytes, bytes]],
                        reason: bytes | None = None) -> bytes:
    """Serialise an interim (1xx) response head, e.g. 101 Switching Protocols.

    No framing field and no Date: an interim response has no body and is
    followed by the final one. Raises `InvalidResponse` like `write_head`.
    """
    if not 100 <= status_code <= 199:
        raise InvalidResponse(f"informational status code expected, got {status_code}")
    if reason is None:
        reason = REASON_PHRASES.get(status_code, b"")
    elif not _REASON_PHRASE.fullmatch(reason):
        raise InvalidResponse(f"invalid reason phrase {reason!r}")
    lines = [b"HTTP/1.1 %d %s" % (status_code, reason)]
    for name, value in fields:
        _NAMES.get(name) or _lower_name(name)
        if type(value) is not bytes or not _FIELD_VALUE.fullmatch(value):
            raise InvalidResponse(f"invalid value for header {name!r}: {value!r}")
        lines.append(name + b": " + value)
    lines += (b"", b"")
    return b"\r\n".join(lines)


def is_field_value(value: bytes) -> bool:
    """Whether `value` may be sent as a field value as it is."""
    return type(value) is bytes and _FIELD_VALUE.fullmatch(value) is not None


def chunk(data: bytes) -> list[bytes]:
    """`data` framed as one chunk of a chunked body, left uncopied; nothing for no data."""
    if not data:
        return []
    return [b"%x\r\n" % len(data), data, b"\r\n"]


def chunk_around(count: int) -> tuple[bytes, bytes]:
    """The framing to write before and after `count` bytes sent as one chunk."""
    return b"%x\r\n" % count, b"\r\n"


_FRAMING_NAMES = frozenset((b"content-length", b"transfer-encoding", b"connection"))


def _lower_name(name: bytes) -> bytes:
    """Check a field name new to this process and return its lowercase form.

    Valid names are remembered (up to 1024 of them) so that the names an
    application sends on every response are checked once.
    """
    if type(name) is not bytes or not _FIELD_NAME.fullmatch(name):
        raise InvalidResponse(f"invalid header name {name!r}")
    lower = name.lower()
    if len(_NAMES) < 1024:
        _NAMES[name] = lower
    return lower


def _check_value(name: bytes, value: bytes) -> None:
    """Refuse a field value that must not reach the wire; remember short valid ones.

    Up to 1024 valid values of up to 128 bytes are remembered, so that the
    values an application sends on every response (its Content-Type) are
    checked once.
    """
    if type(value) is not bytes or not _FIELD_VALUE.fullmatch(value):
        raise InvalidResponse(f"invalid value for header {name!r}: {value!r}")
    if len(value) <= 128 and len(_VALUES) < 1024:
        _VALUES.add(value)


def _app_length(value: bytes) -> int:
    if not _DIGITS.fullmatch(value):
        raise InvalidResponse(f"invalid Content-Length {value!r}")
    return int(value)
