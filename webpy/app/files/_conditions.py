"""Validators and conditional requests (RFC 9110 sections 8.8 and 13).

A file's validators are a strong entity tag, built from its inode, size and
modification time in nanoseconds (any write or replacement changes one of
them), and its modification time as an HTTP-date. `evaluate` applies the
precondition header fields in the order RFC 9110 section 13.2.2 gives, and
`if_range_allows` decides whether a Range still applies (section 13.1.5).
"""

from __future__ import annotations

import functools
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime

from ..headers import Headers

#: An entity-tag: optional weakness indicator, then a quoted opaque string.
_ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')


@dataclass(frozen=True, slots=True)
class Validators:
    """What identifies one version of a file: `etag` (quoted, strong) and `mtime` in seconds."""

    etag: str
    mtime: int

    @classmethod
    def of(cls, status: os.stat_result) -> Validators:
        etag = f'"{status.st_ino:x}-{status.st_size:x}-{status.st_mtime_ns:x}"'
        return cls(etag, int(status.st_mtime))

    @property
    def last_modified(self) -> str:
        return _http_date(self.mtime)


def evaluate(method: str, headers: Headers, current: Validators | None) -> int | None:
    """The status a precondition imposes (304 or 412), or None to go on with the method.

    `current` is None when the target does not exist (e.g. a PUT creating it).
    """
    if_match = headers.get("If-Match")
    if if_match is not None:
        if current is None or not _matches(if_match, current.etag, weak=False):
            return 412
    elif current is not None:
        since = _date(headers.get("If-Unmodified-Since"))
        if since is not None and current.mtime > since:
            return 412
    safe = method in ("GET", "HEAD")
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        if current is not None and _matches(if_none_match, current.etag, weak=True):
            return 304 if safe else 412
    elif safe and current is not None:
        since = _date(headers.get("If-Modified-Since"))
        if since is not None and current.mtime <= since:
            return 304
    return None


def none_match(headers: Headers, etag: str) -> bool:
    """Whether If-None-Match lists `etag` (weakly), for a generated page with no date: 304."""
    field = headers.get("If-None-Match")
    return field is not None and _matches(field, etag, weak=True)


def if_range_allows(value: str | None, current: Validators) -> bool:
    """Whether a Range may be honoured given the If-Range field `value` (None: absent).

    An entity tag must match strongly. A date must equal the modification
    time exactly, and only counts if that time is at least a second in the
    past: a file changed within the same second could change again unseen.
    """
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == current.etag
    since = _date(value)
    return since is not None and since == current.mtime and current.mtime < time.time() - 1


def _matches(field: str, etag: str, *, weak: bool) -> bool:
    """Whether the If-Match / If-None-Match `field` lists `etag` (or is ``*``)."""
    if field.strip() == "*":
        return True
    for match in _ENTITY_TAG.finditer(field):
        tag = match.group()
        if match.group(1):
            if weak and tag[2:] == etag:
                return True
        elif tag == etag:
            return True
    return False


@functools.lru_cache(maxsize=1024)
def _http_date(seconds: int) -> str:
    """`seconds` as an HTTP-date; remembered, as the same files are asked for again and again."""
    return formatdate(seconds, usegmt=True)


def _date(value: str | None) -> int | None:
    """An HTTP-date as whole seconds since the epoch; None if absent or invalid."""
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # asctime form: HTTP-dates are always UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
