"""Content codings: the table of codings, streamed compression, and the cache of results.

Theory of operation
-------------------
A file is sent compressed in one of two ways. A *precompressed variant*
(``style.css.br``, ``style.css.gz`` beside ``style.css``) is an ordinary file
and is served like one, ranges and all. Otherwise a text file may be
compressed *on the fly*: `CompressedStream` reads the open file a piece at a
time and yields compressed pieces, so neither the file nor its compressed
form is ever held whole for the sake of sending it. While it streams, it
keeps the compressed pieces up to `CompressionCache.max_entry_bytes`; once
the whole file has gone through unchanged, that result goes into the
mount's `CompressionCache`, keyed by the file's path and ETag, so the next
request for the same version is answered from memory and a file is
compressed once, not once per request.

`CODINGS` is the table of codings, best first: ``br`` (when the optional
`brotli` package is installed) and ``gzip`` (from the standard library's
zlib). Only types that compress well are compressed on the fly
(`is_compressible`): text, JSON, JavaScript, XML, SVG. Images, archives and
fonts that are compressed already are sent as they are.

The cache is shared by the threads of a server without a lock: every step
is one dictionary operation, which the interpreter makes atomic, and the
worst a race can do is have two requests compress the same file once each.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import IO, Protocol

try:
    import brotli  # type: ignore[import-untyped, import-not-found, unused-ignore]
except ImportError:  # the optional extra: pip install 'webpy[brotli]'
    brotli = None

#: How much of a file is read and compressed at a time.
READ_SIZE = 64 * 1024
#: Compressed output is sent in pieces of at least this size (but the last).
SEND_SIZE = 16 * 1024
#: On-the-fly compression levels: near the best ratio at a fraction of the
#: maximum's cost; the result is cached, so the cost is paid once per file.
GZIP_LEVEL = 6
BROTLI_QUALITY = 5

#: Media types (without parameters) worth compressing besides text/*.
_COMPRESSIBLE_TYPES = frozenset({
    "application/javascript", "application/json", "application/xml", "application/xhtml+xml",
    "application/manifest+json", "application/ld+json", "application/rss+xml",
    "application/atom+xml", "application/x-javascript", "application/wasm",
    "image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon", "image/bmp",
})


class Compressor(Protocol):
    """What zlib's compress objects offer; brotli's is adapted to it."""

    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Coding:
    """One content coding: its token, the suffix of its precompressed files, its compressor."""

    name: str
    suffix: str
    new_compressor: Callable[[], Compressor] | None  # None: the module is not installed

    @property
    def available(self) -> bool:
        """Whether this process can compress with it (precompressed files need no module)."""
        return self.new_compressor is not None


class _Brotli:
    """brotli's streaming compressor under zlib's method names."""

    __slots__ = ("_compressor",)

    def __init__(self) -> None:
        assert brotli is not None
        self._compressor = brotli.Compressor(quality=BROTLI_QUALITY)

    def compress(self, data: bytes, /) -> bytes:
        return self._compressor.process(data)  # type: ignore[no-any-return]

    def flush(self) -> bytes:
        return self._compressor.finish()  # type: ignore[no-any-return]


def _gzip() -> Compressor:
    return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing


#: Every coding the server knows, in its order of preference.
CODINGS: tuple[Coding, ...] = (
    Coding("br", ".br", _Brotli if brotli is not None else None),
    Coding("gzip", ".gz", _gzip),
)
CODINGS_BY_NAME = {coding.name: coding for coding in CODINGS}


def is_compressible(content_type: str) -> bool:
    """Whether a body of `content_type` (parameters allowed) shrinks when compressed."""
    media_type = content_type.partition(";")[0].strip().lower()
    return (media_type.startswith("text/") or media_type in _COMPRESSIBLE_TYPES
            or media_type.endswith(("+json", "+xml")))


def compress(data: bytes, coding: Coding) -> bytes:
    """`data` compressed whole with `coding` (for bodies already in memory)."""
    assert coding.new_compressor is not None
    compressor = coding.new_compressor()
    return compressor.compress(data) + compressor.flush()


def compress_chunks(chunks: Iterator[bytes], coding: Coding) -> Generator[bytes, None, None]:
    """Compress a stream of chunks as it goes, yielding only non-empty pieces."""
    assert coding.new_compressor is not None
    compressor = coding.new_compressor()
    try:
        for chunk in chunks:
            if piece := compressor.compress(chunk):
                yield piece
        yield compressor.flush()
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


class CompressionCache:
    """Compressed files by (path, coding), each kept with the ETag it was made from.

    Holds at most `max_bytes` of compressed data; the entries stored first go
    first. A result over `max_entry_bytes` is not kept (the file is then
    compressed per request, still streamed). A file that changes gets a new
    ETag, so its old entry is never served and is replaced on the next store.
    """

    __slots__ = ("_entries", "max_bytes", "max_entry_bytes")

    def __init__(self, max_bytes: int = 32 * 1024 * 1024,
                 max_entry_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // 4 if max_entry_bytes is None else max_entry_bytes
        self._entries: dict[tuple[str, str], tuple[str, bytes]] = {}

    def get(self, path: str, etag: str, coding: str) -> bytes | None:
        """The compressed bytes of `path` at version `etag`, if stored."""
        entry = self._entries.get((path, coding))
        if entry is None or entry[0] != etag:
            return None
        return entry[1]

    def put(self, path: str, etag: str, coding: str, data: bytes) -> None:
        if len(data) > self.max_entry_bytes:
            return
        self._entries.pop((path, coding), None)  # re-inserted as the newest
        self._entries[(path, coding)] = (etag, data)
        if sum(len(entry[1]) for entry in list(self._entries.values())) <= self.max_bytes:
            return
        total = 0
        for key, (_, kept) in reversed(list(self._entries.items())):
            total += len(kept)
            if total > self.max_bytes:
                self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class CompressedStream:
    """The compressed pieces of an open `file`, streamed; closes the file when closed.

    `store` is called with the whole compressed result once the file has
    been read to its end, if that result fits `keep_bytes` and the file did
    not change meanwhile (its `fstat` still gives `version`). An iterator class
    rather than a generator, so `close()` releases the file even when the body
    is never iterated (a HEAD, a client gone early).
    """

    def __init__(self, file: IO[bytes], coding: Coding, keep_bytes: int,
                 version: Callable[[os.stat_result], str], store: Callable[[bytes], None]
                 ) -> None:
        self._file = file
        self._chunks = self._produce(coding, keep_bytes, version, store)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()
        self._file.close()

    def _produce(self, coding: Coding, keep_bytes: int,
                 version: Callable[[os.stat_result], str], store: Callable[[bytes], None]
                 ) -> Generator[bytes, None, None]:
        descriptor = self._file.fileno()
        before = version(os.fstat(descriptor))
        kept: list[bytes] | None = []
        size = 0
        pending: list[bytes] = []  # small pieces (the gzip header...) go out together
        pending_size = 0
        for piece in compress_chunks(_read(descriptor), coding):
            if kept is not None:
                size += len(piece)
                if size <= keep_bytes:
                    kept.append(piece)
                else:
                    kept = None
            pending.append(piece)
            pending_size += len(piece)
            if pending_size >= SEND_SIZE:
                yield b"".join(pending)
                pending, pending_size = [], 0
        if pending_size:
            yield b"".join(pending)
        if kept is not None and version(os.fstat(descriptor)) == before:
            store(b"".join(kept))


def _read(descriptor: int) -> Generator[bytes, None, None]:
    while piece := os.read(descriptor, READ_SIZE):
        yield piece
