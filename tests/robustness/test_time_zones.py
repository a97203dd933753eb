"""HTTP dates mean UTC whatever the machine's time zone.

Every date a request carries (If-Modified-Since, If-Unmodified-Since,
If-Range) is GMT by definition, including the obsolete asctime form, which
has no zone at all (RFC 9110 section 5.6.7). A server that reads the asctime
form in local time answers 304 or 412 wrongly by hours. These tests run the
same requests under several zones (POSIX TZ strings, so no tz database is
needed) and must get the same answers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from webpy.app import files
from webpy.transports.memory import Client

MTIME = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT
ZONES = ["UTC0", "EST5EDT", "XST-9:30", "ABC+11"]


def _asctime(timestamp: int) -> str:
    return time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(timestamp))


def _rfc850(timestamp: int) -> str:
    return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(timestamp))


FORMS = {"IMF-fixdate": lambda t: formatdate(t, usegmt=True), "RFC 850": _rfc850,
         "asctime": _asctime}


@pytest.fixture(params=ZONES)
def zone(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


@pytest.fixture
def served(tmp_path: Path) -> Client:
    (tmp_path / "page.txt").write_bytes(b"0123456789")
    os.utime(tmp_path / "page.txt", (MTIME, MTIME))
    return Client(files.routes(tmp_path))


def test_zone_fixture_really_changes_local_time(zone: str) -> None:
    offset = time.mktime(time.gmtime(MTIME)) - MTIME
    assert (offset == 0) == (zone == "UTC0")


def test_last_modified_is_gmt_in_every_zone(zone: str, served: Client) -> None:
    assert served.get("/page.txt").headers["Last-Modified"] == formatdate(MTIME, usegmt=True)


@pytest.mark.parametrize("form", FORMS)
def test_if_modified_since_is_read_as_utc_in_every_zone(zone: str, served: Client,
                                                        form: str) -> None:
    write = FORMS[form]
    assert served.get("/page.txt", {"If-Modified-Since": write(MTIME)}).status == 304
    assert served.get("/page.txt", {"If-Modified-Since": write(MTIME - 1)}).status == 200


@pytest.mark.parametrize("form", FORMS)
def test_if_unmodified_since_is_read_as_utc_in_every_zone(zone: str, served: Client,
                                                          form: str) -> None:
    write = FORMS[form]
    assert served.get("/page.txt", {"If-Unmodified-Since": write(MTIME)}).status == 200
    assert served.get("/page.txt", {"If-Unmodified-Since": write(MTIME - 1)}).status == 412


def test_if_range_date_is_read_as_utc_in_every_zone(zone: str, served: Client) -> None:
    headers = {"Range": "bytes=0-3", "If-Range": formatdate(MTIME, usegmt=True)}
    assert served.get("/page.txt", headers).status == 206
    headers["If-Range"] = formatdate(MTIME - 3600, usegmt=True)
    assert served.get("/page.txt", headers).status == 200
