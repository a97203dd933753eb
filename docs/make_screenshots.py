"""Screenshots of a directory listing in headless Chromium, for the README.

    python docs/make_screenshots.py [OUTPUT_DIR]     # default: docs/

Builds a small example site in a temporary directory, serves it with
webpy's threaded server on 127.0.0.1, and has Chromium (the Debian package
``chromium``) save the listing at desktop width (1280 x 800), at phone width
(390 x 844) and in dark mode. tests/files/test_static_browser.py runs it
too, so it keeps working.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import webpy as web
from webpy.app import files

#: Flags that keep a headless Chromium quiet, offline but for the page, and self-contained.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
DARK = ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]
#: name: (window size, extra flags, path below the site)
SHOTS = {
    "listing-desktop.png": ("1280,800", [], "/project/"),
    "listing-phone.png": ("390,844", [], "/project/?sort=size&order=desc"),
    "listing-dark.png": ("1280,800", DARK, "/project/"),
}
#: The example site: (path, size in bytes, modification time).
EXAMPLE = [
    ("project/assets/", 0, 1_764_000_000),
    ("project/docs/", 0, 1_763_500_000),
    ("project/src/", 0, 1_764_300_000),
    ("project/README.md", 4_213, 1_764_310_000),
    ("project/CHANGELOG.md", 18_944, 1_763_900_000),
    ("project/screenshot-of-the-main-window-in-dark-mode.png", 734_002, 1_762_000_000),
    ("project/release-2.4.0.tar.gz", 12_582_912, 1_764_200_000),
    ("project/notes & ideas.txt", 733, 1_760_000_000),
    ("project/data.json", 96_100, 1_761_000_000),
]


def chromium() -> str | None:
    """The Chromium executable, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(url: str, *extra: str, profile: str, timeout: float = 60.0) -> bytes:
    """Run headless Chromium on `url` with `extra` flags; its standard output."""
    executable = chromium()
    if executable is None:
        raise FileNotFoundError("chromium is not installed")
    result = subprocess.run([executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             *extra, url], capture_output=True, timeout=timeout, check=True)
    return result.stdout


def build_example(root: Path) -> None:
    for path, size, mtime in EXAMPLE:
        target = root / path
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"x" * size)
        os.utime(target, (mtime, mtime))


def take(output: Path) -> list[Path]:
    """Serve the example site and save every screenshot in `output`; the paths written."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "site"
        build_example(root)
        os.utime(root / "project", (1_764_310_000, 1_764_310_000))
        server = web.HTTPServer(("127.0.0.1", 0), files.routes(root, listing=True), threads=2)
        server.start()
        try:
            for name, (size, extra, path) in SHOTS.items():
                target = output / name
                run_chromium(server.url.rstrip("/") + path, *extra, f"--window-size={size}",
                             f"--screenshot={target}", profile=str(Path(scratch) / "profile"))
                written.append(target)
        finally:
            server.stop()
    return written


if __name__ == "__main__":
    destination = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    for path in take(destination):
        print(path)
