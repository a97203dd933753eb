"""What a file's response says because of its path alone, remembered per path.

A file's Content-Type (from its name), its Cache-Control (from the mount's
rules) and whether it is worth compressing never change while its path
stays the same, so they are worked out once per path rather than per
request: `mimetypes` and the rules' regular expressions cost more than the
rest of a request for a small file. Everything that depends on the file's
contents or dates (its validators, its precompressed variants, its size) is
looked up on every request instead, so a file changed on disk is served
changed at once.

The cache is bounded (`max_entries` paths; when full it starts again from
empty) and shared by the threads of a server without a lock: each step is
one dictionary operation, and the worst a race can do is work out a path's
facts twice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PathFacts:
    """The parts of a file's response that follow from its path."""

    content_type: str
    cache_control: str | None
    compressible: bool


class PathFactsCache:
    """`PathFacts` by real file path, at most `max_entries` of them."""

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, PathFacts] = {}

    def get(self, path: str) -> PathFacts | None:
        return self._entries.get(path)

    def put(self, path: str, facts: PathFacts) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[path] = facts

    def __len__(self) -> int:
        return len(self._entries)
