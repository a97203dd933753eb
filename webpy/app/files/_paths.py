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
4. The joined path is resolved as `os.path.realpath` would, so a symlink is
   followed, but only to a place that is still inside the root and not
   hidden; otherwise the answer is the same 404 as for a missing file.

Rule 4 is checked on every request, for freshness: a symlink swapped in
since the last request is seen. Most paths contain none, so `locate` first
looks at each name below the root with one `lstat`; only a path with a
symlink in it goes through `realpath` and the check against the root. The
root itself is resolved once, when the routes are made.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from urllib.parse import unquote

from ..errors import HTTPError


@dataclass(frozen=True, slots=True)
class Target:
    """What a request path names inside the root.

    `path` is the resolved file system path (it may not exist yet, e.g. for
    a PUT); `names` are the decoded segments below the prefix; `slash` says
    whether the request path ended in ``/`` (it asks for a directory).
    `status` is what `os.stat(path)` gave while it was located, when it
    exists (None: not known, ask again).
    """

    path: str
    names: tuple[str, ...]
    slash: bool
    status: os.stat_result | None = None


def locate(raw_path: str, prefix_names: tuple[str, ...], root: str, hidden: bool) -> Target:
    """Map `raw_path` (percent-encoded, as sent) below `prefix_names` to a place in `root`.

    `root` must already be a real path (no symlinks). Raises `HTTPError(404)`
    for anything that does not name a place inside `root` by the rules above.
    """
    segments = raw_path.split("/")
    if segments[0] != "":
        raise HTTPError(404)
    decoded = [unquote(segment, errors="surrogateescape") if "%" in segment else segment
               for segment in segments[1:]]
    count = len(prefix_names)
    if tuple(decoded[:count]) != prefix_names:
        raise HTTPError(404)
    below = decoded[count:]
    slash = bool(below) and below[-1] == ""
    names = tuple(below[:-1] if slash else below)
    for name in names:
        if not is_plain_name(name, hidden):
            raise HTTPError(404)
    path, status = _resolve(root, names, hidden)
    return Target(path, names, slash, status)


def is_plain_name(name: str, hidden: bool) -> bool:
    """Whether `name` can only mean one entry of the directory it is looked up in."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name:
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


def _resolve(root: str, names: tuple[str, ...], hidden: bool
             ) -> tuple[str, os.stat_result | None]:
    """`os.path.realpath` of the plain `names` below the real `root`, and its status if known.

    Without a symlink on the way, the joined path is its own real path, inside
    the root by construction: it comes back with the status of its last name
    (from `lstat`, which is then what `stat` gives). A missing name ends the
    walk (nothing below it can be a symlink). A symlink anywhere sends the
    path through `realpath`, and raises `HTTPError(404)` if that leads outside
    the root or through a hidden name.
    """
    path = root
    status: os.stat_result | None = None
    for name in names:
        path = path + os.sep + name if path != os.sep else os.sep + name
        try:
            status = os.lstat(path)
        except OSError:  # missing, or below a file: so is the rest
            return os.path.join(root, *names), None
        if stat.S_ISLNK(status.st_mode):
            real = os.path.realpath(os.path.join(root, *names))
            if not is_inside(real, root, hidden):
                raise HTTPError(404)
            return real, None
    return path, status
