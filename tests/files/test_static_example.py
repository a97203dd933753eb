"""examples/static_site.py, driven through its routes in memory."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from webpy.transports.memory import Client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "static_site.py"


@pytest.fixture
def example() -> dict[str, Any]:
    return runpy.run_path(str(EXAMPLE))  # its __main__ part does not run


@pytest.fixture
def served(example: dict[str, Any], site: Path) -> Client:
    return Client(example["site_routes"](str(site)))


def test_example_home_page_links_to_the_files(served: Client) -> None:
    response = served.get("/")
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<a href="/static/hello.txt">hello.txt</a>' in response.text
    assert ".hidden" not in response.text


def test_example_home_page_links_lead_to_the_files(served: Client, site: Path) -> None:
    (site / "two words & more.txt").write_bytes(b"spaced")
    page = served.get("/").text
    assert '<a href="/static/two%20words%20%26%20more.txt">two words &amp; more.txt</a>' in page
    assert served.get("/static/two%20words%20%26%20more.txt").body == b"spaced"


def test_example_serves_ranges_of_its_files(served: Client) -> None:
    response = served.get("/static/hello.txt", {"Range": "bytes=7-11"})
    assert (response.status, response.body) == (206, b"world")


def test_example_lists_directories_under_static(served: Client) -> None:
    assert '<a href="a.txt">a.txt</a>' in served.get("/static/docs/").text


def test_example_time_route_is_a_handler_beside_the_files(served: Client) -> None:
    response = served.get("/api/time")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.text.endswith("Z\n")


def test_example_keeps_requests_inside_the_directory(served: Client) -> None:
    assert served.get("/static/%2e%2e/outside/secret.txt").status == 404
