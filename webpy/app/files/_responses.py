"""Compression for handler responses: `CompressingHandler`, an opt-in base class.

The file server compresses files; an application's own large text and JSON
bodies can get the same with one more base class. It works in the `encode`
hook, after the other bases have turned the body into text or bytes, so it
goes first: ``class Report(CompressingHandler, JSONHandler)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any, ClassVar

from ..handler import HTTPHandler
from ..response import FileBody, StreamBody
from ._compression import CODINGS, compress, compress_chunks, is_compressible
from ._negotiation import choose_coding


class CompressingHandler(HTTPHandler):
    """Sends text-like bodies compressed (brotli or gzip) to clients that accept it.

    A body is compressed when its Content-Type is text-like (text/*, JSON,
    JavaScript, XML, SVG), no Content-Encoding is set yet, and it is either
    str or bytes of at least `compress_min_bytes`, or an iterable of bytes
    (compressed as it streams). The response then says
    ``Vary: Accept-Encoding``, and an ETag the handler set gets the coding
    appended, since the compressed bytes are a different representation.
    """

    #: Bodies shorter than this are sent as they are: the saving is too small.
    compress_min_bytes: ClassVar[int] = 1024

    def encode(self, body: Any) -> Any:
        body = super().encode(body)
        headers = self.response.headers
        if body is None or "content-encoding" in headers:
            return body
        if isinstance(body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            body = body.encode("utf-8")
        content_type = headers.get("Content-Type")
        if content_type is None or not is_compressible(content_type):
            return body
        whole = isinstance(body, bytes | bytearray | memoryview)
        streamed = (isinstance(body, Iterable) and not whole and not hasattr(body, "read")
                    and not isinstance(body, AsyncIterable | FileBody | StreamBody))
        if not (whole or streamed):
            return body
        if whole and len(body) < self.compress_min_bytes:
            return body
        vary = headers.get("Vary")
        if vary is None:
            headers["Vary"] = "Accept-Encoding"
        elif "accept-encoding" not in vary.lower() and vary.strip() != "*":
            headers["Vary"] = vary + ", Accept-Encoding"
        usable = [coding.name for coding in CODINGS if coding.available]
        chosen = choose_coding(self.request.headers.get("Accept-Encoding"), usable)
        if chosen is None:
            return body
        coding = next(coding for coding in CODINGS if coding.name == chosen)
        headers["Content-Encoding"] = chosen
        etag = headers.get("ETag")
        if etag is not None and etag.endswith('"'):
            headers["ETag"] = f'{etag[:-1]}-{chosen}"'
        if whole:
            return compress(bytes(body), coding)
        return StreamBody(compress_chunks(iter(body), coding))
