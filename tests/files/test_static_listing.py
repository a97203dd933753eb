"""The directory listing as a reader meets it: order, sizes, dates, breadcrumbs, JSON, errors.

In memory; the same pages in a real browser are in test_static_browser.py.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from webpy.app import files
from webpy.app.files._listing import human_size
from webpy.transports.memory import Client, ClientResponse

from .support import ClientFactory

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def shelf(site: Path) -> Path:
    """site/shelf/: files of known sizes and dates, and two folders."""
    shelf = site / "shelf"
    (shelf / "zebra").mkdir(parents=True)
    (shelf / "Apple").mkdir()
    for name, size, mtime in (("big.iso", 3 * 1024 * 1024, 1_600_000_000),
                              ("middle.txt", 1536, 1_700_000_000),
                              ("Small.txt", 10, 1_650_000_000)):
        (shelf / name).write_bytes(b"x" * size)
        os.utime(shelf / name, (mtime, mtime))
    return shelf


@pytest.fixture
def served(client: ClientFactory, shelf: Path) -> Client:
    return client(listing=True)


def rows(response: ClientResponse) -> list[str]:
    body = response.body.decode()
    table = body.partition("<tbody>")[2].partition("</tbody>")[0]
    return re.findall(r'<td class="name"><a href="[^"]*">([^<]*)</a>', table)


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["Apple/", "zebra/", "big.iso", "middle.txt", "Small.txt"]),
    ("?sort=name&order=desc", ["zebra/", "Apple/", "Small.txt", "middle.txt", "big.iso"]),
    ("?sort=size", ["Apple/", "zebra/", "big.iso", "middle.txt", "Small.txt"]),
    ("?sort=size&order=asc", ["Apple/", "zebra/", "Small.txt", "middle.txt", "big.iso"]),
    ("?sort=date", ["zebra/", "Apple/", "middle.txt", "Small.txt", "big.iso"]),
    ("?sort=date&order=asc", ["Apple/", "zebra/", "big.iso", "Small.txt", "middle.txt"]),
    ("?sort=nonsense&order=sideways",
     ["Apple/", "zebra/", "big.iso", "middle.txt", "Small.txt"]),
])
def test_listing_sorts_by_the_query_with_folders_first(served: Client, shelf: Path,
                                                      query: str, expected: list[str]) -> None:
    os.utime(shelf / "zebra", (1_500_000_000, 1_500_000_000))
    os.utime(shelf / "Apple", (1_400_000_000, 1_400_000_000))
    response = served.get("/shelf/" + query)
    assert response.status == 200
    assert rows(response)[1:] == expected  # after the ../ row


def test_column_headings_link_to_each_order_and_back(served: Client) -> None:
    body = served.get("/shelf/").body.decode()
    assert '<th class="name" aria-sort="ascending"><a href="?sort=name&amp;order=desc">' in body
    assert '<a href="?sort=size&amp;order=desc">Size</a>' in body
    assert '<a href="?sort=date&amp;order=desc">Modified' in body
    by_size = served.get("/shelf/?sort=size&order=desc").body.decode()
    assert ('<th class="size" aria-sort="descending"><a href="?sort=size&amp;order=asc">'
            "Size \u25bc</a>") in by_size
    assert '<a href="?sort=name&amp;order=asc">Name</a>' in by_size


def test_unknown_sort_query_is_never_echoed(served: Client) -> None:
    body = served.get("/shelf/?sort=%3Cscript%3E&order=%3Cb%3E").body
    assert b"script" not in body and b"&lt;b" not in body


def test_sizes_are_human_readable_with_the_exact_count_kept(served: Client) -> None:
    body = served.get("/shelf/").body.decode()
    assert '<data value="3145728">3.0 MiB</data>' in body
    assert '<data value="1536">1.5 KiB</data>' in body
    assert '<data value="10">10 B</data>' in body


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (10 * 1024, "10 KiB"),
    (1024**3 * 5 // 2, "2.5 GiB"), (1024**6 * 3, "3072 PiB"),
])
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_dates_are_iso_in_utc(served: Client) -> None:
    body = served.get("/shelf/").body.decode()
    assert ('<time datetime="2023-11-14T22:13:20Z">2023-11-14'
            '<span class="clock"> 22:13:20</span></time>') in body


def test_breadcrumbs_link_every_directory_above(site: Path, client: ClientFactory) -> None:
    (site / "docs" / "zeta" / "a b&c").mkdir()
    body = client("/static/", listing=True).get("/static/docs/zeta/a%20b%26c/").body.decode()
    assert ('<h1>Index of <span class="crumbs"><a href="/static/">/static/</a>'
            '<a href="/static/docs/">docs/</a><a href="/static/docs/zeta/">zeta/</a>'
            '<a href="/static/docs/zeta/a%20b%26c/">a b&amp;c/</a></span></h1>') in body


def test_summary_counts_folders_files_and_bytes(served: Client) -> None:
    body = served.get("/shelf/").body.decode()
    assert '<p class="summary">2 folders, 3 files, 3.0 MiB</p>' in body


def test_page_is_made_for_phones_and_dark_mode(served: Client) -> None:
    body = served.get("/shelf/").body.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body
    assert "@media (prefers-color-scheme:dark)" in body
    assert "<script" not in body


def test_listing_says_it_varies_with_accept(served: Client) -> None:
    assert served.get("/shelf/").headers["Vary"] == "Accept"


# -- JSON ------------------------------------------------------------------------------


def test_json_listing_has_the_same_entries(served: Client) -> None:
    response = served.get("/shelf/", {"Accept": "application/json"})
    assert response.headers["Content-Type"] == "application/json"
    listing = json.loads(response.body)
    assert listing["path"] == "/shelf/"
    assert [entry["name"] for entry in listing["entries"]] == [
        "Apple", "zebra", "big.iso", "middle.txt", "Small.txt"]
    middle = listing["entries"][3]
    assert middle == {"name": "middle.txt", "type": "file", "href": "middle.txt",
                      "size": 1536, "modified": "2023-11-14T22:13:20Z"}
    assert listing["entries"][0]["type"] == "directory"
    assert listing["entries"][0]["href"] == "Apple/"
    assert listing["entries"][0]["size"] is None


def test_json_listing_follows_the_sort_query(served: Client) -> None:
    response = served.get("/shelf/?sort=size&order=asc", {"Accept": "application/json"})
    listing = json.loads(response.body)
    assert (listing["sort"], listing["order"]) == ("size", "asc")
    assert [entry["name"] for entry in listing["entries"]][2:] == [
        "Small.txt", "middle.txt", "big.iso"]


def test_json_listing_keeps_odd_names_intact(site: Path, client: ClientFactory) -> None:
    (site / "docs" / '<a href="x">"q"&.txt').write_bytes(b"")
    (site / "docs" / os.fsdecode(b"latin\xe9.txt")).write_bytes(b"")
    listing = json.loads(client(listing=True).get("/docs/", {"Accept": "application/json"}).body)
    named = {entry["name"]: entry["href"] for entry in listing["entries"]}
    assert named['<a href="x">"q"&.txt'] == "%3Ca%20href%3D%22x%22%3E%22q%22%26.txt"
    assert named["latin\ufffd.txt"] == "latin%E9.txt"


def test_browser_accept_gets_html_and_a_script_gets_json(served: Client) -> None:
    browser = served.get("/shelf/", {"Accept": BROWSER_ACCEPT})
    assert browser.headers["Content-Type"] == "text/html; charset=utf-8"
    assert served.get("/shelf/", {"Accept": "*/*"}).headers["Content-Type"].startswith(
        "text/html")
    assert served.get("/shelf/", {"Accept": "application/json, text/html;q=0.5"}).headers[
        "Content-Type"] == "application/json"


# -- error pages -----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/missing.txt", {}, 404),
    ("/.hidden", {}, 404),
    ("/docs/", {}, 403),
    ("/hello.txt", {"Range": "bytes=1000-2000"}, 416),
])
def test_browsers_get_an_html_error_page_in_the_listing_style(
        client: ClientFactory, path: str, headers: dict[str, str], status: int) -> None:
    response = client("/", listing=False).get(path, {"Accept": BROWSER_ACCEPT, **headers})
    assert response.status == status
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Vary"] == "Accept"
    body = response.body.decode()
    assert f"<h1>{status} " in body
    assert "@media (prefers-color-scheme:dark)" in body
    assert path not in body.replace('href="/"', "")  # nothing from the request
    if status == 416:
        assert response.headers["Content-Range"] == "bytes */14"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_other_clients_get_the_plain_text_error(client: ClientFactory,
                                                accept: str | None) -> None:
    response = client().get("/missing.txt", {"Accept": accept} if accept else {})
    assert response.status == 404
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Vary"] == "Accept"
    assert response.body == b"404 Not Found\n"


def test_error_page_links_back_to_the_mount(client: ClientFactory) -> None:
    body = client("/static/").get("/static/nope", {"Accept": "text/html"}).body.decode()
    assert '<a href="/static/">Back to the top</a>' in body


def test_head_of_an_error_page_has_no_body(client: ClientFactory) -> None:
    response = client().head("/missing.txt", {"Accept": "text/html"})
    assert (response.status, response.body) == (404, b"")
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


# -- caching ---------------------------------------------------------------------------


def test_listing_is_revalidated_with_its_etag(served: Client, shelf: Path) -> None:
    first = served.get("/shelf/")
    assert first.headers["Cache-Control"] == "no-cache"
    etag = first.headers["ETag"]
    again = served.get("/shelf/", {"If-None-Match": etag})
    assert (again.status, again.body) == (304, b"")
    (shelf / "new.txt").write_bytes(b"new")
    changed = served.get("/shelf/", {"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag


def test_listing_etag_differs_per_order_and_type(served: Client) -> None:
    etags = {served.get("/shelf/").headers["ETag"],
             served.get("/shelf/?sort=size").headers["ETag"],
             served.get("/shelf/", {"Accept": "application/json"}).headers["ETag"]}
    assert len(etags) == 3


def test_listing_cache_control_follows_a_matching_rule(client: ClientFactory, shelf: Path
                                                       ) -> None:
    served = client(listing=True, cache_control={"^/shelf/$": "max-age=60"})
    assert served.get("/shelf/").headers["Cache-Control"] == "max-age=60"
    assert served.get("/docs/").headers["Cache-Control"] == "no-cache"


# -- over real sockets -------------------------------------------------------------------


def test_json_listing_and_error_pages_over_the_transport(site: Path, shelf: Path,
                                                         live: Callable[..., str]) -> None:
    url = live(files.routes(site, listing=True))
    with httpx.Client(base_url=url, timeout=30.0) as client:
        listing = client.get("/shelf/", headers={"Accept": "application/json"}).json()
        assert [entry["name"] for entry in listing["entries"]][:2] == ["Apple", "zebra"]
        page = client.get("/shelf/?sort=size", headers={"Accept": BROWSER_ACCEPT})
        assert row_names_of(page.text)[3] == "big.iso"
        etag = page.headers["ETag"]
        assert client.get("/shelf/?sort=size", headers={"Accept": BROWSER_ACCEPT,
                                                        "If-None-Match": etag}).status_code == 304
        browser = client.get("/hello.txt", headers={"Accept": BROWSER_ACCEPT,
                                                    "Range": "bytes=100-"})
        assert browser.status_code == 416
        assert browser.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<h1>416 Requested Range Not Satisfiable</h1>" in browser.text
        script = client.get("/missing", headers={"Accept": "*/*"})
        assert (script.status_code, script.text) == (404, "404 Not Found\n")


def row_names_of(text: str) -> list[str]:
    table = text.partition("<tbody>")[2].partition("</tbody>")[0]
    return re.findall(r'<td class="name"><a href="[^"]*">([^<]*)</a>', table)


def test_listing_revalidates_with_a_weak_form_of_its_etag(served: Client) -> None:
    etag = served.get("/shelf/").headers["ETag"]
    assert served.get("/shelf/", {"If-None-Match": "W/" + etag}).status == 304
    assert served.get("/shelf/", {"If-None-Match": '"other", ' + etag}).status == 304
