"""Access log lines that the rest of a stack can read: Common, Combined, a template, JSON lines.

Theory of operation
-------------------
Each response (and each request refused, with what is known of it) becomes
one `AccessRecord`, only when the ``webpy.access`` logger is enabled for
INFO. It is logged as an `AccessMessage`, whose text is the Common Log
Format line (what any handler prints by default, as before). How a line
looks, and where it goes, belongs to the logging configuration, as for any
log: an `AccessFormatter` on a handler writes the record in another format
(Combined, a template of named fields, JSON lines), and a
`ReopeningFileHandler` is a file that logrotate can move away
(``--access-log FILE``; SIGUSR1 reopens it). So every transport logs the
same way, and nothing is formatted that no handler asked for.

Every field a client chose (the request line, headers, a user name, a
request id) is escaped before it is written: a control byte, a byte outside
ASCII, a double quote or a backslash becomes ``\\xHH`` (as nginx writes
them), so no client can end a line, forge another record or a field, or
send a terminal escape sequence to whoever reads the log. JSON lines are
escaped by JSON itself (``ensure_ascii``). Header values come decoded as
Latin-1 (the bytes as sent), so ``\\xHH`` is the byte on the wire; other text
is escaped as its UTF-8 bytes.

Fields, by name, for templates (``{name}``):

=============== ==========================================================
client          the client's address: after a PROXY header or trusted
                forwarding headers, the real client's, not the proxy's
upstream        the peer of the connection: the proxy or load balancer in
                front, or the client itself when nothing is
user            the authenticated user (Common Log Format's authuser),
                %-escaped as it always was
time            the response's time, ``10/Oct/2000:13:55:36 +0000``
request         the request line; ``-`` for a request refused unread
method, target  its parts
status, size    the status code; the body bytes sent (``-`` for none)
referer,        the Referer and User-Agent headers
user_agent
request_id      X-Request-ID as the client (or proxy) sent it, else a new
                random id (made when a line is formatted)
duration_us     microseconds from the request head's arrival to the
                response's last byte handed to the kernel
=============== ==========================================================
"""

from __future__ import annotations

import json
import logging
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

#: Characters of a user name the access log shows as they are; others are %-escaped.
_AUTHUSER_SAFE = "!$&'()*+,;=:@._~"

COMMON = '{client} - {user} [{time}] "{request}" {status} {size}'
COMBINED = COMMON + ' "{referer}" "{user_agent}"'
#: The formats known by name (``--access-log-format``); anything else is a template.
NAMED = {"common": COMMON, "combined": COMBINED, "json": ""}
FIELDS = frozenset({"client", "upstream", "user", "time", "request", "method", "target",
                    "status", "size", "referer", "user_agent", "request_id", "duration_us"})
#: A request id longer than this is cut: it is the client's to choose.
MAX_REQUEST_ID = 200

# Printable ASCII stays; everything else (and the quote and backslash that
# delimit fields) becomes \xHH.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x22, 0x5C, 0x7F)}


def escape(text: str) -> str:
    """`text` with control bytes, non-ASCII, ``"`` and ``\\`` as ``\\xHH`` (see above)."""
    escaped = text.translate(_ESCAPES)
    if escaped.isascii():
        return escaped
    return "".join(
        char if char.isascii() else "".join(
            f"\\x{byte:02x}" for byte in (bytes([ord(char)]) if ord(char) < 0x100
                                          else char.encode("utf-8", "surrogatepass")))
        for char in escaped)


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """What is known of one response; fields as in the module docstring's table.

    Text fields hold what the client sent, not yet escaped; None is unknown.
    """

    client: str | None
    upstream: str | None
    user: str | None
    time: float
    method: str | None
    target: str | None
    http_version: str | None
    status: int
    size: int
    referer: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    duration_us: int | None = None


class AccessFormat:
    """Turns `AccessRecord`s into lines: a name from `NAMED`, or a template of `FIELDS`.

    Raises ValueError for a template naming a field that does not exist.
    """

    def __init__(self, spec: str = "common") -> None:
        self.spec = spec
        self.json = spec == "json"
        self.template = NAMED.get(spec, spec)
        names = {name for _, name, _, _ in string.Formatter().parse(self.template) if name}
        unknown = names - FIELDS
        if unknown:
            raise ValueError(f"unknown access log field {sorted(unknown)[0]!r} (known: "
                             f"{', '.join(sorted(FIELDS))})")
        if not self.json and not names:
            raise ValueError(f"{spec!r} names no field: give common, combined, json or a "
                             f"template such as '{{client}} {{status}} {{duration_us}}'")
        self._log_second = -1
        self._log_date = ""
        self._lock = threading.Lock()

    def line(self, record: AccessRecord) -> str:
        if self.json:
            fields = asdict(record)
            fields["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.time))
            fields["request_id"] = request_id(record.request_id)
            return json.dumps(fields, ensure_ascii=True, separators=(",", ":"))
        return self.template.format_map(_TextFields(record, self))

    def date(self, when: float) -> str:
        """Common Log Format's time, formatted at most once a second."""
        second = int(when)
        with self._lock:
            if second != self._log_second:
                self._log_date = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second))
                self._log_second = second
            return self._log_date


class _TextFields(dict[str, Any]):
    """A record's fields as escaped text, made only when the template asks for them."""

    def __init__(self, record: AccessRecord, owner: AccessFormat) -> None:
        super().__init__()
        self.record, self.owner = record, owner

    def __missing__(self, name: str) -> str:
        return _TEXT[name](self.record, self.owner)


def _or_dash(value: str | None) -> str:
    return escape(value) if value else "-"


def _request_line(record: AccessRecord) -> str:
    if record.method is None:
        return "-"
    return escape(f"{record.method} {record.target} HTTP/{record.http_version}")


_TEXT: dict[str, Callable[[AccessRecord, AccessFormat], str]] = {
    "client": lambda r, f: _or_dash(r.client),
    "upstream": lambda r, f: _or_dash(r.upstream),
    # A user name is the client's to choose (Basic credentials): %-escaped, so it can
    # neither break the line nor pass for another field, and stays one word.
    "user": lambda r, f: quote(r.user, safe=_AUTHUSER_SAFE) if r.user else "-",
    "time": lambda r, f: f.date(r.time),
    "request": lambda r, f: _request_line(r),
    "method": lambda r, f: _or_dash(r.method),
    "target": lambda r, f: _or_dash(r.target),
    "status": lambda r, f: str(r.status),
    "size": lambda r, f: str(r.size) if r.size else "-",
    "referer": lambda r, f: _or_dash(r.referer),
    "user_agent": lambda r, f: _or_dash(r.user_agent),
    "request_id": lambda r, f: escape(request_id(r.request_id)),
    "duration_us": lambda r, f: "-" if r.duration_us is None else str(r.duration_us),
}


def request_id(sent: str | None) -> str:
    """The client's (or proxy's) X-Request-ID, cut to `MAX_REQUEST_ID`, else a new one."""
    return sent[:MAX_REQUEST_ID] if sent else uuid.uuid4().hex


#: The format of `AccessMessage`'s own text: what a handler with no `AccessFormatter` prints.
_COMMON = AccessFormat("common")


class AccessMessage:
    """The message of an access log record: its text is the Common Log Format line,
    made only if a handler asks for it (`AccessFormatter` uses `record` instead)."""

    __slots__ = ("record",)

    def __init__(self, record: AccessRecord) -> None:
        self.record = record

    def __str__(self) -> str:
        return _COMMON.line(self.record)


class AccessFormatter(logging.Formatter):
    """A handler's formatter that writes access records in `format` (an `AccessFormat`
    spec: common, combined, json, or a template); other records as `logging.Formatter`."""

    def __init__(self, format: str = "combined") -> None:
        super().__init__()
        self.access = AccessFormat(format)

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, AccessMessage):
            return self.access.line(record.msg.record)
        return super().format(record)


class ReopeningFileHandler(logging.FileHandler):
    """A log file that `reopen()` closes and opens again by name: after logrotate moved it,
    lines go to a new file at the same path (SIGUSR1 on the command line)."""

    def reopen(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self.stream is not None:
                self.stream.close()
            self.stream = self._open()


def reopen_files(logger: logging.Logger) -> int:
    """Reopen every `ReopeningFileHandler` of `logger`; how many there were."""
    reopened = 0
    for handler in logger.handlers:
        if isinstance(handler, ReopeningFileHandler):
            handler.reopen()
            reopened += 1
    return reopened
