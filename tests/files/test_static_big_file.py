"""A 1 GiB file, whole and by ranges, and a 256 MiB upload, through ``python -m webpy``.

The file is sparse (it costs no disk) with markers written at a few offsets,
so a body that is shifted or truncated anywhere cannot pass. The client
compares what it receives with the file piece by piece as it arrives and
never holds a body; the server runs in its own process so its memory can be
read from /proc without the client's in the figure.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .support import command_line_server

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads the server's memory use from /proc")

SIZE = 1 << 30
MiB = 1024 * 1024
MARKERS = {0: b"first bytes", 123_456_789: b"somewhere", SIZE // 2: b"middle", SIZE - 4: b"last"}
#: What the server process may grow by while sending all of the bodies below.
RSS_GROWTH_LIMIT_KIB = 20 * 1024
TIMEOUT = 120.0


@pytest.fixture
def sparse_file(tmp_path: Path) -> Path:
    root = tmp_path / "big"
    root.mkdir()
    path = root / "sparse.bin"
    with open(path, "wb") as file:
        file.truncate(SIZE)
        for offset, marker in MARKERS.items():
            file.seek(offset)
            file.write(marker)
    return path


def file_pieces(descriptor: int, first: int, last: int) -> Iterator[bytes]:
    """The file's bytes `first`..`last` (inclusive), a MiB at a time."""
    position = first
    while position <= last:
        piece = os.pread(descriptor, min(MiB, last + 1 - position), position)
        assert piece
        position += len(piece)
        yield piece


def assert_same_stream(received: Iterator[bytes], expected: Iterator[bytes]) -> int:
    """Compare two byte streams however each is cut into pieces; return the length."""
    pending = memoryview(b"")
    total = 0
    for chunk in received:
        view = memoryview(chunk)
        while view:
            if not pending:
                pending = memoryview(next(expected, b""))
                assert pending, f"the body runs on past byte {total}"
            count = min(len(pending), len(view))
            same = view[:count].tobytes() == pending[:count].tobytes()  # memcmp, fast
            assert same, f"the body differs within bytes {total}+"
            pending, view, total = pending[count:], view[count:], total + count
    assert not pending and next(expected, b"") == b"", f"the body stops short at byte {total}"
    return total


def multipart_expected(content_type: str, descriptor: int,
                       spans: list[tuple[int, int]]) -> Iterator[bytes]:
    """The multipart/byteranges body the server should send for `spans`."""
    match = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", content_type)
    assert match, content_type
    boundary = match.group(1).encode()
    for n, (first, last) in enumerate(spans):
        yield (b"\r\n" if n else b"") + b"--" + boundary + (
            b"\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Range: bytes %d-%d/%d\r\n\r\n" % (first, last, SIZE))
        yield from file_pieces(descriptor, first, last)
    yield b"\r\n--" + boundary + b"--\r\n"


def upload_pieces(count: int, digest: Any) -> Iterator[bytes]:
    """`count` MiB of distinct pieces, fed to `digest` as they are produced."""
    for n in range(count):
        piece = hashlib.sha256(n.to_bytes(4, "big")).digest() * (MiB // 32)
        digest.update(piece)
        yield piece


def test_one_gib_file_and_a_256_mib_upload_go_through_while_the_server_stays_small(
        sparse_file: Path, tmp_path: Path) -> None:
    descriptor = os.open(sparse_file, os.O_RDONLY)
    log = tmp_path / "server.log"
    try:
        with command_line_server(sparse_file.parent, "--upload", cwd=tmp_path, log=log) as server, \
                httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            # Warm up every code path once, so imports and caches are in the baseline.
            assert client.get("/").status_code == 200
            assert client.get("/sparse.bin", headers={"Range": "bytes=0-1,5-6"}).status_code == 206
            assert client.get("/sparse.bin", headers={"Range": "bytes=0-1"}).status_code == 206
            baseline = server.memory_kib("VmRSS")

            with client.stream("GET", "/sparse.bin") as response:
                assert response.status_code == 200
                assert response.headers["content-length"] == str(SIZE)
                assert assert_same_stream(response.iter_raw(),
                                          file_pieces(descriptor, 0, SIZE - 1)) == SIZE

            first, last = SIZE // 4, SIZE - 1  # three quarters of the file, sent with sendfile
            with client.stream("GET", "/sparse.bin",
                               headers={"Range": f"bytes={first}-"}) as response:
                assert response.status_code == 206
                assert response.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
                assert_same_stream(response.iter_raw(), file_pieces(descriptor, first, last))

            spans = [(0, 99), (123_456_700, 123_456_899),
                     (SIZE // 2 - 64 * MiB, SIZE // 2 + 64 * MiB), (SIZE - 100, SIZE - 1)]
            field = "bytes=" + ",".join(f"{a}-{b}" for a, b in spans)
            with client.stream("GET", "/sparse.bin", headers={"Range": field}) as response:
                assert response.status_code == 206
                expected = multipart_expected(response.headers["content-type"], descriptor, spans)
                length = assert_same_stream(response.iter_raw(), expected)
                assert response.headers["content-length"] == str(length)

            sent = hashlib.sha256()
            response = client.put("/upload.bin", content=upload_pieces(256, sent))
            assert response.status_code == 201
            with open(sparse_file.parent / "upload.bin", "rb") as stored:
                assert hashlib.file_digest(stored, "sha256").digest() == sent.digest()
            os.remove(sparse_file.parent / "upload.bin")  # real bytes on disk, unlike the rest

            growth = server.memory_kib("VmHWM") - baseline
            print(f"server RSS {baseline} KiB before, peak growth {growth} KiB")
            assert growth < RSS_GROWTH_LIMIT_KIB
    finally:
        os.close(descriptor)
