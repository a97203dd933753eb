"""Compressed responses: precompressed variants, compression on the fly, and for handlers.

In memory for the rules (which coding, which ETag, when not to compress),
then over real sockets on the threaded and trio transports with httpx and
curl, which decompress what they get: the bytes a user ends up with must be
the file's.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import brotli
import httpx
import pytest

from webpy.app import files
from webpy.app.files._negotiation import choose_coding, choose_media_type, coding_preference
from webpy.app.json import JSONHandler
from webpy.transports.memory import Client

from .support import BINARY, ClientFactory

TIMEOUT = 30.0
#: A stylesheet of about 200 KiB that compresses well, as real ones do.
CSS = b"".join(b".item-%d { color: #%06x; padding: %dpx; }\n" % (n, n * 97 % 0xFFFFFF, n % 40)
               for n in range(5000))
#: Fixed precompressed bodies, different from what the server would make, so a test
#: can tell a variant from the file compressed on the fly.
CSS_GZ = gzip.compress(CSS, compresslevel=1, mtime=0)
CSS_BR = brotli.compress(CSS, quality=1)


@pytest.fixture
def assets(site: Path) -> Path:
    """site/css/: app.css with .gz and .br variants; plain.css, and logo.png, without."""
    directory = site / "css"
    directory.mkdir()
    (directory / "app.css").write_bytes(CSS)
    (directory / "app.css.gz").write_bytes(CSS_GZ)
    (directory / "app.css.br").write_bytes(CSS_BR)
    (directory / "plain.css").write_bytes(CSS)
    (directory / "logo.png").write_bytes(BINARY)
    (directory / "small.css").write_bytes(b"p{margin:0}\n")
    return directory


# -- negotiation ------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "chosen"), [
    (None, None),
    ("", None),
    ("identity", None),
    ("gzip", "gzip"),
    ("x-gzip", "gzip"),
    ("GZIP", "gzip"),
    ("br", "br"),
    ("gzip, deflate, br", "br"),
    ("gzip, br;q=0.5", "gzip"),
    ("br;q=0, gzip", "gzip"),
    ("br;q=0, gzip;q=0", None),
    ("*", "br"),
    ("*;q=0", None),
    ("gzip;q=0, *", "br"),
    ("br;q=0, *;q=0.1", "gzip"),
    ("gzip;q=nonsense, br;q=1.5", None),
    ("gzip;q=0.001", "gzip"),
])
def test_accept_encoding_weights_pick_the_coding(field: str | None, chosen: str | None) -> None:
    assert choose_coding(field, ["br", "gzip"]) == chosen


@pytest.mark.parametrize("field", [
    None, "", "identity", "gzip", "x-gzip", "br", "gzip, deflate, br", "gzip, br;q=0.5",
    "br;q=0, gzip", "*", "*;q=0", "gzip;q=0, *", "br;q=0, *;q=0.1", "br;q=0.5, gzip;q=0.5",
    "gzip;q=nonsense, br;q=1.5", "zstd, gzip;q=0.2",
])
@pytest.mark.parametrize("available", [("br", "gzip"), ("br",), ("gzip",), ()])
def test_first_available_coding_in_preference_order_is_the_one_chosen(
        field: str | None, available: tuple[str, ...]) -> None:
    """The server may stop looking for variants at the first one it has in this order."""
    preferred = [coding for coding in coding_preference(field, ("br", "gzip"))
                 if coding in available]
    assert (preferred[0] if preferred else None) == choose_coding(field, list(available))


@pytest.mark.parametrize(("field", "chosen"), [
    (None, "text/html"),
    ("*/*", "text/html"),
    ("application/json", "application/json"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
    ("application/json, text/html;q=0.5", "application/json"),
    ("application/*", "application/json"),
    ("image/png", None),
    ("text/*;q=0.2, application/json;q=0.1", "text/html"),
])
def test_accept_picks_the_listing_type(field: str | None, chosen: str | None) -> None:
    assert choose_media_type(field, ["text/html", "application/json"]) == chosen


# -- precompressed variants ---------------------------------------------------------------


def test_brotli_variant_is_sent_to_a_client_that_accepts_it(assets: Path,
                                                            client: ClientFactory) -> None:
    response = client().get("/css/app.css", {"Accept-Encoding": "gzip, deflate, br"})
    assert response.status == 200
    assert response.body == CSS_BR
    assert response.headers["Content-Encoding"] == "br"
    assert response.headers["Content-Type"] == "text/css; charset=utf-8"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Content-Length"] == str(len(CSS_BR))


def test_gzip_variant_is_sent_to_a_client_that_accepts_only_gzip(assets: Path,
                                                                 client: ClientFactory) -> None:
    response = client().get("/css/app.css", {"Accept-Encoding": "gzip"})
    assert (response.body, response.headers["Content-Encoding"]) == (CSS_GZ, "gzip")


def test_file_itself_is_sent_without_accept_encoding_and_says_it_varies(
        assets: Path, client: ClientFactory) -> None:
    response = client().get("/css/app.css")
    assert response.body == CSS
    assert "Content-Encoding" not in response.headers
    assert response.headers["Vary"] == "Accept-Encoding"


def test_each_coding_has_its_own_etag(assets: Path, client: ClientFactory) -> None:
    served = client()
    etags = {served.get("/css/app.css", {"Accept-Encoding": coding}).headers["ETag"]
             for coding in ("identity", "gzip", "br")}
    assert len(etags) == 3


def test_variant_answers_conditional_requests_with_its_own_etag(assets: Path,
                                                                client: ClientFactory) -> None:
    served = client()
    etag = served.get("/css/app.css", {"Accept-Encoding": "gzip"}).headers["ETag"]
    again = served.get("/css/app.css", {"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert (again.status, again.body) == (304, b"")
    assert again.headers["Vary"] == "Accept-Encoding"
    other = served.get("/css/app.css", {"Accept-Encoding": "br", "If-None-Match": etag})
    assert (other.status, other.body) == (200, CSS_BR)


def test_range_of_a_variant_is_a_range_of_the_compressed_bytes(assets: Path,
                                                               client: ClientFactory) -> None:
    response = client().get("/css/app.css", {"Accept-Encoding": "gzip", "Range": "bytes=10-19"})
    assert response.status == 206
    assert response.body == CSS_GZ[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(CSS_GZ)}"
    assert response.headers["Content-Encoding"] == "gzip"


def test_variant_older_than_the_file_is_not_sent(assets: Path, client: ClientFactory) -> None:
    status = os.stat(assets / "app.css")
    os.utime(assets / "app.css.gz", ns=(status.st_atime_ns, status.st_mtime_ns - 10**9))
    response = client().get("/css/app.css", {"Accept-Encoding": "gzip"})
    assert (response.body, response.headers.get("Content-Encoding")) == (CSS, None)


def test_variant_that_is_a_symlink_out_of_the_root_is_not_sent(
        assets: Path, tmp_path: Path, client: ClientFactory) -> None:
    outside = tmp_path / "outside" / "evil.gz"
    outside.write_bytes(gzip.compress(b"not the stylesheet"))
    (assets / "app.css.gz").unlink()
    (assets / "app.css.gz").symlink_to(outside)
    response = client().get("/css/app.css", {"Accept-Encoding": "gzip"})
    assert (response.body, response.headers.get("Content-Encoding")) == (CSS, None)


def test_variant_that_is_a_symlink_inside_the_root_is_sent(assets: Path,
                                                          client: ClientFactory) -> None:
    os.rename(assets / "app.css.gz", assets / "app.gz")
    (assets / "app.css.gz").symlink_to("app.gz")
    response = client().get("/css/app.css", {"Accept-Encoding": "gzip"})
    assert (response.body, response.headers["Content-Encoding"]) == (CSS_GZ, "gzip")


def test_stale_preferred_variant_gives_way_to_the_next_the_client_takes(
        assets: Path, client: ClientFactory) -> None:
    status = os.stat(assets / "app.css")
    os.utime(assets / "app.css.br", ns=(status.st_atime_ns, status.st_mtime_ns - 10**9))
    response = client().get("/css/app.css", {"Accept-Encoding": "br, gzip"})
    assert (response.body, response.headers["Content-Encoding"]) == (CSS_GZ, "gzip")


def test_client_taking_no_variant_there_is_gets_the_file_and_is_told_it_varies(
        assets: Path, client: ClientFactory) -> None:
    (assets / "app.css.br").unlink()
    response = client().get("/css/app.css", {"Accept-Encoding": "br"})
    assert (response.body, response.headers.get("Content-Encoding")) == (CSS, None)
    assert response.headers["Vary"] == "Accept-Encoding"


def test_only_stale_variants_mean_no_vary(assets: Path, client: ClientFactory) -> None:
    status = os.stat(assets / "app.css")
    for name in ("app.css.br", "app.css.gz"):
        os.utime(assets / name, ns=(status.st_atime_ns, status.st_mtime_ns - 10**9))
    for field in ("br", "gzip", "compress", ""):
        response = client().get("/css/app.css", {"Accept-Encoding": field})
        assert (response.body, response.headers.get("Vary")) == (CSS, None), field


def test_variants_are_ignored_with_precompressed_false(assets: Path,
                                                      client: ClientFactory) -> None:
    response = client(precompressed=False).get("/css/app.css", {"Accept-Encoding": "gzip, br"})
    assert (response.body, response.headers.get("Vary")) == (CSS, None)


def test_head_of_a_variant_has_the_headers_of_its_get(assets: Path,
                                                      client: ClientFactory) -> None:
    served = client()
    get = served.get("/css/app.css", {"Accept-Encoding": "br"})
    head = served.head("/css/app.css", {"Accept-Encoding": "br"})
    assert head.body == b""
    for name in ("Content-Length", "Content-Encoding", "ETag", "Vary", "Content-Type"):
        assert head.headers[name] == get.headers[name]


# -- compression on the fly --------------------------------------------------------------


@pytest.mark.parametrize(("coding", "decompress"), [("gzip", gzip.decompress),
                                                    ("br", brotli.decompress)])
def test_text_file_is_compressed_on_the_fly(assets: Path, client: ClientFactory, coding: str,
                                            decompress: Callable[[bytes], bytes]) -> None:
    response = client(compress=True).get("/css/plain.css", {"Accept-Encoding": coding})
    assert response.status == 200
    assert response.headers["Content-Encoding"] == coding
    assert response.headers["Vary"] == "Accept-Encoding"
    assert len(response.body) < len(CSS) // 5
    assert decompress(response.body) == CSS


def test_file_is_compressed_once_then_sent_from_the_cache(assets: Path,
                                                         client: ClientFactory) -> None:
    served = client(compress=True)
    first = served.get("/css/plain.css", {"Accept-Encoding": "gzip"})
    assert "Content-Length" not in first.headers  # streamed as it was compressed
    second = served.get("/css/plain.css", {"Accept-Encoding": "gzip"})
    assert second.headers["Content-Length"] == str(len(first.body))
    assert second.body == first.body
    assert second.headers["ETag"] == first.headers["ETag"]


def test_changed_file_is_compressed_again_never_served_stale(assets: Path,
                                                            client: ClientFactory) -> None:
    served = client(compress=True)
    first = served.get("/css/plain.css", {"Accept-Encoding": "gzip"})
    (assets / "plain.css").write_bytes(CSS + b"/* changed */\n" * 100)
    second = served.get("/css/plain.css", {"Accept-Encoding": "gzip"})
    assert gzip.decompress(second.body) == CSS + b"/* changed */\n" * 100
    assert second.headers["ETag"] != first.headers["ETag"]


def test_compressed_etag_revalidates_to_304(assets: Path, client: ClientFactory) -> None:
    served = client(compress=True)
    etag = served.get("/css/plain.css", {"Accept-Encoding": "gzip"}).headers["ETag"]
    assert etag != served.get("/css/plain.css").headers["ETag"]
    again = served.get("/css/plain.css", {"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status == 304


def test_range_request_gets_the_file_itself_not_compressed(assets: Path,
                                                          client: ClientFactory) -> None:
    response = client(compress=True).get("/css/plain.css",
                                         {"Accept-Encoding": "gzip", "Range": "bytes=0-99"})
    assert response.status == 206
    assert response.body == CSS[:100]
    assert "Content-Encoding" not in response.headers
    assert response.headers["Vary"] == "Accept-Encoding"


def test_binary_and_already_compressed_types_are_not_compressed(
        assets: Path, site: Path, client: ClientFactory) -> None:
    (site / "archive.tar.gz").write_bytes(CSS_GZ)
    served = client(compress=True)
    for path in ("/css/logo.png", "/data.bin", "/archive.tar.gz"):
        response = served.get(path, {"Accept-Encoding": "gzip, br"})
        assert "Content-Encoding" not in response.headers, path
        assert "Vary" not in response.headers, path


def test_file_below_the_size_threshold_is_not_compressed(assets: Path,
                                                        client: ClientFactory) -> None:
    response = client(compress=True).get("/css/small.css", {"Accept-Encoding": "gzip"})
    assert (response.body, response.headers.get("Content-Encoding")) == (b"p{margin:0}\n", None)


def test_compression_is_off_by_default_in_the_library(assets: Path,
                                                     client: ClientFactory) -> None:
    response = client().get("/css/plain.css", {"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers


def test_precompressed_variant_wins_over_compressing_on_the_fly(
        assets: Path, client: ClientFactory) -> None:
    response = client(compress=True).get("/css/app.css", {"Accept-Encoding": "gzip"})
    assert response.body == CSS_GZ


def test_compressed_listing_and_index_follow_the_same_rules(site: Path,
                                                           client: ClientFactory) -> None:
    (site / "sub" / "index.html").write_bytes(b"<p>big index</p>\n" * 200)
    response = client(compress=True).get("/sub/", {"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.body) == b"<p>big index</p>\n" * 200


def test_cache_keeps_within_its_memory_bound(site: Path) -> None:
    from webpy.app.files._compression import CompressionCache

    cache = CompressionCache(max_bytes=1000, max_entry_bytes=400)
    for n in range(10):
        cache.put(f"/f{n}", '"e"', "gzip", bytes(300))
    assert len(cache) == 3
    assert cache.get("/f9", '"e"', "gzip") == bytes(300)
    assert cache.get("/f0", '"e"', "gzip") is None
    cache.put("/big", '"e"', "gzip", bytes(401))
    assert cache.get("/big", '"e"', "gzip") is None


# -- handler responses ------------------------------------------------------------------


class Report(files.CompressingHandler, JSONHandler):
    def do_get(self) -> tuple[int, object]:
        if self.request.query.get("small"):
            return 200, {"rows": []}
        if self.request.query.get("stream"):
            self.response.headers["Content-Type"] = "text/csv"
            return 200, (b"%d,row\n" % n for n in range(20000))
        self.response.headers["ETag"] = '"v1"'
        return 200, {"rows": [{"n": n, "name": f"row {n}"} for n in range(2000)]}


class Picture(files.CompressingHandler):
    def do_get(self) -> tuple[int, bytes]:
        self.response.headers["Content-Type"] = "image/png"
        return 200, BINARY


def test_large_json_body_is_compressed_for_a_handler_that_opts_in() -> None:
    served = Client({"/report": Report})
    plain = served.get("/report")
    compressed = served.get("/report", {"Accept-Encoding": "gzip"})
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert compressed.headers["Content-Type"] == "application/json"
    assert compressed.headers["Vary"] == "Accept-Encoding"
    assert compressed.headers["ETag"] == '"v1-gzip"'
    assert gzip.decompress(compressed.body) == plain.body
    assert len(compressed.body) < len(plain.body) // 4
    assert plain.headers["ETag"] == '"v1"' and "Content-Encoding" not in plain.headers


def test_streamed_handler_body_is_compressed_as_it_streams() -> None:
    response = Client({"/report": Report}).get("/report?stream=1", {"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br"
    assert brotli.decompress(response.body) == b"".join(b"%d,row\n" % n for n in range(20000))


def test_small_and_binary_handler_bodies_are_sent_as_they_are() -> None:
    served = Client({"/report": Report, "/picture": Picture})
    small = served.get("/report?small=1", {"Accept-Encoding": "gzip"})
    assert (small.body, small.headers.get("Content-Encoding")) == (b'{"rows": []}', None)
    picture = served.get("/picture", {"Accept-Encoding": "gzip"})
    assert (picture.body, picture.headers.get("Content-Encoding")) == (BINARY, None)


def test_handler_bodies_are_compressed_over_the_transport(live: Callable[..., str]) -> None:
    url = live({"/report": Report})
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        plain = client.get("/report", headers={"Accept-Encoding": "identity"})
        for coding in ("gzip", "br"):
            response = client.get("/report", headers={"Accept-Encoding": coding})
            assert response.headers["Content-Encoding"] == coding
            assert response.content == plain.content  # httpx decodes both codings
            assert response.num_bytes_downloaded < len(plain.content) // 4
        streamed = client.get("/report?stream=1", headers={"Accept-Encoding": "gzip"})
        assert streamed.content == b"".join(b"%d,row\n" % n for n in range(20000))


# -- over real sockets, with real clients -------------------------------------------------


@pytest.fixture
def compressing_url(assets: Path, site: Path, live: Callable[..., str]) -> str:
    return live(files.routes(site, compress=True, listing=True))


def test_httpx_gets_every_coding_over_the_transport(compressing_url: str) -> None:
    with httpx.Client(base_url=compressing_url, timeout=TIMEOUT) as client:
        for path in ("/css/app.css", "/css/plain.css"):
            for coding in ("gzip", "br", "identity"):
                for _ in range(2):  # the second on-the-fly request comes from the cache
                    response = client.get(path, headers={"Accept-Encoding": coding})
                    assert response.status_code == 200
                    assert response.content == CSS, (path, coding)
                    assert response.headers.get("Content-Encoding", "identity") == coding
                    assert response.headers["Vary"] == "Accept-Encoding"


def test_variant_ranges_and_revalidation_over_the_transport(compressing_url: str) -> None:
    with httpx.Client(base_url=compressing_url, timeout=TIMEOUT) as client:
        headers = {"Accept-Encoding": "br"}
        whole = client.get("/css/app.css", headers=headers)
        assert whole.content == CSS
        with client.stream("GET", "/css/app.css",
                           headers={**headers, "Range": "bytes=5-14"}) as part:
            assert part.status_code == 206
            assert part.headers["Content-Encoding"] == "br"
            assert b"".join(part.iter_raw()) == CSS_BR[5:15]  # the variant's own bytes
        again = client.get("/css/app.css", headers={**headers,
                                                    "If-None-Match": whole.headers["ETag"]})
        assert again.status_code == 304


def test_http_1_0_client_gets_the_compressed_file_whole(compressing_url: str) -> None:
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(compressing_url)
    with socket.create_connection((address.hostname, address.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /css/plain.css HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
        received = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"\r\nContent-Encoding: gzip" in head
    assert b"chunked" not in head.lower()
    assert gzip.decompress(body) == CSS


CURL = shutil.which("curl")


def test_curl_compressed_gets_the_file(compressing_url: str, tmp_path: Path) -> None:
    if CURL is None:
        pytest.skip("curl is not installed")
    for path in ("/css/app.css", "/css/plain.css"):
        output = tmp_path / "out.css"
        result = subprocess.run(
            [CURL, "--silent", "--show-error", "--fail", "--compressed", "--max-time", "30",
             "--dump-header", str(tmp_path / "head"), "--output", str(output),
             compressing_url + path], capture_output=True, timeout=TIMEOUT, check=False)
        assert result.returncode == 0, result.stderr
        assert output.read_bytes() == CSS
        assert "content-encoding:" in (tmp_path / "head").read_text().lower()


@pytest.fixture
def big_text(site: Path) -> Iterator[bytes]:
    """8 MiB of text that compresses only to about three quarters (base64 of random
    bytes): bigger than the cache takes, so it is compressed as it streams every time."""
    import base64

    content = base64.encodebytes(os.urandom(6 * 1024 * 1024))
    (site / "big.txt").write_bytes(content)
    yield content


def test_large_text_file_is_compressed_as_it_streams_never_held_whole(
        site: Path, big_text: bytes, live: Callable[..., str]) -> None:
    url = live(files.routes(site, compress=True, compression_cache_bytes=1024 * 1024))
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    position = 0
    tracemalloc.start()
    try:
        with httpx.Client(timeout=TIMEOUT) as client, \
                client.stream("GET", url + "/big.txt", headers={"Accept-Encoding": "gzip"}
                              ) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert "Content-Length" not in response.headers
            for raw in response.iter_raw():
                piece = decompressor.decompress(raw)
                assert piece == big_text[position:position + len(piece)]
                position += len(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert position == len(big_text) and decompressor.eof
    # Server and client together, in this process: far below the file's 8 MiB.
    assert peak < len(big_text) // 2, peak
