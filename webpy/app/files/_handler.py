"""The handlers that serve a directory: `FileHandler` reads, `WritableFileHandler` also writes.

Both are configured by `routes()`, which makes a subclass per served
directory carrying a `FileConfig`. They return bodies, never bytes on the
wire: a `FileBody` for a whole file or one range (so a socket transport can
use `sendfile`), a `StreamBody` for several ranges, a small str for the rest.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar
from urllib.parse import quote

from .. import mediatypes
from ..errors import HTTPError
from ..handler import HTTPHandler
from ..headers import Headers
from ..response import FileBody, StreamBody
from . import _listing
from ._cache_policy import REVALIDATE, CachePolicy
from ._compression import (
    CODINGS,
    CODINGS_BY_NAME,
    Coding,
    CompressedStream,
    CompressionCache,
    is_compressible,
)
from ._conditions import Validators, evaluate, if_range_allows, none_match
from ._facts import BoundedCache, FileFields, PathFacts
from ._negotiation import choose_media_type, coding_preference, names_media_type
from ._page import error_page
from ._paths import Target, is_inside, locate
from ._ranges import UNSATISFIABLE, RangeParts, content_range, parse_ranges

#: Types for files `mimetypes` reports as compressed (``.tar.gz``): sent as the
#: archive they are, not with a Content-Encoding a browser would undo.
_COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
#: Opening a file to serve: never through a symlink swapped in after the path
#: was checked, and never blocking on a FIFO that someone left in the root.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
#: A request body size no upload reaches: uploads are bounded by the disk.
UNLIMITED = 2**62


@dataclass(frozen=True, slots=True)
class FileConfig:
    """How one directory is served; see `routes` for each option.

    `root` is a real path (symlinks resolved); `prefix_names` are the decoded
    segments of the URL prefix; `umask` gives new files their permissions;
    `compression_cache` holds this mount's files compressed on the fly;
    `path_facts` what each file's response says because of its path, and
    `file_fields` the fields of the versions of files last sent, by path and coding.
    """

    root: str
    prefix: str
    prefix_names: tuple[str, ...]
    index: str | None
    listing: bool
    hidden: bool
    umask: int
    compress: bool = False
    precompressed: bool = True
    cache_control: CachePolicy = field(default_factory=CachePolicy)
    compression_cache: CompressionCache = field(default_factory=CompressionCache)
    path_facts: BoundedCache[str, PathFacts] = field(default_factory=BoundedCache)
    file_fields: BoundedCache[tuple[str, str | None], FileFields] = field(
        default_factory=BoundedCache)


class FileHandler(HTTPHandler):
    """Serves files and directories below `config.root` with GET and HEAD.

    Made by `routes()`; to change behaviour, subclass and pass the subclass
    as ``routes(..., handler=MyHandler)``. The hooks: `content_type`,
    `render_listing`, `error_page`, and the `do_get` steps `serve`,
    `serve_file`, `serve_directory`.

    A file is sent in the best content coding the client accepts
    (`Accept-Encoding`): a precompressed variant beside it (``a.css.br``,
    ``a.css.gz``) if there is one no older than the file, else, with
    ``compress=True``, compressed on the fly if its type is text-like and it
    is at least `compress_min_bytes` long. Either way the response says
    ``Vary: Accept-Encoding`` and carries the coded form's own ETag.
    """

    config: ClassVar[FileConfig]
    #: More spans than this in one Range field and the whole file is sent.
    max_ranges: ClassVar[int] = 32
    #: The charset announced for text/* files; None to announce none.
    text_charset: ClassVar[str | None] = "utf-8"
    #: Files shorter than this are not compressed on the fly: the saving is too small.
    compress_min_bytes: ClassVar[int] = 1024

    def do_get(self) -> tuple[int, Any] | tuple[int, str, Any]:
        try:
            return self.serve(self.locate())
        except HTTPError as error:
            if error.status_code < 400:
                raise
            error.headers["Vary"] = "Accept"  # HTML for browsers, plain text for the rest
            if not names_media_type(self.request.headers.get("Accept"), "text/html"):
                raise
            return self.error_page(error)

    def locate(self) -> Target:
        """Where the request path points in the root; raises `HTTPError(404)` if nowhere."""
        config = self.config
        return locate(self.request.raw_path, config.prefix_names, config.root, config.hidden)

    def serve(self, target: Target) -> tuple[int, Any]:
        """The response for `target`: a directory, a file, or a 404."""
        status = target.status
        if status is None:
            try:
                status = os.stat(target.path)
            except OSError as error:
                raise _translate(error) from None
        if stat.S_ISDIR(status.st_mode):
            return self.serve_directory(target)
        if stat.S_ISREG(status.st_mode) and not target.slash:
            return self.serve_file(target.path, status)
        raise HTTPError(404)

    def serve_directory(self, target: Target) -> tuple[int, Any]:
        """A directory: redirect to its ``/`` form, then its index file, listing, or 403."""
        config = self.config
        if not target.slash:
            location = self.request.raw_path + "/"
            if self.request.query_string:
                location += "?" + self.request.query_string
            self.response.headers["Location"] = location
            return 301, f"Moved to {location}\n"
        if config.index is not None:
            index = os.path.realpath(os.path.join(target.path, config.index))
            if is_inside(index, config.root, config.hidden) and os.path.isfile(index):
                return self.serve_file(index)
        if not config.listing:
            raise HTTPError(403, "directory listing is off")
        try:
            entries = _listing.read_entries(target.path, config.root, config.hidden)
        except OSError as error:
            raise _translate(error) from None
        query, headers = self.request.query, self.response.headers
        sort, order = _listing.sort_from_query(query.get("sort"), query.get("order"))
        listing = _listing.Listing(
            config.prefix + "".join(name + "/" for name in target.names),
            _listing.crumbs_of(config.prefix, target.names),
            tuple(_listing.sort_entries(entries, sort, order)), sort, order)
        headers["Vary"] = "Accept"
        self._cache_control("/" + "".join(name + "/" for name in target.names), REVALIDATE)
        kind = choose_media_type(self.request.headers.get("Accept"), _LISTING_TYPES)
        if kind == "application/json":
            headers["Content-Type"] = "application/json"
            page = _listing.render_json(listing).encode("utf-8")
        else:
            headers["Content-Type"] = "text/html; charset=utf-8"
            page = self.render_listing(listing).encode("utf-8")
        # A validator, so that a listing kept by a cache is revalidated with a 304.
        headers["ETag"] = f'"{hashlib.blake2b(page, digest_size=12).hexdigest()}"'
        if self.request.method in ("GET", "HEAD") and none_match(self.request.headers,
                                                                  headers["ETag"]):
            return 304, None
        return 200, page

    def serve_file(self, path: str, status: os.stat_result | None = None) -> tuple[int, Any]:
        """A regular file, whole, as one range or as several, in the best coding; honouring
        preconditions. `status` is what `os.stat(path)` gave, if the caller has it.

        Only the file that is sent is opened: a precompressed variant, or the file itself.
        Variants are looked for in the client's order of preference, and the search
        stops at the first one there is.
        """
        if status is None:
            try:
                status = os.stat(path)
            except OSError as error:
                raise _translate(error) from None
        facts = self._path_facts(path)
        if facts.cache_control is not None:
            self.response.headers["Cache-Control"] = facts.cache_control
        coding, variant = self._negotiate(path, status, facts.compressible)
        if variant is not None:
            assert coding is not None
            coded, coded_status = variant
            name = coding.name
            return _closing_unless_sent(coded, lambda: self._file_response(
                coded, path, coded_status, facts.content_type, name))
        file = _open(path)
        return _closing_unless_sent(file, lambda: self._identity_response(
            file, path, facts.content_type, coding))

    def content_type(self, path: str) -> str:
        """The Content-Type for the file at `path`: `mediatypes`, the same on every system.

        This default is asked once per path and its answer remembered (see
        `_facts`); an override is asked on every request.
        """
        kind, encoding = mediatypes.guess_type(path)
        if encoding is not None:
            kind = _COMPRESSED_TYPES.get(encoding, "application/octet-stream")
        kind = kind or "application/octet-stream"
        if kind.startswith("text/") and self.text_charset:
            kind += f"; charset={self.text_charset}"
        return kind

    def render_listing(self, listing: _listing.Listing) -> str:
        """The HTML page for `listing`: names are escaped, links percent-encoded."""
        return _listing.render(listing)

    def error_page(self, error: HTTPError) -> tuple[int, str, str]:
        """The error as a small HTML page, for clients that ask for HTML (browsers).

        Other clients (curl, scripts) get the plain-text error every handler
        gives. The page says nothing taken from the request.
        """
        headers = self.response.headers
        for name, value in error.headers.items():
            headers[name] = value
        headers["Content-Type"] = "text/html; charset=utf-8"
        headers["X-Content-Type-Options"] = "nosniff"
        home = quote(os.fsencode(self.config.prefix))
        return error.status_code, error.reason, error_page(error.status_code, error.reason, home)

    def _negotiate(self, path: str, status: os.stat_result, compressible_type: bool
                   ) -> tuple[Coding | None, tuple[IO[bytes], os.stat_result] | None]:
        """The coding the client prefers among those offered (None: the file as it is), and
        its precompressed variant, open, with its status (None: compress on the fly).

        The response says ``Vary: Accept-Encoding`` whenever the file is offered in
        any coding, whether or not this client takes one.
        """
        config = self.config
        compressible = (config.compress and status.st_size >= self.compress_min_bytes
                        and compressible_type)
        accepted = coding_preference(self.request.headers.get("Accept-Encoding"), _CODING_NAMES)
        for name in accepted:
            coding = CODINGS_BY_NAME[name]
            variant = (self._open_variant(path + coding.suffix, status)
                       if config.precompressed else None)
            if variant is not None or (compressible and coding.available):
                self.response.headers["Vary"] = "Accept-Encoding"
                return coding, variant
        for coding in CODINGS:  # none the client takes: is there any, for Vary?
            if coding.name not in accepted and (
                    (compressible and coding.available) or (
                    config.precompressed and self._has_variant(path + coding.suffix, status))):
                self.response.headers["Vary"] = "Accept-Encoding"
                break
        return None, None

    def _identity_response(self, file: IO[bytes], path: str, content_type: str,
                           coding: Coding | None) -> tuple[int, Any]:
        """The open file as it is, or compressed on the fly with `coding`."""
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise HTTPError(404)
        if coding is None or self.request.headers.get("Range") is not None:
            return self._file_response(file, path, status, content_type, None)  # ranges: the file
        return self._compressed_response(file, path, status, content_type, coding)

    def _path_facts(self, path: str) -> PathFacts:
        """What the response for the file at the real `path` says because of its path.

        Remembered per path unless a subclass answers `content_type` itself:
        an override may depend on the request, or set headers as it answers.
        """
        cache = self.config.path_facts
        remembered = type(self).content_type is FileHandler.content_type
        facts = cache.get(path) if remembered else None
        if facts is None:
            content_type = self.content_type(path)
            rules = self.config.cache_control
            cache_control = rules.value_for(
                "/" + os.path.relpath(path, self.config.root).replace(os.sep, "/")
            ) if rules.rules else None
            facts = PathFacts(content_type, cache_control, is_compressible(content_type))
            if remembered:
                cache.put(path, facts)
        return facts

    def _file_fields(self, path: str, status: os.stat_result, content_type: str,
                     coding: str | None) -> FileFields:
        """The validators and 200 fields of the file `status` describes: remembered per
        `path` and `coding`, and made again whenever the version or type differs."""
        cache = self.config.file_fields
        key = (path, coding)
        version = (status.st_ino, status.st_size, status.st_mtime_ns)
        prepared = cache.get(key)
        if (prepared is None or prepared.version != version
                or prepared.content_type != content_type):
            validators = Validators.of(status)
            fields = Headers()
            fields["ETag"] = validators.etag
            fields["Last-Modified"] = validators.last_modified
            fields["Content-Type"] = content_type
            if coding is not None:
                fields["Content-Encoding"] = coding
            fields["Accept-Ranges"] = "bytes"
            prepared = FileFields(version, content_type, validators, fields)
            cache.put(key, prepared)
        return prepared

    def _open_variant(self, variant: str, status: os.stat_result
                      ) -> tuple[IO[bytes], os.stat_result] | None:
        """The precompressed `variant` of the file whose status is `status`, open, and its
        own status; None unless it is a regular file inside the root, no older than the file.

        Most files have no variant: `os.access` says so without raising an error
        that would have to be caught. The freshness check uses the status of the
        file that is then sent, so a variant replaced meanwhile is judged as sent.
        """
        if not os.access(variant, os.F_OK):
            return None
        try:
            descriptor = os.open(variant, _OPEN_FLAGS)
        except OSError as error:
            if error.errno != errno.ELOOP:  # vanished meanwhile, or unreadable
                return None
            real = self._real_variant(variant)  # a symlink: it must lead inside the root
            if real is None:
                return None
            try:
                descriptor = os.open(real, _OPEN_FLAGS)
            except OSError:
                return None
        try:
            found = os.fstat(descriptor)
        except OSError:
            os.close(descriptor)
            raise
        if stat.S_ISREG(found.st_mode) and found.st_mtime_ns >= status.st_mtime_ns:
            return open(descriptor, "rb", buffering=0), found
        os.close(descriptor)
        return None

    def _has_variant(self, variant: str, status: os.stat_result) -> bool:
        """Whether `_open_variant` would find `variant`, without opening it."""
        if not os.access(variant, os.F_OK):
            return False
        try:
            found = os.lstat(variant)
            if stat.S_ISLNK(found.st_mode):
                real = self._real_variant(variant)
                if real is None:
                    return False
                found = os.stat(real)
        except OSError:
            return False
        # `path` is real, so a plain file beside it is inside the root too.
        return stat.S_ISREG(found.st_mode) and found.st_mtime_ns >= status.st_mtime_ns

    def _real_variant(self, variant: str) -> str | None:
        """Where the symlink `variant` leads, if that is inside the root; else None."""
        config = self.config
        real = os.path.realpath(variant)
        return real if is_inside(real, config.root, config.hidden) else None

    def _compressed_response(self, file: IO[bytes], path: str, status: os.stat_result,
                             content_type: str, coding: Coding) -> tuple[int, Any]:
        """The file compressed on the fly (or from the cache), with its own ETag."""
        current = _coded_validators(Validators.of(status), coding.name)
        headers = self.response.headers
        if self._not_modified(current):
            return 304, None
        headers["Content-Type"] = content_type
        headers["Content-Encoding"] = coding.name
        cache = self.config.compression_cache
        cached = cache.get(path, current.etag, coding.name)
        if cached is not None:
            return 200, cached
        chunks = CompressedStream(
            file, coding, cache.max_entry_bytes,
            version=lambda changed: _coded_validators(Validators.of(changed), coding.name).etag,
            store=lambda data: cache.put(path, current.etag, coding.name, data))
        return 200, StreamBody(chunks)

    def _not_modified(self, current: Validators) -> bool:
        """Send `current`'s validators and apply the preconditions: True for a 304.

        Raises `HTTPError(412)` when a precondition fails.
        """
        headers = self.response.headers
        headers["ETag"] = current.etag
        headers["Last-Modified"] = current.last_modified
        decided = evaluate(self.request.method, self.request.headers, current)
        if decided == 412:
            raise HTTPError(412)
        return decided == 304

    def _cache_control(self, path: str, default: str | None = None) -> None:
        """Set Cache-Control for the mount-relative `path` from the mount's rules.

        Listings default to ``no-cache``: they change whenever a file below
        them does, so a cache should ask (their ETag makes that a 304).
        """
        value = self.config.cache_control.value_for(path) or default
        if value is not None:
            self.response.headers["Cache-Control"] = value

    def _file_response(self, file: IO[bytes], path: str, status: os.stat_result,
                       content_type: str, coding: str | None) -> tuple[int, Any]:
        """`file` whole or in ranges, after the preconditions; `coding` if it is a variant
        of the file at `path`.

        Most requests carry no precondition and no Range: they get the whole
        file with the fields kept ready for this version of it.
        """
        size = status.st_size
        prepared = self._file_fields(path, status, content_type, coding)
        request, headers = self.request, self.response.headers
        if not request.headers.has_any(_PRECONDITION_AND_RANGE_FIELDS):
            headers.update(prepared.fields)
            return 200, FileBody(file, 0, size)
        current = prepared.validators
        if self._not_modified(current):
            return 304, None
        headers["Content-Type"] = content_type
        if coding is not None:
            headers["Content-Encoding"] = coding
        headers["Accept-Ranges"] = "bytes"
        range_field = request.headers.get("Range")
        if (request.method != "GET" or range_field is None
                or not if_range_allows(request.headers.get("If-Range"), current)):
            return 200, FileBody(file, 0, size)
        spans = parse_ranges(range_field, size, self.max_ranges)
        if spans is None:
            return 200, FileBody(file, 0, size)
        if spans == UNSATISFIABLE:
            raise HTTPError(416, headers={"Content-Range": f"bytes */{size}"})
        assert isinstance(spans, list)
        if len(spans) == 1:
            first, last = spans[0]
            headers["Content-Range"] = content_range(spans[0], size)
            return 206, FileBody(file, first, last - first + 1)
        boundary = secrets.token_hex(16)
        parts = RangeParts(file, spans, size, content_type, boundary)
        headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
        return 206, StreamBody(parts, parts.length)


class WritableFileHandler(FileHandler):
    """A `FileHandler` that also takes PUT (create or replace a file) and DELETE.

    A PUT streams the body to a temporary file in the target's directory and
    renames it into place once complete, so readers see the old file or the
    new one, never a mixture, and an upload that fails or is cut off leaves
    the old file as it was. Missing parent directories are created. A PUT
    or DELETE through a symlink inside the root acts on the symlink's target
    for PUT (as writing to it would) and on the link itself for DELETE.
    """

    stream_request_body = True
    max_body_bytes = UNLIMITED
    #: How much of an upload is read from the client and written at a time.
    upload_piece_size: ClassVar[int] = 256 * 1024

    def do_put(self) -> tuple[int, None]:
        target = self.locate()
        if target.slash or not target.names:
            raise HTTPError(409, "a directory cannot be written with PUT")
        try:
            existing = os.stat(target.path)
        except FileNotFoundError:
            current = None
            mode = 0o666 & ~self.config.umask
        except OSError as error:
            raise _translate(error, conflict=True) from None
        else:
            if not stat.S_ISREG(existing.st_mode):
                raise HTTPError(409, "not a file")
            current = Validators.of(existing)
            mode = stat.S_IMODE(existing.st_mode)
        if evaluate("PUT", self.request.headers, current) is not None:
            raise HTTPError(412)
        directory = os.path.dirname(target.path)
        try:
            os.makedirs(directory, exist_ok=True)
            written = self._store(target.path, directory, mode)
        except OSError as error:
            raise _translate(error, conflict=True) from None
        self.response.headers["ETag"] = Validators.of(written).etag
        return (201 if current is None else 204), None

    def do_delete(self) -> tuple[int, None]:
        config = self.config
        target = self.locate()
        if target.slash or not target.names:
            raise HTTPError(409, "directories are not deleted")
        directory = os.path.realpath(os.path.join(config.root, *target.names[:-1]))
        if not is_inside(directory, config.root, config.hidden):
            raise HTTPError(404)
        entry = os.path.join(directory, target.names[-1])
        try:
            if stat.S_ISDIR(os.lstat(entry).st_mode):
                raise HTTPError(409, "directories are not deleted")
            current = Validators.of(os.stat(target.path))
            if evaluate("DELETE", self.request.headers, current) is not None:
                raise HTTPError(412)
            os.unlink(entry)
        except OSError as error:
            raise _translate(error) from None
        return 204, None

    def _store(self, path: str, directory: str, mode: int) -> os.stat_result:
        """Write the request body to a temporary file beside `path`, then rename it there."""
        stream = self.request.stream
        assert stream is not None, "stream_request_body is set"
        descriptor, temporary = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=directory)
        try:
            with open(descriptor, "wb", buffering=0) as output:
                while piece := stream.read(self.upload_piece_size):
                    output.write(piece)
                os.fchmod(descriptor, mode)
                os.fsync(descriptor)
                written = os.fstat(descriptor)
            os.replace(temporary, path)
        except BaseException:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
            raise
        return written


def _translate(error: OSError, *, conflict: bool = False) -> Exception:
    """The `HTTPError` for a file system error the client can act on; else `error` itself.

    With `conflict`, a path that runs through a file (``a.txt/b``) is a 409,
    as when writing; when reading it is simply not found. Errors left as they
    are become a logged 500.
    """
    code = error.errno
    if code in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR) and conflict:
        return HTTPError(409, "a parent of this path is not a directory")
    if code in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG):
        return HTTPError(404)
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return HTTPError(403)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return HTTPError(507)
    return error


#: Request fields (folded) that take a file request off the common path: preconditions
#: and Range (If-Range only counts with a Range).
_PRECONDITION_AND_RANGE_FIELDS = frozenset({
    "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "range"})
#: The codings in the server's order of preference, as `coding_preference` takes them.
_CODING_NAMES = tuple(coding.name for coding in CODINGS)
#: What a listing can be sent as, the first when the client does not say.
_LISTING_TYPES = ("text/html", "application/json")


def _open(path: str) -> IO[bytes]:
    """Open a file to serve (never through a late symlink, never blocking on a FIFO)."""
    try:
        return open(os.open(path, _OPEN_FLAGS), "rb", buffering=0)
    except OSError as error:
        raise _translate(error) from None


def _closing_unless_sent(file: IO[bytes], respond: Callable[[], tuple[int, Any]]
                         ) -> tuple[int, Any]:
    """`respond()`, closing `file` unless the body returned will send it (and close it)."""
    try:
        result = respond()
    except BaseException:
        file.close()
        raise
    if not isinstance(result[1], FileBody | StreamBody):
        file.close()
    return result


def _coded_validators(identity: Validators, coding: str) -> Validators:
    """The validators of a file compressed on the fly: its own strong ETag per coding."""
    return Validators(f"{identity.etag[:-1]}-{coding}\"", identity.mtime)
