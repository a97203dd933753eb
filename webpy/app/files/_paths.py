"""From a request path to a file inside the served root, or a 404.

Everything that keeps requests inside the root lives here, so it can be read
(and audited) in one sitting. The rules, in order:

1. Work from the path *as sent* (still percent-encoded), split on ``/``
   first and decode each segment on its own afterwards. So ``%2f`` can never
   become a separator, and ``%2e%2e`` is seen for what it is.
2. A decoded segment must be a plain name: not empty (no ``//``), not ``.``
   or ``..``, and free of ``/``, ``\\`` and NUL. Anything else is a 404; a
   request that cannot name a file in the root never touches the file system.
3. Names beginning with a dot are hidden unless the directory is served with
   ``hidden=True``: they are neither served, listed nor written.
4. The joined path is resolved with `os.path.realpath`, so a symlink is
   followed, but only to a place that is still inside the root and not
   hidden; otherwise the answer is the same 404 as for a missing file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote

from ..errors import HTTPError

_FORBIDDEN_CHARACTERS = ("/", "\\", "\x00")


@dataclass(frozen=True, slots=True)
class Target:
    """What a request path names inside the root.

    `path` is the resolved file system path (it may not exist yet, e.g. for
    a PUT); `names` are the decoded segments below the prefix; `slash` says
    whether the request path ended in ``/`` (it asks for a directory).
    """

    path: str
    names: tuple[str, ...]
    slash: bool


def locate(raw_path: str, prefix_names: tuple[str, ...], root: str, hidden: bool) -> Target:
    """Map `raw_path` (percent-encoded, as sent) below `prefix_names` to a place in `root`.

    `root` must already be a real path (no symlinks). Raises `HTTPError(404)`
    for anything that does not name a place inside `root` by the rules above.
    """
    segments = raw_path.split("/")
    if segments[0] != "":
        raise HTTPError(404)
    decoded = [unquote(segment, errors="surrogateescape") for segment in segments[1:]]
    count = len(prefix_names)
    if tuple(decoded[:count]) != prefix_names:
        raise HTTPError(404)
    below = decoded[count:]
    slash = bool(below) and below[-1] == ""
    names = tuple(below[:-1] if slash else below)
    for name in names:
        if not is_plain_name(name, hidden):
            raise HTTPError(404)
    path = os.path.realpath(os.path.join(root, *names))
    if not is_inside(path, root, hidden):
        raise HTTPError(404)
    return Target(path, names, slash)


def is_plain_name(name: str, hidden: bool) -> bool:
    """Whether `name` can only mean one entry of the directory it is looked up in."""
    if name in ("", ".", "..") or any(c in name for c in _FORBIDDEN_CHARACTERS):
        return False
    return hidden or not name.startswith(".")


def is_inside(path: str, root: str, hidden: bool) -> bool:
    """Whether the real path `path` is `root` or below it, through no hidden name."""
    if path == root:
        return True
    if not path.startswith(root.rstrip(os.sep) + os.sep):
        return False
    if hidden:
        return True
    relative = os.path.relpath(path, root)
    return not any(part.startswith(".") for part in relative.split(os.sep))
