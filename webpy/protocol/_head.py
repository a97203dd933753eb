"""A request head, from bytes to a checked `RequestHead`: found, vetted, parsed by h11.

Three steps, each done once per head:

1. `HeadScanner` finds where the head ends in the connection's buffer and
   enforces the size limits on the bytes themselves, so the same head gets
   the same status code however the network split it (h11's own buffer cap
   depends on read sizes). It scans incrementally: a head trickled one byte
   at a time costs linear work.
2. `check_head_bytes` refuses what h11 would quietly normalise away before
   anyone could see it: bare LF line endings and control bytes (h11 lets all
   but NUL through). Obs-fold continuation lines, which h11 joins to the
   field before, show as a head with more field lines than h11 has fields;
   bare CR h11 refuses itself. Each check is thus made once.
3. `read_request` hands the head, and nothing else, to a fresh
   `h11.Connection` for the grammar (request line, field syntax, Host,
   Content-Length and Transfer-Encoding values); `vet_request` then applies
   the rules h11 leaves to servers (RFC 9112: versions, targets, CL with TE,
   TE on HTTP/1.0, one Host value) in one walk over the fields.
   A fresh h11 connection per head costs about a microsecond and means no
   response is ever fed to h11 to move its state machine along.

Every refusal is a `ProtocolError` with a fixed text per rule; h11's own
messages, which quote the request, are mapped to fixed texts here and kept
only as the error's `specifics`, for the log.
"""

from __future__ import annotations

import re

import h11

from .errors import ProtocolError
from .events import RequestHead
from .limits import Limits

# A blank line ends the head; a bare-LF blank line ends it too, so that such a
# head is refused promptly instead of waiting for a CRLF that never comes.
_HEAD_END = re.compile(rb"\n\r?\n")
# Control bytes other than HTAB, CR and LF (CR and LF are checked by count).
_CONTROL_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Every byte but those: `head.translate(None, _NOT_CONTROL)` keeps only control bytes.
_NOT_CONTROL = bytes(byte for byte in range(256) if not _CONTROL_BYTE.match(bytes([byte])))
_ABSOLUTE_TARGET = re.compile(rb"https?://", re.IGNORECASE)


class HeadScanner:
    """Finds the end of a request head in a growing buffer, enforcing limits.

    Scanning resumes where it left off, so a client trickling a head one byte
    at a time costs linear, not quadratic, work. A request line that never
    ends is refused with 414 as soon as it passes the limit, so an endless
    line is never held beyond `max_request_line` bytes.
    """

    __slots__ = ("_limits", "_line_count", "_request_line_end", "_scanned")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self.reset()

    def reset(self) -> None:
        self._scanned = 0
        self._request_line_end = -1
        self._line_count = 0

    def find_end(self, buffer: bytearray) -> int:
        """Return the length of the complete head at the start of `buffer`, or -1.

        Raises `ProtocolError` (414 or 431) as soon as the head can no longer
        fit the limits, complete or not.
        """
        limits = self._limits
        if not self._scanned:  # usually the whole head is there at the first look
            match = _HEAD_END.search(buffer)
            if match is not None:
                end = match.end()
                line_end = buffer.find(b"\n", 0, end)
                if line_end > limits.max_request_line + 1:
                    raise ProtocolError(414, "request line too long")
                if end - line_end - 1 > limits.max_header_bytes + 2:
                    raise ProtocolError(431, "header section too large")
                if buffer.count(b"\n", line_end + 1, end) - 1 > limits.max_header_count:
                    raise ProtocolError(431, "too many header fields")
                return end
        start = max(self._scanned - 2, 0)
        match = _HEAD_END.search(buffer, start)
        end = match.end() if match else len(buffer)
        if self._request_line_end < 0:
            self._request_line_end = buffer.find(b"\n", 0, end)
            if self._request_line_end < 0:
                if end > limits.max_request_line + 1:
                    raise ProtocolError(414, "request line too long")
                self._scanned = end
                return -1
            if self._request_line_end > limits.max_request_line + 1:
                raise ProtocolError(414, "request line too long")
            start = self._request_line_end + 1
        self._line_count += buffer.count(b"\n", max(start, self._scanned), end)
        self._scanned = end
        header_bytes = end - self._request_line_end - 1
        if header_bytes > limits.max_header_bytes + 2:
            raise ProtocolError(431, "header section too large")
        # Lines after the request line, less the closing blank line.
        if self._line_count - (1 if match else 0) > limits.max_header_count:
            raise ProtocolError(431, "too many header fields")
        return end if match else -1


def check_head_bytes(head: bytes) -> int:
    """Refuse bare LF line endings and control bytes in a head; return its field line count.

    Obs-fold is found later, for free: h11 joins a folded line to the field
    before it, so the head then has more field lines than h11 has fields
    (`vet_request`). Bare CR needs no check here: h11 refuses it anywhere.
    """
    lines = head.count(b"\n")
    if lines != head.count(b"\r\n"):
        raise ProtocolError(400, "bare LF line ending")
    if head.translate(None, _NOT_CONTROL):
        raise ProtocolError(400, "control byte in request head")
    return lines - 2  # less the request line and the blank line


def check_field_lines(lines: bytes | bytearray) -> None:
    """Refuse bare CR or LF, obs-fold and control bytes in a block of CRLF lines.

    Used for each line of the trailer section of a chunked body.
    """
    crlf = lines.count(b"\r\n")
    if lines.count(b"\n") != crlf:
        raise ProtocolError(400, "bare LF line ending")
    if lines.count(b"\r") != crlf:
        raise ProtocolError(400, "bare CR")
    if b"\n " in lines or b"\n\t" in lines:
        raise ProtocolError(400, "obsolete line folding")
    if _CONTROL_BYTE.search(lines):
        raise ProtocolError(400, "control byte in request head")


def read_request(head: bytes) -> h11.Request:
    """Have a fresh h11 connection parse one complete, vetted head: the grammar step.

    Raises `ProtocolError` for anything h11 refuses.
    """
    parser = h11.Connection(h11.SERVER)
    parser.receive_data(head)
    try:
        event = parse_with_h11(parser)
    except ProtocolError as error:
        if error.status_code == 501 and not _ends_in_chunked(head):
            # RFC 9112 section 6.3 (item 4): with chunked not the final coding the body's
            # length cannot be known, so it is a framing error (400), not an unknown coding.
            raise ProtocolError(400, "Transfer-Encoding does not end in chunked",
                                error.specifics) from None
        raise
    if type(event) is not h11.Request:  # cannot happen for a head that ends in CRLFCRLF
        raise ProtocolError(400, "malformed request head")
    return event


def vet_request(request: h11.Request, head: bytes, field_lines: int
                ) -> tuple[RequestHead, bool]:
    """Apply the rules h11 leaves to servers; return the head and whether its body is chunked.

    h11 has already checked each framing value (digits only, one length,
    chunked only, exactly one Host on HTTP/1.1), so they are only read here.
    Raises `ProtocolError`.
    """
    method, target, version = request.method, request.target, request.http_version
    if version != b"1.1" and version != b"1.0":
        raise ProtocolError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    if method == b"CONNECT":
        raise ProtocolError(501, "CONNECT is not supported")
    if (target[:1] != b"/" and not (
        (target == b"*" and method == b"OPTIONS") or _ABSOLUTE_TARGET.match(target)
    )) or b"#" in target:  # RFC 9112 section 3.2: a request target has no fragment
        raise ProtocolError(400, "malformed request target")
    content_length: int | None = 0
    chunked = has_length = expects_continue = False
    keep_alive = version == b"1.1"
    fields = request.headers.raw_items()
    # h11 joins a folded line to the field before it; the only other way to
    # lose a line is two identical Content-Length fields, which it merges.
    if len(fields) != field_lines and (b"\n " in head or b"\n\t" in head):
        raise ProtocolError(400, "obsolete line folding")
    for raw_name, value in fields:
        name = raw_name.lower()
        if name == b"content-length":
            has_length = True
            content_length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
            content_length = None
        elif name == b"host":
            if b"," in value:
                raise ProtocolError(400, "more than one Host in the Host field")
        elif name == b"connection":
            # RFC 9112 section 9.3: "close" among the options ends the connection.
            if b"close" in _tokens(value):
                keep_alive = False
        elif name == b"expect":
            # RFC 9110 section 10.1.1; an HTTP/1.0 client cannot expect it.
            expects_continue = version == b"1.1" and b"100-continue" in _tokens(value)
    if has_length and _repeated_length(head):
        # h11 merges repeated identical lengths ("3" twice, "3, 3"); a front end that
        # reads them another way would disagree on where this request ends.
        raise ProtocolError(400, "more than one Content-Length")
    if chunked:
        if has_length:
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
        if version == b"1.0":
            # RFC 9112 section 6.1: an HTTP/1.0 sender cannot mean it; its framing is faulty.
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
    return RequestHead(method, target, version, fields, content_length, expects_continue,
                       keep_alive), chunked


_CONTENT_LENGTH_LINE = re.compile(rb"\r\ncontent-length[ \t]*:([^\r]*)", re.IGNORECASE)
_TRANSFER_ENCODING_LINE = re.compile(rb"\r\ntransfer-encoding[ \t]*:([^\r]*)", re.IGNORECASE)


def _repeated_length(head: bytes) -> bool:
    """Whether the head gives Content-Length more than once (two fields, or a list)."""
    values = _CONTENT_LENGTH_LINE.findall(head)
    return len(values) != 1 or b"," in values[0]


def _ends_in_chunked(head: bytes) -> bool:
    """Whether the last transfer coding the head names, over all its fields, is chunked."""
    codings = b",".join(_TRANSFER_ENCODING_LINE.findall(head)).split(b",")
    return codings[-1].strip().lower() == b"chunked"


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip() for token in value.lower().split(b",")]


def parse_with_h11(parser: h11.Connection) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
    """`parser.next_event()`, with h11's refusal turned into a `ProtocolError` with fixed text."""
    try:
        return parser.next_event()
    except h11.RemoteProtocolError as error:
        message = str(error)
        status = error.error_status_hint
        detail = next((text for prefix, text in _H11_DETAILS if message.startswith(prefix)),
                      "malformed request")
        raise ProtocolError(status, detail, message) from None


#: h11's messages (their stable beginnings) and the fixed text the client gets instead.
_H11_DETAILS = (
    ("illegal request line", "malformed request line"),
    ("no request line", "malformed request line"),
    ("Illegal method", "malformed request line"),
    ("Illegal target", "malformed request target"),
    ("illegal header line", "malformed header field"),
    ("continuation line", "obsolete line folding"),
    ("Missing mandatory Host", "missing Host header"),
    ("Found multiple Host", "more than one Host field"),
    ("conflicting Content-Length", "conflicting Content-Length values"),
    ("bad Content-Length", "malformed Content-Length"),
    ("multiple Transfer-Encoding", "more than one Transfer-Encoding field"),
    ("Only Transfer-Encoding: chunked", "only the chunked transfer coding is supported"),
    ("Receive buffer too long", "header section too large"),
)
