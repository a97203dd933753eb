"""Directory listings: which entries to show, and the HTML page that shows them.

An entry is shown only if a request for it would be served: hidden names are
left out unless hidden files are served, and so are symlinks that lead out of
the root (or nowhere) and anything that is neither a file nor a directory.
Every name is escaped for HTML and percent-encoded for its link, byte for
byte, so a file called ``<script>`` or ``a?b#c`` is shown and linked as such.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from ._paths import is_inside, is_plain_name


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed name: a directory (`size` unused) or a regular file."""

    name: str
    is_directory: bool
    size: int
    mtime: float


def read_entries(directory: str, root: str, hidden: bool) -> list[Entry]:
    """The servable entries of `directory`: directories first, then files, by name."""
    entries = []
    with os.scandir(directory) as scan:
        for item in scan:
            if not is_plain_name(item.name, hidden):
                continue
            try:
                if item.is_symlink() and not is_inside(os.path.realpath(item.path), root, hidden):
                    continue
                status = item.stat()
            except OSError:  # a dangling symlink, or the entry vanished meanwhile
                continue
            is_directory = stat.S_ISDIR(status.st_mode)
            if is_directory or stat.S_ISREG(status.st_mode):
                entries.append(Entry(item.name, is_directory, status.st_size, status.st_mtime))
    entries.sort(key=lambda entry: (not entry.is_directory, entry.name.casefold(), entry.name))
    return entries


def render(title: str, entries: Sequence[Entry], parent: bool) -> str:
    """An HTML page listing `entries`, with a link to the parent directory if `parent`."""
    rows = []
    if parent:
        rows.append('<tr><td><a href="../">../</a></td><td></td><td></td></tr>')
    for entry in entries:
        suffix = "/" if entry.is_directory else ""
        href = quote(os.fsencode(entry.name)) + suffix
        shown = escape(_displayable(entry.name) + suffix)
        size = "" if entry.is_directory else str(entry.size)
        modified = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.mtime))
        rows.append(f'<tr><td><a href="{escape(href)}">{shown}</a></td>'
                    f'<td class="size">{size}</td><td>{modified}</td></tr>')
    heading = escape(_displayable(title))
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><title>Index of {heading}</title>',
        "<style>td{padding:0 1em 0 0}.size{text-align:right}</style></head>",
        f"<body><h1>Index of {heading}</h1>",
        "<table>",
        "<thead><tr><th>Name</th><th>Size (bytes)</th><th>Modified (UTC)</th></tr></thead>",
        "<tbody>",
        *rows,
        "</tbody></table></body></html>",
        "",
    ])


def _displayable(name: str) -> str:
    """`name` as text: bytes that are not UTF-8 (kept as surrogates) become U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")
