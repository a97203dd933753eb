"""Serve a directory: ``routes.update(files.routes("/srv/www", "/static/"))``.

Theory of operation
-------------------
`routes()` returns one route (a pattern covering the prefix and everything
below it) to a `FileHandler` subclass carrying the directory's `FileConfig`.
The handler maps the request path to a file (`_paths`: the safety rules),
picks the content coding the client accepts best (`_negotiation`), from a
precompressed variant or by compressing on the fly (`_compression`, which
also caches the results), checks preconditions (`_conditions`: ETag,
Last-Modified, RFC 9110 section 13.2.2), selects ranges (`_ranges`: RFC 9110
section 14), sets Cache-Control from the mount's rules (`_cache_policy`)
and returns a body: a `FileBody` for a whole file or one range, a
`StreamBody` for several ranges or a file compressed as it streams, a page
for a directory listing (`_listing`, in the look of `_page`, which error
pages for browsers share). It never touches a socket, so it works over
every transport; the threaded one sends a `FileBody` with `sendfile` on
plain TCP. `CompressingHandler` (`_responses`) offers the same compression
to handler bodies.

What follows from a file's path alone (its type, its Cache-Control) is
worked out once per path and remembered (`_facts`), and so are the fields
that follow from one version of a file (ETag, Last-Modified...), used only
while the file sent is that version. The file and its variants are looked at
on every request (an `lstat` per name, a look for each variant in the
client's order of preference up to the first there is, an `open` and an
`fstat` of the one sent), so a file changed on disk is served changed at the
next request, and nothing of its contents is kept but what
`CompressionCache` holds, checked against the ETag.

What must hold whatever the request says: nothing outside the root is read,
listed or written. Requests are mapped from the percent-encoded path, one
segment at a time, and every resolved path is checked against the root
after following symlinks (see `_paths` for the rules).

Hidden files: names that begin with a dot (``.git``, ``.env``, ``.htpasswd``)
are not served, listed, written or deleted, and nothing is reached through a
hidden directory, unless ``hidden=True``. Uploads are written to hidden
temporary files (``.upload-*.part``) for the same reason.
"""

from __future__ import annotations

import os
import re

from ..handler import HTTPHandler
from ._cache_policy import FINGERPRINTED, IMMUTABLE, REVALIDATE, CachePolicy, Rules
from ._compression import CompressionCache
from ._handler import UNLIMITED, FileConfig, FileHandler, WritableFileHandler
from ._listing import Entry, Listing
from ._paths import is_plain_name
from ._responses import CompressingHandler

__all__ = ["FINGERPRINTED", "IMMUTABLE", "REVALIDATE", "CompressingHandler", "Entry",
           "FileConfig", "FileHandler", "Listing", "WritableFileHandler", "routes"]


def routes(
    root: str | os.PathLike[str],
    prefix: str = "/",
    *,
    index: str | None = "index.html",
    listing: bool = False,
    modify: bool = False,
    hidden: bool = False,
    handler: type[FileHandler] | None = None,
    max_upload_bytes: int | None = None,
    compress: bool = False,
    precompressed: bool = True,
    cache_control: Rules | None = None,
    compression_cache_bytes: int = 32 * 1024 * 1024,
) -> dict[str, type[HTTPHandler]]:
    """Routes serving the directory `root` at the URL `prefix`, to merge into an app's routes.

    - `prefix`: the URL path the directory appears at (``"/"``, ``"/static/"``),
      as plain text, not percent-encoded; ``/static`` itself redirects to
      ``/static/``. Put more specific routes before these: the pattern covers
      everything below the prefix.
    - `index`: the file served for a directory's URL, if present (None: none).
    - `listing`: list directories that have no index file (otherwise 403).
    - `modify`: accept PUT (create or replace a file) and DELETE (remove
      one); off by default. Needs a `WritableFileHandler` as `handler`.
    - `hidden`: serve dotfiles too (see the module docs); off by default.
    - `handler`: a `FileHandler` subclass to use instead of the default.
    - `max_upload_bytes`: the largest PUT body (default: no limit but the disk).
    - `compress`: compress text-like files (HTML, CSS, JS, JSON, SVG, text)
      on the fly for clients that accept it: brotli if the `brotli` package
      is installed, else gzip. Off by default (the command line turns it on).
    - `precompressed`: serve ``name.br`` / ``name.gz`` beside ``name`` to
      clients that accept them, if no older than ``name``. On by default.
    - `cache_control`: ``{pattern: value}`` (or pairs), first match wins:
      the Cache-Control for paths below the mount that the regular expression
      `pattern` is found in, e.g. ``{files.FINGERPRINTED: files.IMMUTABLE,
      "[.]html$": "no-cache"}``.
    - `compression_cache_bytes`: memory kept for files compressed on the fly.

    Raises NotADirectoryError if `root` is not a directory, ValueError for a
    prefix that does not start with ``/``, an index that is not a plain name or
    a `cache_control` rule that does not compile, TypeError for a `handler`
    that does not match `modify`.
    """
    directory = os.path.realpath(os.fspath(root))
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"not a directory: {directory}")
    if not prefix.startswith("/"):
        raise ValueError(f"prefix must start with '/': {prefix!r}")
    if index is not None and not is_plain_name(index, hidden=True):
        raise ValueError(f"index must be a plain file name: {index!r}")
    base = handler or (WritableFileHandler if modify else FileHandler)
    if modify != issubclass(base, WritableFileHandler):
        raise TypeError("modify=True needs a WritableFileHandler, and modify=False a "
                        f"read-only FileHandler; got {base.__name__}")
    prefix = prefix.rstrip("/") + "/"
    prefix_names = tuple(prefix.strip("/").split("/")) if prefix != "/" else ()
    if not all(is_plain_name(name, hidden=True) for name in prefix_names):
        raise ValueError(f"prefix must be a plain path: {prefix!r}")
    umask = os.umask(0o022)
    os.umask(umask)
    attributes: dict[str, object] = {
        "config": FileConfig(directory, prefix, prefix_names, index, listing, hidden, umask,
                             compress, precompressed, CachePolicy.of(cache_control),
                             CompressionCache(compression_cache_bytes)),
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
    }
    if modify:
        attributes["max_body_bytes"] = UNLIMITED if max_upload_bytes is None else max_upload_bytes
    configured = type(base.__name__, (base,), attributes)
    return {"(?s)" + re.escape(prefix.rstrip("/")) + "(?:/.*)?": configured}
