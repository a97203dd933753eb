"""The listing in a real browser: headless Chromium, over the threaded and trio transports.

Chromium's ``--dump-dom`` gives the document as the browser built it, so
the assertions are about what a reader gets: every name shown as text (the
odd ones too), column links that sort without any script, and, in a
frame 390 px and 1280 px wide, rows that fit without a horizontal scroll
bar. A probe page on the same server measures the frame with a script and
writes the numbers into its own DOM for the dump. The README's screenshots
come from docs/make_screenshots.py, which runs here too.
"""

from __future__ import annotations

import html
import json
import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import webpy as web
from webpy.app import files

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "docs"))
from make_screenshots import chromium, run_chromium  # noqa: E402

LONG_NAME = "a-very-long-file-name-without-any-space-to-break-at-" + "x" * 80 + ".txt"
ODD_NAMES = ['<img src=x onerror="alert(1)"><b>bold.txt', "tab\there & there.txt",
             "caf\u00e9 \u2615.md", LONG_NAME]


@pytest.fixture(autouse=True)
def needs_chromium() -> None:
    if chromium() is None:
        pytest.skip("chromium is not installed")


@pytest.fixture
def gallery(site: Path) -> Path:
    """site/gallery/: two folders, files of three sizes, and names a browser could trip on."""
    gallery = site / "gallery"
    (gallery / "photos").mkdir(parents=True)
    (gallery / "a folder with a long name that has to wrap on a phone screen").mkdir()
    for name, size in (("big.bin", 2_000_000), ("medium.txt", 5_000), ("tiny.txt", 3)):
        (gallery / name).write_bytes(b"x" * size)
    for name in ODD_NAMES:
        (gallery / name).write_bytes(b"odd")
    return gallery


class Probe(web.HTTPHandler):
    """A page that frames a listing at a given width and reports what the browser laid out."""

    def do_get(self) -> tuple[int, str]:
        width = int(self.request.query.get("width", "390"))
        target = html.escape(self.request.query.get("target", "/files/gallery/"))
        self.response.headers["Content-Type"] = "text/html; charset=utf-8"
        return 200, f"""<!DOCTYPE html><html><body style="margin:0">
<iframe id="frame" src="{target}" style="width:{width}px;height:844px;border:0"></iframe>
<pre id="result">pending</pre>
<script>
window.addEventListener("load", () => {{
  const page = document.getElementById("frame").contentDocument;
  const root = page.documentElement;
  const rows = [...page.querySelectorAll("tbody tr")];
  document.getElementById("result").textContent = JSON.stringify({{
    scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
    widest: Math.max(...rows.map(row => row.getBoundingClientRect().right)),
    dark: page.defaultView.matchMedia("(prefers-color-scheme: dark)").matches,
    background: page.defaultView.getComputedStyle(page.body).backgroundColor,
  }});
}});
</script></body></html>"""


@pytest.fixture
def url(site: Path, gallery: Path, live: Callable[..., str]) -> str:
    routes: dict[str, type[web.HTTPHandler]] = {"/probe": Probe}
    routes.update(files.routes(site, "/files/", listing=True))
    return live(routes)


def dump(url: str, tmp_path: Path, *flags: str) -> str:
    """The DOM Chromium built for `url`, after its scripts (if any) have run."""
    return run_chromium(url, "--dump-dom", "--virtual-time-budget=10000", *flags,
                        profile=str(tmp_path / "profile")).decode()


def row_names(dom: str) -> list[str]:
    table = dom.partition("<tbody>")[2].partition("</tbody>")[0]
    return [html.unescape(name) for name in
            re.findall(r'<td class="name"><a href="[^"]*">([^<]*)</a>', table)]


def test_browser_shows_every_name_as_text_folders_first(url: str, tmp_path: Path) -> None:
    dom = dump(url + "/files/gallery/", tmp_path)
    names = row_names(dom)
    assert names[:3] == ["../", "a folder with a long name that has to wrap on a phone screen/",
                         "photos/"]
    assert set(names[3:]) == {"big.bin", "medium.txt", "tiny.txt", *ODD_NAMES}
    assert "<img" not in dom and "<b>" not in dom  # shown as text, never parsed as markup
    assert "Index of /files/gallery/" in dom


def test_sort_links_need_no_script(url: str, tmp_path: Path) -> None:
    dom = dump(url + "/files/gallery/", tmp_path)
    assert "<script" not in dom  # the page has none: sorting is the server's links
    links = re.findall(r'<th class="(\w+)"[^>]*><a href="([^"]*)">', dom)
    assert links == [("name", "?sort=name&amp;order=desc"), ("size", "?sort=size&amp;order=desc"),
                     ("date", "?sort=date&amp;order=desc")]
    by_size = row_names(dump(url + "/files/gallery/?sort=size&order=desc", tmp_path))
    assert by_size[3:5] == ["big.bin", "medium.txt"]
    assert by_size[-1] == "tiny.txt"


@pytest.mark.parametrize("width", [390, 1280])
def test_listing_fits_the_width_without_horizontal_scrolling(url: str, tmp_path: Path,
                                                            width: int) -> None:
    dom = dump(f"{url}/probe?width={width}", tmp_path)
    found = re.search(r'<pre id="result">([^<]*)</pre>', dom)
    assert found is not None, dom[-500:]
    layout = json.loads(html.unescape(found.group(1)))
    assert layout["clientWidth"] == width
    assert layout["scrollWidth"] <= layout["clientWidth"], layout
    assert layout["widest"] <= width, layout


def test_dark_mode_follows_the_system_preference(url: str, tmp_path: Path) -> None:
    light = dump(f"{url}/probe?width=1280", tmp_path / "light")
    dark = dump(f"{url}/probe?width=1280", tmp_path / "dark",
                "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
    light_layout = json.loads(html.unescape(re.findall(r'id="result">([^<]*)<', light)[0]))
    dark_layout = json.loads(html.unescape(re.findall(r'id="result">([^<]*)<', dark)[0]))
    assert (light_layout["dark"], dark_layout["dark"]) == (False, True)
    assert light_layout["background"] == "rgb(255, 255, 255)"
    assert dark_layout["background"] == "rgb(13, 17, 23)"


def test_browser_error_page_is_html_in_the_same_style(url: str, tmp_path: Path) -> None:
    dom = dump(url + "/files/gallery/missing.txt", tmp_path)
    assert "<h1>404 Not Found</h1>" in dom
    assert "Nothing is served at this address." in dom
    assert "missing.txt" not in dom


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshot_script_takes_desktop_phone_and_dark_pictures(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPOSITORY / "docs" / "make_screenshots.py"),
                    str(tmp_path)], check=True, timeout=180, capture_output=True)
    assert png_size(tmp_path / "listing-desktop.png") == (1280, 800)
    assert png_size(tmp_path / "listing-phone.png") == (390, 844)
    assert png_size(tmp_path / "listing-dark.png") == (1280, 800)
    # Not blank: a page with text compresses far worse than a flat colour.
    assert (tmp_path / "listing-phone.png").stat().st_size > 10_000
