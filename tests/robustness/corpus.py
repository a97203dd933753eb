"""A corpus of request-smuggling and framing attacks, each with where it comes from.

Every case is a byte string a hostile client (or a lenient proxy in front of
webpy) might send. Each must be refused with a 4xx and a closed connection, and
nothing in it, or after it on the same connection, may reach a handler: a
server that reads the framing differently from the proxy in front of it lets
an attacker hide a second request inside the first (RFC 9112 section 11.2).

`source` cites the rule (an RFC 9112 or RFC 9110 section) or the advisory of
another Python server that was bitten by the same bytes. The advisories, in
short:

- waitress GHSA-4ppp-gpcr-7qf6: two Content-Length fields were folded into
  one invalid value and read as no body, so the body ran as a request.
- waitress GHSA-pg36-wpm5-g57p: a bare LF was taken as a line ending.
- waitress GHSA-g2xc-35jw-c63p: `Transfer-Encoding: gzip, chunked` fell
  through to Content-Length.
- waitress GHSA-m5ff-3wj3-8ph4: `Transfer-Encoding: \\x0bchunked` was
  stripped to `chunked`, where a proxy used Content-Length.
- waitress GHSA-4f7p-27jc-3c36: lengths parsed with `int()` (`+10`, `0x01`),
  and chunk extensions skipped without checking their bytes.
- h11 CVE-2025-43859: the two bytes after chunk data were not checked to be
  CRLF.
- tornado GHSA-qppv-j76h-2rpx: Content-Length and chunk sizes parsed with
  `int()` (`0_0`, `-0`, `+1`, Unicode digits).
- tornado GHSA-753j-mpmx-qq6g: unexpected Transfer-Encoding values were
  ignored, and non-ASCII whitespace (`\\x85`) was stripped from values.
- gunicorn CVE-2024-1135: several conflicting Transfer-Encoding lines were
  read as chunked whatever the final coding.
- gunicorn CVE-2024-6827: a Transfer-Encoding that was not `chunked` fell
  back to Content-Length.
- uvicorn CVE-2020-7694: control bytes from the request reached the log
  unescaped (log injection); CVE-2020-7695: CRLF put into a response header
  split the response.

Cases whose `expected` is wider than {400} name the other statuses the RFC
allows for them (413, 414, 431 for limits; 501 for a transfer coding that is
well-formed but not implemented, RFC 9112 section 6.1). `known_bug` marks a
case webpy gets wrong today: the tests mark it xfail (strict) with that reason
until the fix lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Small limits so that the limit cases stay small; every corpus server uses them.
LIMITS: dict[str, Any] = {"max_request_line": 256, "max_header_bytes": 1024,
                          "max_header_count": 10, "max_chunk_line": 64}

#: Sent after each case on the same connection: it must never reach a handler.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n"

_GET = b"GET /victim HTTP/1.1\r\nHost: test\r\n"
_POST = b"POST /victim HTTP/1.1\r\nHost: test\r\n"
_CHUNKED = _POST + b"Transfer-Encoding: chunked\r\n\r\n"

#: Status codes for a refused request whose framing cannot be read.
BAD = frozenset({400})


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    data: bytes
    source: str
    expected: frozenset[int] = BAD
    #: Whether SMUGGLED can follow the case (an unterminated line would swallow it).
    pipelined: bool = True
    known_bug: str | None = field(default=None)


CASES: list[Case] = [
    # -- Content-Length together with Transfer-Encoding ------------------------
    Case("CL.TE: Content-Length then Transfer-Encoding",
         _POST + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
         "RFC 9112 section 6.1 and 6.3 (item 3); PortSwigger CL.TE"),
    Case("TE.CL: Transfer-Encoding then Content-Length",
         _POST + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
         b"8\r\nSMUGGLED\r\n0\r\n\r\n",
         "RFC 9112 section 6.1 and 6.3 (item 3); PortSwigger TE.CL"),
    Case("CL.TE with the coding in capitals",
         _POST + b"Content-Length: 5\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
         "RFC 9112 section 6.3 (item 3); transfer codings are case-insensitive (section 7)"),
    Case("CL.TE with gzip, chunked (waitress fell through to Content-Length)",
         _POST + b"Content-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
         "waitress GHSA-g2xc-35jw-c63p; RFC 9112 section 6.1 (501 for an unknown coding)",
         expected=frozenset({400, 501})),
    Case("CL.TE with identity (gunicorn fell back to Content-Length)",
         _POST + b"Content-Length: 5\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
         "gunicorn CVE-2024-6827; RFC 9112 section 6.3 (item 4)"),
    Case("Transfer-Encoding on HTTP/1.0",
         b"POST /victim HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "RFC 9112 section 6.1 (HTTP/1.0 framing is faulty with Transfer-Encoding)"),
    Case("Content-Length and Transfer-Encoding on HTTP/1.0",
         b"POST /victim HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"0\r\n\r\n", "RFC 9112 section 6.1 and 6.3 (item 3)"),

    # -- duplicate and conflicting Content-Length ------------------------------
    Case("two different Content-Length fields",
         _POST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
         "waitress GHSA-4ppp-gpcr-7qf6; RFC 9112 section 6.3 (item 5)"),
    Case("Content-Length list of different values",
         _POST + b"Content-Length: 3, 4\r\n\r\nabcd", "RFC 9110 section 8.6"),
    Case("three Content-Length fields, the last one different",
         _POST + b"Content-Length: 3\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
         "waitress GHSA-4ppp-gpcr-7qf6"),
    Case("two identical Content-Length fields",
         _POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
         "waitress GHSA-4ppp-gpcr-7qf6; RFC 9110 section 8.6 (may reject)"),
    Case("Content-Length list of one value twice",
         _POST + b"Content-Length: 3, 3\r\n\r\nabc",
         "waitress GHSA-4ppp-gpcr-7qf6; RFC 9110 section 8.6 (may reject)"),
    Case("Content-Length with a trailing comma", _POST + b"Content-Length: 3,\r\n\r\nabc",
         "RFC 9110 section 8.6 (1*DIGIT)"),
    Case("Content-Length folded onto a continuation line",
         _POST + b"Content-Length:\r\n 3\r\n\r\nabc", "RFC 9112 section 5.2"),

    # -- Content-Length values that int() would read ---------------------------
    Case("Content-Length +10", _POST + b"Content-Length: +10\r\n\r\n0123456789",
         "waitress GHSA-4f7p-27jc-3c36"),
    Case("Content-Length 0x01", _POST + b"Content-Length: 0x01\r\n\r\nX",
         "waitress GHSA-4f7p-27jc-3c36"),
    Case("Content-Length 0_0", _POST + b"Content-Length: 0_0\r\n\r\n",
         "tornado GHSA-qppv-j76h-2rpx"),
    Case("Content-Length -0", _POST + b"Content-Length: -0\r\n\r\n",
         "tornado GHSA-qppv-j76h-2rpx"),
    Case("Content-Length -1", _POST + b"Content-Length: -1\r\n\r\n",
         "RFC 9110 section 8.6 (1*DIGIT)"),
    Case("Content-Length with a Unicode digit", _POST + "Content-Length: \u0661\r\n\r\nX".encode(),
         "tornado GHSA-qppv-j76h-2rpx (int() reads non-ASCII digits)"),
    Case("Content-Length with a space inside", _POST + b"Content-Length: 1 0\r\n\r\n0123456789",
         "RFC 9110 section 8.6 (1*DIGIT)"),
    Case("Content-Length in exponent form", _POST + b"Content-Length: 1e1\r\n\r\n0123456789",
         "RFC 9110 section 8.6 (1*DIGIT)"),
    Case("empty Content-Length", _POST + b"Content-Length: \r\n\r\n",
         "RFC 9112 section 6.3 (item 5)"),
    Case("Content-Length past 2**64", _POST + b"Content-Length: 18446744073709551617\r\n\r\n",
         "RFC 9112 section 6.3 (item 5); RFC 9110 section 8.6 (overflow)",
         expected=frozenset({400, 413})),

    # -- Transfer-Encoding variants ---------------------------------------------
    Case("Transfer-Encoding with a leading vertical tab",
         _POST + b"Content-Length: 5\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
         "waitress GHSA-m5ff-3wj3-8ph4"),
    Case("Transfer-Encoding with a leading vertical tab, alone",
         _POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
         "waitress GHSA-m5ff-3wj3-8ph4"),
    Case("Transfer-Encoding chunked followed by \\x85",
         _POST + b"Transfer-Encoding: chunked\x85\r\n\r\n0\r\n\r\n",
         "tornado GHSA-753j-mpmx-qq6g; RFC 9110 section 5.6.3 (only SP and HTAB are whitespace)"),
    Case("Transfer-Encoding gzip, chunked", _POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
         b"0\r\n\r\n", "waitress GHSA-g2xc-35jw-c63p; RFC 9112 section 6.1 (501 for an unknown "
         "coding)", expected=frozenset({400, 501})),
    Case("Transfer-Encoding chunked, gzip (chunked not last)",
         _POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
         "RFC 9112 section 6.3 (item 4)"),
    Case("Transfer-Encoding gzip alone", _POST + b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
         "tornado GHSA-753j-mpmx-qq6g; RFC 9112 section 6.3 (item 4)"),
    Case("Transfer-Encoding identity alone",
         _POST + b"Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
         "gunicorn CVE-2024-6827; RFC 9112 section 6.3 (item 4)"),
    Case("Transfer-Encoding xchunked", _POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
         "RFC 9112 section 6.3 (item 4)"),
    Case("Transfer-Encoding quoted", _POST + b'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n',
         "RFC 9112 section 6.3 (item 4); RFC 9110 section 5.6.2 (a coding is a token)"),
    Case("empty Transfer-Encoding", _POST + b"Transfer-Encoding: \r\n\r\n0\r\n\r\n",
         "RFC 9112 section 6.1 (1#transfer-coding) and 6.3 (item 4)"),
    Case("two Transfer-Encoding lines, chunked then identity",
         _POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
         "gunicorn CVE-2024-1135; RFC 9112 section 6.3 (item 4)"),
    Case("two Transfer-Encoding lines, identity then chunked",
         _POST + b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "gunicorn CVE-2024-1135; RFC 9112 section 6.1", expected=frozenset({400, 501})),
    Case("two Transfer-Encoding lines, both chunked",
         _POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "gunicorn CVE-2024-1135; RFC 9112 section 6.1 (chunked only once)",
         expected=frozenset({400, 501})),
    Case("Transfer-Encoding chunked with a parameter",
         _POST + b"Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
         "RFC 9112 section 7 (chunked takes no parameters)", expected=frozenset({400, 501})),
    Case("space before the colon of Transfer-Encoding",
         _POST + b"Content-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
         "RFC 9112 section 5.1 (must be refused with 400)"),
    Case("Transfer-Encoding folded onto a continuation line",
         _POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", "RFC 9112 section 5.2"),

    # -- chunk sizes and chunk lines --------------------------------------------
    Case("chunk size +10", _CHUNKED + b"+10\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",
         "waitress GHSA-4f7p-27jc-3c36"),
    Case("chunk size 0x01", _CHUNKED + b"0x01\r\nX\r\n0\r\n\r\n", "waitress GHSA-4f7p-27jc-3c36"),
    Case("chunk size 0_0", _CHUNKED + b"0_0\r\n\r\n", "tornado GHSA-qppv-j76h-2rpx"),
    Case("chunk size -0", _CHUNKED + b"-0\r\n\r\n", "tornado GHSA-qppv-j76h-2rpx"),
    Case("chunk size with a Unicode digit", _CHUNKED + "\u0661\r\nX\r\n0\r\n\r\n".encode(),
         "tornado GHSA-qppv-j76h-2rpx"),
    Case("chunk size with a leading space", _CHUNKED + b" 1\r\nX\r\n0\r\n\r\n",
         "RFC 9112 section 7.1 (chunk-size = 1*HEXDIG)"),
    Case("chunk size with trailing text", _CHUNKED + b"1 x\r\nX\r\n0\r\n\r\n",
         "RFC 9112 section 7.1"),
    Case("chunk size past 64 bits", _CHUNKED + b"10000000000000001\r\nX\r\n0\r\n\r\n",
         "RFC 9112 section 7.1 (anticipate overflow)", expected=frozenset({400, 413})),
    Case("chunk size line ended by a bare LF", _CHUNKED + b"1\nX\r\n0\r\n\r\n",
         "h11 CVE-2025-43859; RFC 9112 section 7.1"),
    Case("chunk extension with a bare CR", _CHUNKED + b"1;a\rb\r\nX\r\n0\r\n\r\n",
         "waitress GHSA-4f7p-27jc-3c36"),
    Case("chunk extension with a bare LF inside quotes", _CHUNKED + b'1;a="\n"\r\nX\r\n0\r\n\r\n',
         "waitress GHSA-4f7p-27jc-3c36; RFC 9112 section 7.1.1"),
    Case("chunk extension with NUL", _CHUNKED + b"1;a\x00\r\nX\r\n0\r\n\r\n",
         "waitress GHSA-4f7p-27jc-3c36"),
    Case("junk after chunk data instead of CRLF", _CHUNKED + b"1\r\nXYZ0\r\n\r\n",
         "h11 CVE-2025-43859"),
    Case("chunk data longer than its size", _CHUNKED + b"1\r\nXX\r\n0\r\n\r\n",
         "h11 CVE-2025-43859; RFC 9112 section 7.1"),
    Case("chunk data ended by a bare LF", _CHUNKED + b"1\r\nX\n0\r\n\r\n",
         "h11 CVE-2025-43859; RFC 9112 section 7.1"),
    Case("chunk data ended by a bare CR", _CHUNKED + b"1\r\nX\r0\r\n\r\n",
         "h11 CVE-2025-43859; RFC 9112 section 7.1"),
    Case("last chunk followed by a line that is not a field", _CHUNKED + b"0\r\nXX\r\n\r\n",
         "RFC 9112 section 7.1.2 (trailer-section = *( field-line CRLF ))"),
    Case("last chunk ended by a bare LF", _CHUNKED + b"0\r\n\n", "RFC 9112 section 7.1"),
    Case("trailer field folded", _CHUNKED + b"0\r\nT: a\r\n b\r\n\r\n",
         "RFC 9112 section 5.2 and 7.1.2"),
    Case("trailer field with a control byte", _CHUNKED + b"0\r\nT: \x1b[2J\r\n\r\n",
         "RFC 9110 section 5.5"),

    # -- bare CR and LF in the head ---------------------------------------------
    Case("bare LF line endings throughout", b"GET /victim HTTP/1.1\nHost: test\n\n",
         "waitress GHSA-pg36-wpm5-g57p; RFC 9112 section 2.2"),
    Case("one header line ended by a bare LF",
         _POST + b"X-A: b\nContent-Length: 5\r\n\r\n0\r\n\r\n",
         "waitress GHSA-pg36-wpm5-g57p"),
    Case("request line ended by a bare LF", b"GET /victim HTTP/1.1\nHost: test\r\n\r\n",
         "waitress GHSA-pg36-wpm5-g57p"),
    Case("head ended by a bare LF blank line", _GET + b"X-A: b\r\n\n",
         "waitress GHSA-pg36-wpm5-g57p; RFC 9112 section 2.2"),
    Case("bare CR in a header value", _GET + b"X-A: b\rTransfer-Encoding: chunked\r\n\r\n",
         "RFC 9112 section 2.2; RFC 9110 section 5.5"),
    Case("CR CR LF line ending", _GET + b"X-A: b\r\r\n\r\n", "RFC 9112 section 2.2"),
    Case("bare CR in the request line", b"GET /victim\r HTTP/1.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 2.2"),
    Case("bare LF before the request line", b"\n" + _GET + b"\r\n",
         "RFC 9112 section 2.2 (only CRLF may precede the request line)"),

    # -- NUL and control bytes ---------------------------------------------------
    Case("NUL in a header value", _GET + b"X-A: b\x00c\r\n\r\n", "RFC 9110 section 5.5"),
    Case("NUL in a header name", _GET + b"X-\x00A: b\r\n\r\n", "RFC 9110 section 5.1"),
    Case("NUL in the method", b"G\x00T /victim HTTP/1.1\r\nHost: test\r\n\r\n",
         "RFC 9110 section 9.1 (method = token)"),
    Case("NUL in the target", b"GET /victim\x00 HTTP/1.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 3.2"),
    Case("terminal escape in a header value", _GET + b"User-Agent: \x1b[31mred\r\n\r\n",
         "uvicorn CVE-2020-7694 (log injection); RFC 9110 section 5.5"),
    Case("terminal escape in the target", b"GET /\x1b[2J HTTP/1.1\r\nHost: test\r\n\r\n",
         "uvicorn CVE-2020-7694 (log injection); RFC 9112 section 3.2"),
    Case("DEL in the target", b"GET /victim\x7f HTTP/1.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 3.2"),
    Case("form feed in a header value", _GET + b"X-A: a\x0cb\r\n\r\n", "RFC 9110 section 5.5"),
    Case("non-ASCII byte in a header name", _GET + b"X\xff: a\r\n\r\n", "RFC 9110 section 5.1"),

    # -- obs-fold and whitespace -------------------------------------------------
    Case("obs-fold with a space", _GET + b"X-A: b\r\n c\r\n\r\n", "RFC 9112 section 5.2"),
    Case("obs-fold with a tab", _GET + b"X-A: b\r\n\tc\r\n\r\n", "RFC 9112 section 5.2"),
    Case("whitespace before the first header line", b"GET /victim HTTP/1.1\r\n Host: test\r\n\r\n",
         "RFC 9112 section 2.2 (reject, or ignore the line)"),
    Case("space before a colon", _GET + b"Content-Length : 0\r\n\r\n", "RFC 9112 section 5.1"),

    # -- over-long lines ---------------------------------------------------------
    Case("request line that never ends", b"GET /" + b"a" * 400,
         "RFC 9112 section 3 (a server should answer 414 for a long target)",
         expected=frozenset({414}), pipelined=False),
    Case("request line over the limit", b"GET /" + b"a" * 400 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
         "RFC 9112 section 3", expected=frozenset({414})),
    Case("header section over the limit", _GET + b"X-A: " + b"a" * 2000 + b"\r\n\r\n",
         "RFC 6585 section 5 (431)", expected=frozenset({431})),
    Case("too many header fields", _GET + b"X-A: b\r\n" * 20 + b"\r\n",
         "RFC 6585 section 5 (431)", expected=frozenset({431})),
    Case("chunk size line over the limit", _CHUNKED + b"1;" + b"e" * 100 + b"\r\nX\r\n0\r\n\r\n",
         "RFC 9112 section 7.1.1 (a server limits extension length)"),
    Case("too many trailer fields", _CHUNKED + b"0\r\n" + b"T: v\r\n" * 20 + b"\r\n",
         "RFC 9112 section 7.1.2; RFC 6585 section 5 (431)", expected=frozenset({431})),
    Case("trailer section over the limit", _CHUNKED + b"0\r\nT: " + b"v" * 2000 + b"\r\n\r\n",
         "RFC 9112 section 7.1.2; RFC 6585 section 5 (431)", expected=frozenset({431})),

    # -- invalid methods and versions -------------------------------------------
    Case("slash in the method", b"GE/T /victim HTTP/1.1\r\nHost: test\r\n\r\n",
         "RFC 9110 section 9.1 (method = token)"),
    Case("parenthesis in the method", b"G(ET /victim HTTP/1.1\r\nHost: test\r\n\r\n",
         "RFC 9110 section 9.1 (method = token)"),
    Case("non-ASCII method", "GÉT /victim HTTP/1.1\r\nHost: test\r\n\r\n".encode(),
         "RFC 9110 section 9.1 (method = token)"),
    Case("empty method", b" /victim HTTP/1.1\r\nHost: test\r\n\r\n", "RFC 9112 section 3"),
    Case("two spaces after the method", b"GET  /victim HTTP/1.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 3 (single SP)"),
    Case("tab between method and target", b"GET\t/victim HTTP/1.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 3 (single SP)"),
    Case("text after the version", b"GET /victim HTTP/1.1 extra\r\nHost: test\r\n\r\n",
         "RFC 9112 section 3"),
    Case("space after the version", b"GET /victim HTTP/1.1 \r\nHost: test\r\n\r\n",
         "RFC 9112 section 3"),
    Case("version HTTP/1", b"GET /victim HTTP/1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 2.3 (HTTP-version = HTTP/DIGIT.DIGIT)"),
    Case("version HTTP/1.1.1", b"GET /victim HTTP/1.1.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 2.3"),
    Case("version HTTP/01.1", b"GET /victim HTTP/01.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 2.3"),
    Case("version HTTPS/1.1", b"GET /victim HTTPS/1.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 2.3 (HTTP-name is case-sensitive)"),
    Case("version in lowercase", b"GET /victim http/1.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 2.3 (HTTP-name is case-sensitive)"),
    Case("no version", b"GET /victim\r\nHost: test\r\n\r\n",
         "RFC 9112 section 3 (HTTP/0.9 is not served)"),
    Case("fragment in the target", b"GET /victim#fragment HTTP/1.1\r\nHost: test\r\n\r\n",
         "RFC 9112 section 3.2.1 (origin-form has no fragment; clients never send one)"),
    Case("missing Host on HTTP/1.1", b"GET /victim HTTP/1.1\r\n\r\n", "RFC 9112 section 3.2"),
    Case("two Host fields", _GET + b"Host: other\r\n\r\n", "RFC 9112 section 3.2"),
]

NAMES = [case.name for case in CASES]
assert len(set(NAMES)) == len(NAMES), "corpus case names must be unique"
