"""Cache-Control by path: which responses browsers and proxies may keep, and for how long.

A policy is an ordered list of (regular expression, Cache-Control value)
rules. The expressions are searched (`re.search`) in the path below the
mount, as plain text with ``/`` between names (``css/app.3f2a1c.css``; a
directory listing ends in ``/``), and the first that matches gives the
value. A path no rule matches gets no Cache-Control field, which leaves
caches to their heuristics and to revalidation with the ETag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Names with a content hash before the extension (``app.3f2a1c.js``,
#: ``main.5d41402abc4b2a76.css``): their content never changes under that name.
FINGERPRINTED = r"\.[0-9a-f]{6,}\.[A-Za-z0-9]+$"
#: For fingerprinted files: keep for a year and never revalidate.
IMMUTABLE = "max-age=31536000, immutable"
#: Pages and listings: keep, but ask the server (a cheap 304) before each use.
REVALIDATE = "no-cache"

Rules = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Compiled rules; `value_for(path)` is the Cache-Control for a path, or None."""

    rules: tuple[tuple[re.Pattern[str], str], ...] = ()

    @classmethod
    def of(cls, rules: Rules | None) -> CachePolicy:
        """Compile `rules` ({pattern: value} or (pattern, value) pairs, first match wins).

        Raises ValueError for a pattern that does not compile or a value that
        could not be sent in a header field (empty, or with control characters).
        """
        if rules is None:
            return cls()
        pairs = rules.items() if isinstance(rules, Mapping) else rules
        compiled = []
        for pattern, value in pairs:
            try:
                expression = re.compile(pattern)
            except re.error as error:
                raise ValueError(f"bad Cache-Control pattern {pattern!r}: {error}") from None
            if not value.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
                raise ValueError(f"bad Cache-Control value for {pattern!r}: {value!r}")
            compiled.append((expression, value.strip()))
        return cls(tuple(compiled))

    def value_for(self, path: str) -> str | None:
        for expression, value in self.rules:
            if expression.search(path):
                return value
        return None
