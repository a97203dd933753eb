"""Range requests (RFC 9110 section 14), in memory."""

from __future__ import annotations

import os
from email.utils import formatdate
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from webpy.app import files
from webpy.app.files import _conditions
from webpy.transports.memory import Client, ClientResponse

from .support import BINARY, ClientFactory, parse_byteranges

SIZE = len(BINARY)


@pytest.fixture
def served(client: ClientFactory) -> Client:
    return client()


def get_range(served: Client, field: str, path: str = "/data.bin",
              **headers: str) -> ClientResponse:
    return served.get(path, {"Range": field, **headers})


def test_closed_range_is_206_with_content_range(served: Client) -> None:
    response = get_range(served, "bytes=10-19")
    assert response.status == 206
    assert response.body == BINARY[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{SIZE}"
    assert response.headers["Content-Length"] == "10"
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_open_range_runs_to_the_end(served: Client) -> None:
    response = get_range(served, "bytes=299990-")
    assert response.body == BINARY[299_990:]
    assert response.headers["Content-Range"] == f"bytes 299990-{SIZE - 1}/{SIZE}"


def test_positions_written_with_leading_zeros_are_read_as_their_value(served: Client) -> None:
    # 1*DIGIT allows leading zeros: 18 digits that name a small position are not "huge".
    response = get_range(served, f"bytes={2:018d}-{4:018d}")
    assert response.status == 206
    assert response.body == BINARY[2:5]
    assert response.headers["Content-Range"] == f"bytes 2-4/{SIZE}"


def test_suffix_range_is_the_last_bytes(served: Client) -> None:
    response = get_range(served, "bytes=-7")
    assert response.body == BINARY[-7:]
    assert response.headers["Content-Range"] == f"bytes {SIZE - 7}-{SIZE - 1}/{SIZE}"


def test_suffix_longer_than_the_file_is_the_whole_file_as_206(served: Client) -> None:
    response = get_range(served, "bytes=-999999999", path="/hello.txt")
    assert response.status == 206
    assert response.body == b"Hello, world!\n"
    assert response.headers["Content-Range"] == "bytes 0-13/14"


def test_last_position_past_the_end_is_clamped(served: Client) -> None:
    response = get_range(served, "bytes=7-99999999999999999999999", path="/hello.txt")
    assert response.body == b"world!\n"
    assert response.headers["Content-Range"] == "bytes 7-13/14"


def test_unit_is_case_insensitive_and_spaces_around_commas_are_allowed(served: Client) -> None:
    response = get_range(served, "Bytes=0-0 ,  , 5-5")
    assert response.status == 206
    assert [part[2] for part in parse_byteranges(response.headers["Content-Type"],
                                                 response.body)] == [BINARY[0:1], BINARY[5:6]]


def test_several_ranges_are_a_multipart_byteranges_body(served: Client) -> None:
    response = get_range(served, "bytes=0-9, 100-199, -5")
    assert response.status == 206
    assert "Content-Range" not in response.headers
    assert int(response.headers["Content-Length"]) == len(response.body)
    parts = parse_byteranges(response.headers["Content-Type"], response.body)
    assert parts == [
        ("application/octet-stream", f"bytes 0-9/{SIZE}", BINARY[0:10]),
        ("application/octet-stream", f"bytes 100-199/{SIZE}", BINARY[100:200]),
        ("application/octet-stream", f"bytes {SIZE - 5}-{SIZE - 1}/{SIZE}", BINARY[-5:]),
    ]


def test_parts_carry_the_file_type(served: Client) -> None:
    response = get_range(served, "bytes=0-1,3-4", path="/hello.txt")
    parts = parse_byteranges(response.headers["Content-Type"], response.body)
    assert {part[0] for part in parts} == {"text/plain; charset=utf-8"}


def test_ranges_that_do_not_overlap_keep_the_order_asked_for(served: Client) -> None:
    response = get_range(served, "bytes=200-209,0-9")
    parts = parse_byteranges(response.headers["Content-Type"], response.body)
    assert [part[2] for part in parts] == [BINARY[200:210], BINARY[0:10]]


def test_overlapping_ranges_are_coalesced(served: Client) -> None:
    response = get_range(served, "bytes=50-99,0-59,200-209,205-300")
    parts = parse_byteranges(response.headers["Content-Type"], response.body)
    assert [(part[1], part[2]) for part in parts] == [
        (f"bytes 0-99/{SIZE}", BINARY[0:100]),
        (f"bytes 200-300/{SIZE}", BINARY[200:301]),
    ]


def test_overlapping_ranges_that_coalesce_into_one_are_a_plain_206(served: Client) -> None:
    response = get_range(served, "bytes=0-9,5-19")
    assert response.headers["Content-Range"] == f"bytes 0-19/{SIZE}"
    assert response.body == BINARY[:20]


def test_unsatisfiable_ranges_are_dropped_when_others_are_satisfiable(served: Client) -> None:
    response = get_range(served, f"bytes={SIZE + 10}-,0-3")
    assert response.headers["Content-Range"] == f"bytes 0-3/{SIZE}"


@pytest.mark.parametrize("field", [f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 5}", "bytes=-0",
                                   f"bytes={SIZE + 1}-{SIZE + 9},{SIZE * 2}-"])
def test_unsatisfiable_range_is_416_with_the_size(served: Client, field: str) -> None:
    response = get_range(served, field)
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


def test_any_range_of_an_empty_file_is_416(served: Client) -> None:
    response = get_range(served, "bytes=0-", path="/empty.txt")
    assert response.status == 416
    assert response.headers["Content-Range"] == "bytes */0"


@pytest.mark.parametrize("field", [
    "bytes=5-2", "bytes=abc", "bytes=", "bytes=-", "bytes=1-2-3", "bytes 0-1", "bytes = 0-1",
    "items=0-1", "bytes=0x1-2", "bytes=+1-2", "bytes=1 -2", "bytes=1-2;3-4",
])
def test_malformed_range_is_ignored_and_the_whole_file_sent(served: Client, field: str) -> None:
    response = get_range(served, field)
    assert response.status == 200
    assert response.body == BINARY


def test_too_many_ranges_are_ignored_and_the_whole_file_sent(served: Client) -> None:
    field = "bytes=" + ",".join(f"{n * 10}-{n * 10}" for n in range(100))
    assert get_range(served, field).status == 200


def test_exactly_max_ranges_are_still_honoured(served: Client) -> None:
    count = files.FileHandler.max_ranges
    field = "bytes=" + ",".join(f"{n * 10}-{n * 10}" for n in range(count))
    response = get_range(served, field)
    assert response.status == 206
    parts = parse_byteranges(response.headers["Content-Type"], response.body)
    assert [part[2] for part in parts] == [BINARY[n * 10:n * 10 + 1] for n in range(count)]
    assert get_range(served, field + f",{count * 10}-{count * 10}").status == 200


def test_suffix_of_one_byte_is_the_last_byte(served: Client) -> None:
    response = get_range(served, "bytes=-1")
    assert (response.status, response.body) == (206, BINARY[-1:])
    assert response.headers["Content-Range"] == f"bytes {SIZE - 1}-{SIZE - 1}/{SIZE}"


def test_suffix_of_a_one_byte_file_is_that_byte(site: Path, served: Client) -> None:
    (site / "one.txt").write_bytes(b"!")
    response = get_range(served, "bytes=-1", path="/one.txt")
    assert (response.status, response.body) == (206, b"!")
    assert response.headers["Content-Range"] == "bytes 0-0/1"


def test_suffix_range_of_an_empty_file_is_416(served: Client) -> None:
    response = get_range(served, "bytes=-5", path="/empty.txt")
    assert (response.status, response.headers["Content-Range"]) == (416, "bytes */0")


def test_ranges_after_a_suffix_range_are_kept(served: Client) -> None:
    response = get_range(served, "bytes=-5,0-1,10-11")
    parts = parse_byteranges(response.headers["Content-Type"], response.body)
    assert [part[2] for part in parts] == [BINARY[-5:], BINARY[0:2], BINARY[10:12]]


def test_three_separate_ranges_keep_the_order_asked_for(served: Client) -> None:
    response = get_range(served, "bytes=20-29,0-4,10-14")
    parts = parse_byteranges(response.headers["Content-Type"], response.body)
    assert [part[1] for part in parts] == [f"bytes 20-29/{SIZE}", f"bytes 0-4/{SIZE}",
                                           f"bytes 10-14/{SIZE}"]


def test_range_is_ignored_on_head(served: Client) -> None:
    response = served.head("/data.bin", {"Range": "bytes=0-9"})
    assert response.status == 200
    assert response.headers["Content-Length"] == str(SIZE)


def test_if_range_with_the_current_etag_honours_the_range(served: Client) -> None:
    etag = served.head("/data.bin").headers["ETag"]
    assert get_range(served, "bytes=0-9", **{"If-Range": etag}).status == 206


def test_if_range_with_a_stale_etag_sends_the_whole_file(served: Client) -> None:
    response = get_range(served, "bytes=0-9", **{"If-Range": '"stale"'})
    assert (response.status, response.body) == (200, BINARY)


def test_if_range_with_a_weak_etag_sends_the_whole_file(served: Client) -> None:
    etag = served.head("/data.bin").headers["ETag"]
    assert get_range(served, "bytes=0-9", **{"If-Range": "W/" + etag}).status == 200


def test_if_range_with_the_modification_date_honours_the_range(site: Path,
                                                               served: Client) -> None:
    os.utime(site / "data.bin", (1_700_000_000, 1_700_000_000))
    date = formatdate(1_700_000_000, usegmt=True)
    assert get_range(served, "bytes=0-9", **{"If-Range": date}).status == 206


def test_if_range_with_another_date_sends_the_whole_file(site: Path, served: Client) -> None:
    os.utime(site / "data.bin", (1_700_000_000, 1_700_000_000))
    date = formatdate(1_700_000_000 - 1, usegmt=True)
    assert get_range(served, "bytes=0-9", **{"If-Range": date}).status == 200


@pytest.mark.parametrize(("age", "honoured"), [(0.5, False), (1.0, False), (1.5, True),
                                              (2.5, True)])
def test_if_range_date_is_trusted_only_once_the_file_is_over_a_second_old(
        site: Path, served: Client, monkeypatch: pytest.MonkeyPatch, age: float,
        honoured: bool) -> None:
    os.utime(site / "data.bin", (1_700_000_000, 1_700_000_000))
    date = formatdate(1_700_000_000, usegmt=True)
    clock = SimpleNamespace(time=lambda: 1_700_000_000 + age)  # only this module's clock
    monkeypatch.setattr(_conditions, "time", clock)
    response = get_range(served, "bytes=0-9", **{"If-Range": date})
    assert response.status == (206 if honoured else 200)


def test_if_range_date_is_not_trusted_for_a_file_modified_this_second(site: Path,
                                                                      served: Client) -> None:
    date = served.head("/data.bin").headers["Last-Modified"]  # the file was just written
    (site / "data.bin").touch()
    assert get_range(served, "bytes=0-9", **{"If-Range": date}).status == 200


spans = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 1100), st.integers(0, 1100)).map(
            lambda pair: f"{min(pair)}-{max(pair)}"),
        st.integers(0, 1100).map(lambda first: f"{first}-"),
        st.integers(1, 1100).map(lambda suffix: f"-{suffix}"),
    ),
    min_size=1, max_size=6,
)


@given(size=st.integers(0, 1000), specs=spans)
@example(size=1000, specs=["0-5", "5-9"])  # ranges touching at one byte: coalesced, sent once
def test_every_byte_sent_for_ranges_is_the_byte_at_that_position(
        tmp_path_factory: pytest.TempPathFactory, size: int, specs: list[str]) -> None:
    root = tmp_path_factory.mktemp("ranges")
    content = bytes(range(256)) * 4
    (root / "f").write_bytes(content[:size])
    response = Client(files.routes(root)).get("/f", {"Range": "bytes=" + ",".join(specs)})
    if response.status == 416:
        assert response.headers["Content-Range"] == f"bytes */{size}"
        return
    assert response.status == 206
    if "Content-Range" in response.headers:
        parts = [("", response.headers["Content-Range"], response.body)]
    else:
        parts = parse_byteranges(response.headers["Content-Type"], response.body)
    ends = []
    for _, content_range, data in parts:
        unit, _, rest = content_range.partition(" ")
        first, last = map(int, rest.split("/")[0].split("-"))
        assert (unit, rest.split("/")[1]) == ("bytes", str(size))
        assert data == content[first:last + 1]
        ends.append((first, last))
    ordered = sorted(ends)
    assert all(a[1] < b[0] for a, b in pairwise(ordered))  # no byte twice
