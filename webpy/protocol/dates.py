"""HTTP dates, formatted from a timestamp the caller supplies (this layer has no clock)."""

from __future__ import annotations

from email.utils import formatdate


def http_date(timestamp: float) -> bytes:
    """Return `timestamp` (seconds since the epoch) as an IMF-fixdate, e.g. for `Date`."""
    return formatdate(timestamp, usegmt=True).encode("ascii")
