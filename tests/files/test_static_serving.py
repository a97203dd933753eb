"""GET and HEAD of files and directories, in memory."""

from __future__ import annotations

import os
import re
from email.utils import formatdate
from pathlib import Path

import pytest

import webpy as web
from webpy.app import files
from webpy.transports.memory import Client

from .support import BINARY, ClientFactory


def test_file_is_served_with_type_length_and_validators(client: ClientFactory, site: Path
                                                         ) -> None:
    response = client().get("/hello.txt")
    status = os.stat(site / "hello.txt")
    assert response.status == 200
    assert response.body == b"Hello, world!\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Length"] == "14"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Last-Modified"] == formatdate(int(status.st_mtime), usegmt=True)
    assert re.fullmatch(r'"[^"]+"', response.headers["ETag"])  # strong: no W/ prefix


def test_binary_file_is_served_byte_for_byte(client: ClientFactory) -> None:
    response = client().get("/data.bin")
    assert response.body == BINARY
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_head_has_the_headers_of_get_but_no_body(client: ClientFactory) -> None:
    served = client()
    get, head = served.get("/data.bin"), served.head("/data.bin")
    assert head.status == 200
    assert head.body == b""
    for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges"):
        assert head.headers[name] == get.headers[name]


def test_empty_file_is_served_with_zero_length(client: ClientFactory) -> None:
    response = client().get("/empty.txt")
    assert (response.status, response.body) == (200, b"")
    assert response.headers["Content-Length"] == "0"


@pytest.mark.parametrize(("name", "content_type"), [
    ("page.html", "text/html; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("picture.png", "image/png"),
    ("data.json", "application/json"),
    ("notes.unknownext", "application/octet-stream"),
    ("archive.tar.gz", "application/gzip"),
])
def test_content_type_comes_from_the_file_name(site: Path, client: ClientFactory, name: str,
                                               content_type: str) -> None:
    (site / name).write_bytes(b"x")
    response = client().get("/" + name)
    assert response.headers["Content-Type"] == content_type


def test_compressed_archive_is_not_announced_as_content_encoding(site: Path,
                                                                 client: ClientFactory) -> None:
    (site / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    response = client().get("/archive.tar.gz")
    assert "Content-Encoding" not in response.headers
    assert response.body == b"\x1f\x8b"


def test_missing_file_is_404(client: ClientFactory) -> None:
    assert client().get("/nothing.txt").status == 404


def test_file_asked_for_as_a_directory_is_404(client: ClientFactory) -> None:
    assert client().get("/hello.txt/").status == 404


def test_etag_changes_when_the_file_is_rewritten(site: Path, client: ClientFactory) -> None:
    served = client()
    before = served.get("/hello.txt").headers["ETag"]
    (site / "hello.txt").write_bytes(b"Hello again!!\n")  # same size
    after = served.get("/hello.txt")
    assert after.body == b"Hello again!!\n"
    assert after.headers["ETag"] != before


def test_post_is_405_and_allow_lists_only_reading_methods(client: ClientFactory) -> None:
    response = client().post("/hello.txt", b"x")
    assert response.status == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_fifo_in_the_root_is_not_served_and_does_not_hang(site: Path,
                                                          client: ClientFactory) -> None:
    os.mkfifo(site / "pipe")
    assert client().get("/pipe").status == 404


def test_file_name_with_spaces_and_unicode_is_served_from_its_encoded_path(
        site: Path, client: ClientFactory) -> None:
    (site / "na me é.txt").write_bytes(b"unicode")
    assert client().get("/na%20me%20%C3%A9.txt").body == b"unicode"


def test_file_name_that_is_not_utf8_is_served_from_its_encoded_bytes(
        site: Path, client: ClientFactory) -> None:
    (site / os.fsdecode(b"latin\xe9.txt")).write_bytes(b"latin-1 name")
    assert client().get("/latin%E9.txt").body == b"latin-1 name"


# -- directories -------------------------------------------------------------------


def test_directory_without_slash_redirects_to_it_with_slash(client: ClientFactory) -> None:
    response = client().get("/sub")
    assert response.status == 301
    assert response.headers["Location"] == "/sub/"


def test_directory_redirect_keeps_the_query_string(client: ClientFactory) -> None:
    response = client().get("/sub?a=1&b=%20")
    assert response.status == 301
    assert response.headers["Location"] == "/sub/?a=1&b=%20"


def test_directory_redirect_keeps_the_path_encoded(site: Path, client: ClientFactory) -> None:
    (site / "two words").mkdir()
    assert client().get("/two%20words").headers["Location"] == "/two%20words/"


def test_directory_serves_its_index_file(client: ClientFactory) -> None:
    response = client().get("/sub/")
    assert response.status == 200
    assert response.body == b"<p>sub index</p>\n"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "ETag" in response.headers


def test_index_file_name_is_configurable(site: Path, client: ClientFactory) -> None:
    (site / "docs" / "default.htm").write_bytes(b"default")
    assert client(index="default.htm").get("/docs/").body == b"default"


def test_index_none_lists_even_a_directory_with_index_html(client: ClientFactory) -> None:
    response = client(index=None, listing=True).get("/sub/")
    assert b"Index of /sub/" in response.body
    assert b'href="index.html"' in response.body


def test_directory_without_index_is_403_when_listing_is_off(client: ClientFactory) -> None:
    assert client().get("/docs/").status == 403


def test_directory_without_index_is_listed_when_listing_is_on(client: ClientFactory) -> None:
    response = client(listing=True).get("/docs/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"<title>Index of /docs/</title>" in response.body
    assert b'<a href="a.txt">a.txt</a>' in response.body


def _listed_names(body: bytes) -> list[str]:
    """The names linked from the listing's rows (not the breadcrumbs or column headings)."""
    rows = body.decode().partition("<tbody>")[2].partition("</tbody>")[0]
    return re.findall(r'<a href="[^"]*">([^<]*)</a>', rows)


def test_listing_puts_directories_first_then_names_in_order(client: ClientFactory) -> None:
    assert _listed_names(client(listing=True).get("/docs/").body) == [
        "../", "zeta/", "a.txt", "B.txt"]


def test_listing_shows_sizes_and_modification_times(site: Path, client: ClientFactory) -> None:
    os.utime(site / "docs" / "a.txt", (0, 1_700_000_000))
    body = client(listing=True).get("/docs/").body.decode()
    row = next(line for line in body.splitlines() if 'href="a.txt"' in line)
    assert '<data value="4">4 B</data>' in row
    assert '<time datetime="2023-11-14T22:13:20Z">2023-11-14<span class="clock"> 22:13:20' in row


def test_listing_of_the_root_has_no_parent_link(client: ClientFactory) -> None:
    names = _listed_names(client(listing=True, index=None).get("/").body)
    assert "../" not in names
    assert names[:3] == ["docs/", "sub/", "data.bin"]


def test_listing_leaves_out_hidden_names(client: ClientFactory) -> None:
    names = _listed_names(client(listing=True, index=None).get("/").body)
    assert ".hidden" not in names and ".git/" not in names


def test_listing_escapes_names_and_links_them_percent_encoded(site: Path,
                                                              client: ClientFactory) -> None:
    (site / "docs" / '<img src=x onerror="alert(1)">&.txt').write_bytes(b"")
    (site / "docs" / "q?a#b c.txt").write_bytes(b"")
    body = client(listing=True).get("/docs/").body.decode()
    assert "<img" not in body
    assert ('<a href="%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E%26.txt">'
            '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;.txt</a>') in body
    assert '<a href="q%3Fa%23b%20c.txt">q?a#b c.txt</a>' in body


def test_listing_links_lead_to_the_files_they_name(site: Path, client: ClientFactory) -> None:
    (site / "docs" / "q?a#b c&d.txt").write_bytes(b"tricky")
    (site / "docs" / os.fsdecode(b"latin\xe9.txt")).write_bytes(b"latin")
    served = client(listing=True)
    body = served.get("/docs/").body.decode()
    hrefs = [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]*)"', body)]
    fetched = {served.get("/docs/" + href).body for href in hrefs if not href.endswith("/")}
    assert {b"tricky", b"latin", b"aaaa", b"bb"} <= fetched


def test_listing_shows_a_non_utf8_name_with_a_replacement_character(
        site: Path, client: ClientFactory) -> None:
    (site / "docs" / os.fsdecode(b"latin\xe9.txt")).write_bytes(b"")
    body = client(listing=True).get("/docs/").body.decode("utf-8")
    assert '<a href="latin%E9.txt">latin\ufffd.txt</a>' in body


def test_listing_title_is_escaped(site: Path, client: ClientFactory) -> None:
    (site / "<b>").mkdir()
    body = client(listing=True).get("/%3Cb%3E/").body.decode()
    assert "<title>Index of /&lt;b&gt;/</title>" in body


# -- prefixes and the rest of an application ------------------------------------------


def test_directory_is_served_below_a_prefix(client: ClientFactory) -> None:
    served = client("/static/")
    assert served.get("/static/hello.txt").body == b"Hello, world!\n"
    assert served.get("/hello.txt").status == 404


def test_prefix_without_slash_redirects_to_the_prefix(client: ClientFactory) -> None:
    response = client("/static").get("/static")
    assert response.status == 301
    assert response.headers["Location"] == "/static/"


def test_similar_looking_path_is_not_under_the_prefix(client: ClientFactory) -> None:
    assert client("/static/").get("/staticfoo/hello.txt").status == 404


def test_handler_routes_sit_beside_the_files(site: Path) -> None:
    class Hello(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 200, "from a handler"

    served = Client({"/api/hello": Hello, **files.routes(site, "/")})
    assert served.get("/api/hello").body == b"from a handler"
    assert served.get("/hello.txt").body == b"Hello, world!\n"


def test_file_handler_can_be_subclassed(site: Path) -> None:
    class Cached(files.FileHandler):
        text_charset = None

        def content_type(self, path: str) -> str:
            self.response.headers["Cache-Control"] = "max-age=60"
            return super().content_type(path)

    served = Client(files.routes(site, "/", handler=Cached))
    for _ in range(2):  # the hook runs for every request, not once per path
        response = served.get("/hello.txt")
        assert response.headers["Content-Type"] == "text/plain"
        assert response.headers["Cache-Control"] == "max-age=60"


def test_content_type_hook_answering_per_request_is_obeyed_on_every_request(
        site: Path) -> None:
    class ByQuery(files.FileHandler):
        def content_type(self, path: str) -> str:
            return "text/markdown" if self.request.query.get("as") == "md" else "text/plain"

    served = Client(files.routes(site, "/", handler=ByQuery))
    for query, kind in (("", "text/plain"), ("?as=md", "text/markdown"), ("", "text/plain")):
        response = served.get("/hello.txt" + query)
        assert (response.status, response.headers["Content-Type"]) == (200, kind)


def test_routes_refuses_a_root_that_is_not_a_directory(site: Path) -> None:
    with pytest.raises(NotADirectoryError):
        files.routes(site / "hello.txt")


@pytest.mark.parametrize("prefix", ["static/", "/a/../b/", "/a//b/"])
def test_routes_refuses_a_prefix_that_is_not_a_plain_path(site: Path, prefix: str) -> None:
    with pytest.raises(ValueError):
        files.routes(site, prefix)


@pytest.mark.parametrize("index", ["../index.html", "a/index.html", ""])
def test_routes_refuses_an_index_that_is_not_a_plain_name(site: Path, index: str) -> None:
    with pytest.raises(ValueError):
        files.routes(site, index=index)
