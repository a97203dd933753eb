"""What a file's response says, remembered: per path, and per version of the file sent.

A file's Content-Type (from its name), its Cache-Control (from the mount's
rules) and whether it is worth compressing never change while its path
stays the same, so they are worked out once per path rather than per
request (`PathFacts`): `mimetypes` and the rules' regular expressions cost
more than the rest of a request for a small file.

The fields that depend on the file's dates and size (ETag, Last-Modified,
and with them Content-Type, Content-Encoding and Accept-Ranges) are kept
ready per path and coding in `FileFields`, together with the version of
the file they were made for: its inode, size and modification time in
nanoseconds, the same three the ETag is made of. They are used only when
the `fstat` of the file being sent gives that same version, so a file
changed, replaced or deleted on disk is served changed at the next request;
the disk is still looked at on every request.

Both caches are bounded (`max_entries` entries; when full one starts again
from empty) and shared by the threads of a server without a lock: each step
is one dictionary operation, and the worst a race can do is work out an
entry twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from ..headers import Headers
from ._conditions import Validators

Key = TypeVar("Key")
Value = TypeVar("Value")


@dataclass(frozen=True, slots=True)
class PathFacts:
    """The parts of a file's response that follow from its path."""

    content_type: str
    cache_control: str | None
    compressible: bool


@dataclass(frozen=True, slots=True)
class FileFields:
    """The validators and fields of a 200 response for one version of a file in one coding.

    `version` is ``(st_ino, st_size, st_mtime_ns)`` of the file they were made
    for, and `content_type` the type they say; `fields` are ETag,
    Last-Modified, Content-Type, Content-Encoding (for a coded file) and
    Accept-Ranges, in that order, ready for `Headers.update`.
    """

    version: tuple[int, int, int]
    content_type: str
    validators: Validators
    fields: Headers


class BoundedCache(Generic[Key, Value]):
    """A dictionary of at most `max_entries` entries, emptied when full."""

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[Key, Value] = {}

    def get(self, key: Key) -> Value | None:
        return self._entries.get(key)

    def put(self, key: Key, value: Value) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)
