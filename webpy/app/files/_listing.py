"""Directory listings: which entries to show, in what order, as an HTML page or as JSON.

An entry is shown only if a request for it would be served: hidden names are
left out unless hidden files are served, and so are symlinks that lead out of
the root (or nowhere) and anything that is neither a file nor a directory.
Every name is escaped for HTML and percent-encoded for its link, byte for
byte, so a file called ``<script>`` or ``a?b#c`` is shown and linked as such.

Sorting is done by the server, from the query (``?sort=size&order=desc``),
so the column links work without JavaScript; folders always come first. A
query that names no known order is the default order, never an error.
The page's look (`_page`) is shared with the error pages.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from ._page import page
from ._paths import is_inside, is_plain_name

#: Sort keys the query may name, each with the order its column link first asks for.
SORT_KEYS = {"name": "asc", "size": "desc", "date": "desc"}
_COLUMNS = (("name", "Name"), ("size", "Size"),
            ("date", 'Modified<span class="wide"> (UTC)</span>'))
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed name: a directory (`size` unused) or a regular file."""

    name: str
    is_directory: bool
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Listing:
    """A directory listing, ready to render.

    `path` is the directory's URL path as plain text (``/static/docs/``);
    `crumbs` are (text, percent-encoded href) pairs from the mount down to
    it; `entries` are in the order to show; `sort` and `order` say which.
    """

    path: str
    crumbs: tuple[tuple[str, str], ...]
    entries: tuple[Entry, ...]
    sort: str
    order: str

    @property
    def parent(self) -> bool:
        """Whether the directory has a parent inside the mount (a ``../`` row)."""
        return len(self.crumbs) > 1


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
    return sort_entries(entries, "name", "asc")


def sort_entries(entries: Sequence[Entry], sort: str, order: str) -> list[Entry]:
    """`entries` by `sort` (name, size or date) in `order` (asc, desc), folders first.

    Equal sizes or dates go by name; folders, which have no size, go by name
    when sorting by size.
    """
    descending = order == "desc"

    def by_name(entry: Entry) -> tuple[str, str]:
        return entry.name.casefold(), entry.name

    folders = sorted((entry for entry in entries if entry.is_directory), key=by_name,
                     reverse=descending and sort == "name")
    files = sorted((entry for entry in entries if not entry.is_directory), key=by_name,
                   reverse=descending and sort == "name")
    if sort == "size":
        files.sort(key=lambda entry: entry.size, reverse=descending)  # stable: ties by name
    elif sort == "date":
        folders.sort(key=lambda entry: entry.mtime, reverse=descending)
        files.sort(key=lambda entry: entry.mtime, reverse=descending)
    return folders + files


def sort_from_query(sort: str | None, order: str | None) -> tuple[str, str]:
    """The (sort, order) a query asks for, or the default for anything unknown."""
    if sort not in SORT_KEYS:
        return "name", "asc"
    return sort, order if order in ("asc", "desc") else SORT_KEYS[sort]


def crumbs_of(prefix: str, names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Breadcrumbs: the mount (``/static/``), then each directory below it (``docs/``),
    each with its href; shown one after the other they spell the directory's path."""
    href = quote(os.fsencode(prefix))
    crumbs = [(prefix, href)]
    for name in names:
        href += quote(os.fsencode(name), safe="") + "/"
        crumbs.append((name + "/", href))
    return tuple(crumbs)


def render(listing: Listing) -> str:
    """The HTML page for `listing`: breadcrumbs, sortable columns, one row per entry."""
    rows = []
    if listing.parent:
        rows.append('<tr class="up"><td class="name"><a href="../">../</a></td>'
                    '<td class="size"></td><td class="date"></td></tr>')
    for entry in listing.entries:
        suffix = "/" if entry.is_directory else ""
        href = quote(os.fsencode(entry.name)) + suffix
        shown = escape(_displayable(entry.name) + suffix)
        size = ("\u2014" if entry.is_directory
                else f'<data value="{entry.size}">{human_size(entry.size)}</data>')
        moment = time.gmtime(entry.mtime)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", moment)
        day, clock = time.strftime("%Y-%m-%d", moment), time.strftime("%H:%M:%S", moment)
        kind = "dir" if entry.is_directory else "file"
        rows.append(f'<tr class="{kind}"><td class="name"><a href="{escape(href)}">{shown}</a>'
                    f'</td><td class="size">{size}</td><td class="date"><time datetime="{stamp}">'
                    f'{day}<span class="clock"> {clock}</span></time></td></tr>')
    heading = escape(_displayable(listing.path))
    crumbs = "".join(f'<a href="{escape(href)}">{escape(_displayable(text))}</a>'
                     for text, href in listing.crumbs)
    folders = sum(entry.is_directory for entry in listing.entries)
    files = len(listing.entries) - folders
    total = sum(entry.size for entry in listing.entries if not entry.is_directory)
    summary = (f"{folders} folder{'s' * (folders != 1)}, {files} file{'s' * (files != 1)}"
               f", {human_size(total)}")
    body = "\n".join([
        f'<h1>Index of <span class="crumbs">{crumbs}</span></h1>',
        "<table>",
        f"<thead><tr>{''.join(_header(listing, key, label) for key, label in _COLUMNS)}"
        "</tr></thead>",
        "<tbody>",
        *rows,
        "</tbody></table>",
        f'<p class="summary">{summary}</p>',
    ])
    return page(f"Index of {heading}", body)


def render_json(listing: Listing) -> str:
    """The listing as JSON: the path and, per entry, name, type, href, size and date."""
    entries = [{
        "name": _displayable(entry.name),
        "type": "directory" if entry.is_directory else "file",
        "href": quote(os.fsencode(entry.name)) + ("/" if entry.is_directory else ""),
        "size": None if entry.is_directory else entry.size,
        "modified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.mtime)),
    } for entry in listing.entries]
    return json.dumps({"path": _displayable(listing.path), "sort": listing.sort,
                       "order": listing.order, "entries": entries},
                      ensure_ascii=False, indent=1) + "\n"


def human_size(size: int) -> str:
    """`size` bytes for a person: ``512 B``, ``1.5 KiB``, ``12 MiB``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS[1:]:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


def _header(listing: Listing, key: str, label: str) -> str:
    """A column heading linking to the listing sorted by it (the other way if it is already)."""
    if listing.sort == key:
        order = "desc" if listing.order == "asc" else "asc"
        arrow = " \u25b2" if listing.order == "asc" else " \u25bc"
        state = f' aria-sort="{"ascending" if listing.order == "asc" else "descending"}"'
    else:
        order, arrow, state = SORT_KEYS[key], "", ""
    return (f'<th class="{key}"{state}><a href="?sort={key}&amp;order={order}">'
            f"{label}{arrow}</a></th>")


def _displayable(name: str) -> str:
    """`name` as text: bytes that are not UTF-8 (kept as surrogates) become U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")
