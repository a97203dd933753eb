"""Media types for file names: the standard library's table, with the web's common types fixed.

Python's `mimetypes` answers from its own table, which changes between Python
versions, merged with the system's ``/etc/mime.types``, which a slim container
lacks. On Python 3.11 without that file, ``.md``, ``.toml``, ``.yaml``,
``.woff2``, ``.webp`` and source maps have no type at all (so are sent as
``application/octet-stream``, which a browser downloads instead of showing),
and ``.mjs`` gets the obsolete ``application/javascript``. The types a web
server meets every day are therefore fixed here, the same on every system;
every other name is left to `mimetypes`.
"""

from __future__ import annotations

import mimetypes
import os

#: Suffix (lowercase, with its dot) -> media type, checked before `mimetypes`.
WEB_TYPES: dict[str, str] = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",  # RFC 9239: text/javascript, for classic scripts and modules
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".map": "application/json",  # source maps
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".toml": "application/toml",
    ".yaml": "application/yaml",  # RFC 9512
    ".yml": "application/yaml",
    ".csv": "text/csv",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".pdf": "application/pdf",
}


def guess_type(path: str) -> tuple[str | None, str | None]:
    """``(media type, encoding)`` for a file name, as `mimetypes.guess_type` answers.

    The encoding is that of a compressed file (``page.html.gz``: ``gzip``),
    whose media type is then the uncompressed content's, as `mimetypes` says.
    For names without one, `WEB_TYPES` wins over the system's table.
    """
    kind, encoding = mimetypes.guess_type(path, strict=False)
    if encoding is None:
        suffix = os.path.splitext(path)[1].lower()
        kind = WEB_TYPES.get(suffix, kind)
    return kind, encoding
