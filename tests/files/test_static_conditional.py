"""Conditional GET and HEAD (RFC 9110 section 13), in memory.

hello.txt's modification time is pinned to MTIME, so dates before, at and
after it can be written down.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from webpy.transports.memory import Client

from .support import ClientFactory

MTIME = 1_700_000_000
AT = formatdate(MTIME, usegmt=True)
BEFORE = formatdate(MTIME - 60, usegmt=True)
AFTER = formatdate(MTIME + 60, usegmt=True)


@pytest.fixture
def served(site: Path, client: ClientFactory) -> Client:
    os.utime(site / "hello.txt", (MTIME, MTIME))
    return client()


def etag_of(served: Client) -> str:
    return served.get("/hello.txt").headers["ETag"]


def test_if_none_match_with_the_current_etag_is_304_with_validators_and_no_body(
        served: Client) -> None:
    etag = etag_of(served)
    response = served.get("/hello.txt", {"If-None-Match": etag})
    assert response.status == 304
    assert response.body == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Last-Modified"] == AT
    assert "Content-Length" not in response.headers


def test_if_none_match_on_head_is_304(served: Client) -> None:
    assert served.head("/hello.txt", {"If-None-Match": etag_of(served)}).status == 304


def test_if_none_match_finds_the_etag_in_a_list(served: Client) -> None:
    field = f'"other", {etag_of(served)}, "more"'
    assert served.get("/hello.txt", {"If-None-Match": field}).status == 304


def test_if_none_match_compares_weakly(served: Client) -> None:
    assert served.get("/hello.txt", {"If-None-Match": "W/" + etag_of(served)}).status == 304


def test_if_none_match_star_is_304_for_an_existing_file(served: Client) -> None:
    assert served.get("/hello.txt", {"If-None-Match": "*"}).status == 304


def test_if_none_match_with_another_etag_serves_the_file(served: Client) -> None:
    response = served.get("/hello.txt", {"If-None-Match": '"stale"'})
    assert (response.status, response.body) == (200, b"Hello, world!\n")


def test_if_none_match_for_a_missing_file_is_404(served: Client) -> None:
    assert served.get("/missing.txt", {"If-None-Match": "*"}).status == 404


def test_if_modified_since_at_the_modification_time_is_304(served: Client) -> None:
    assert served.get("/hello.txt", {"If-Modified-Since": AT}).status == 304


def test_if_modified_since_after_the_modification_time_is_304(served: Client) -> None:
    assert served.get("/hello.txt", {"If-Modified-Since": AFTER}).status == 304


def test_if_modified_since_before_the_modification_time_serves_the_file(served: Client) -> None:
    assert served.get("/hello.txt", {"If-Modified-Since": BEFORE}).status == 200


@pytest.mark.parametrize("form", [
    "Tuesday, 14-Nov-23 22:14:20 GMT",  # RFC 850
    "Tue Nov 14 22:14:20 2023",  # asctime
])
def test_if_modified_since_accepts_the_obsolete_date_forms(served: Client, form: str) -> None:
    assert served.get("/hello.txt", {"If-Modified-Since": form}).status == 304


def test_invalid_if_modified_since_is_ignored(served: Client) -> None:
    assert served.get("/hello.txt", {"If-Modified-Since": "yesterday"}).status == 200


def test_if_modified_since_is_ignored_when_if_none_match_is_present(served: Client) -> None:
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": AFTER}
    assert served.get("/hello.txt", headers).status == 200


def test_if_match_with_another_etag_is_412(served: Client) -> None:
    response = served.get("/hello.txt", {"If-Match": '"stale"'})
    assert response.status == 412
    assert b"Hello" not in response.body


def test_if_match_with_the_current_etag_serves_the_file(served: Client) -> None:
    assert served.get("/hello.txt", {"If-Match": etag_of(served)}).status == 200


def test_if_match_star_serves_an_existing_file(served: Client) -> None:
    assert served.get("/hello.txt", {"If-Match": "*"}).status == 200


def test_if_match_never_matches_a_weak_etag(served: Client) -> None:
    assert served.get("/hello.txt", {"If-Match": "W/" + etag_of(served)}).status == 412


def test_if_unmodified_since_before_the_modification_time_is_412(served: Client) -> None:
    assert served.get("/hello.txt", {"If-Unmodified-Since": BEFORE}).status == 412


def test_if_unmodified_since_at_the_modification_time_serves_the_file(served: Client) -> None:
    assert served.get("/hello.txt", {"If-Unmodified-Since": AT}).status == 200


def test_if_unmodified_since_is_ignored_when_if_match_is_present(served: Client) -> None:
    headers = {"If-Match": etag_of(served), "If-Unmodified-Since": BEFORE}
    assert served.get("/hello.txt", headers).status == 200


def test_failed_if_match_outranks_a_matching_if_none_match(served: Client) -> None:
    headers = {"If-Match": '"stale"', "If-None-Match": etag_of(served)}
    assert served.get("/hello.txt", headers).status == 412


def test_failed_if_unmodified_since_outranks_a_matching_if_modified_since(
        served: Client) -> None:
    headers = {"If-Unmodified-Since": BEFORE, "If-Modified-Since": AFTER}
    assert served.get("/hello.txt", headers).status == 412


def test_matching_if_none_match_outranks_a_range(served: Client) -> None:
    headers = {"If-None-Match": etag_of(served), "Range": "bytes=0-1"}
    assert served.get("/hello.txt", headers).status == 304


def test_index_file_answers_conditional_requests_at_the_directory_url(served: Client) -> None:
    etag = served.get("/sub/").headers["ETag"]
    assert served.get("/sub/", {"If-None-Match": etag}).status == 304


# -- preconditions on methods that change the file ---------------------------------------


def test_if_modified_since_is_ignored_by_put(site: Path, client: ClientFactory) -> None:
    os.utime(site / "hello.txt", (MTIME, MTIME))
    served = client(modify=True)
    assert served.put("/hello.txt", b"replaced", {"If-Modified-Since": AFTER}).status == 204
    assert (site / "hello.txt").read_bytes() == b"replaced"


def test_if_modified_since_is_ignored_by_delete(site: Path, client: ClientFactory) -> None:
    os.utime(site / "hello.txt", (MTIME, MTIME))
    served = client(modify=True)
    assert served.delete("/hello.txt", {"If-Modified-Since": AFTER}).status == 204
    assert not (site / "hello.txt").exists()


def test_if_unmodified_since_before_the_change_refuses_put(site: Path,
                                                          client: ClientFactory) -> None:
    os.utime(site / "hello.txt", (MTIME, MTIME))
    served = client(modify=True)
    assert served.put("/hello.txt", b"replaced", {"If-Unmodified-Since": BEFORE}).status == 412
    assert (site / "hello.txt").read_bytes() == b"Hello, world!\n"


def test_if_unmodified_since_is_ignored_by_a_put_that_creates_the_file(
        site: Path, client: ClientFactory) -> None:
    # RFC 9110 section 13.1.4: a target with no modification date ignores the field.
    served = client(modify=True)
    assert served.put("/new.txt", b"created", {"If-Unmodified-Since": BEFORE}).status == 201
    assert (site / "new.txt").read_bytes() == b"created"


# -- dates without a zone ------------------------------------------------------------------


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Tokyo"])
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the process's local time zone set to the parameter, then restore it."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def asctime(seconds: int) -> str:
    """`seconds` in the asctime form (``Tue Nov 14 22:13:20 2023``), which names no zone."""
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(seconds))


def test_asctime_dates_are_read_as_utc_whatever_the_local_zone(local_zone: str,
                                                               served: Client) -> None:
    assert time.localtime(MTIME).tm_hour == {"UTC": 22, "America/New_York": 17,
                                             "Asia/Tokyo": 7}[local_zone]
    assert served.get("/hello.txt", {"If-Modified-Since": asctime(MTIME)}).status == 304
    assert served.get("/hello.txt", {"If-Modified-Since": asctime(MTIME - 1)}).status == 200
    assert served.get("/hello.txt", {"If-Unmodified-Since": asctime(MTIME)}).status == 200
    assert served.get("/hello.txt", {"If-Unmodified-Since": asctime(MTIME - 1)}).status == 412


# -- the decision itself, for methods the file handler maps to one answer -------------------


def test_matching_if_none_match_on_a_method_that_changes_the_file_is_412() -> None:
    from webpy.app import Headers
    from webpy.app.files._conditions import Validators, evaluate

    current = Validators('"abc"', MTIME)
    for method in ("PUT", "DELETE", "POST"):
        assert evaluate(method, Headers({"If-None-Match": '"abc"'}), current) == 412
        assert evaluate(method, Headers({"If-None-Match": "*"}), current) == 412
    assert evaluate("GET", Headers({"If-None-Match": '"abc"'}), current) == 304
    assert evaluate("PUT", Headers({"If-None-Match": '"other"'}), current) is None
