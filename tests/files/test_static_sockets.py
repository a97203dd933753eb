"""Static files over real sockets through the threaded server, checked with httpx and curl."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from webpy.app import files

from .support import leftovers, parse_byteranges

TIMEOUT = 30.0
CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")

Serve = Callable[..., str]


@pytest.fixture
def big(site: Path) -> bytes:
    """A 5 MiB file of random bytes at /big.bin: larger than any buffer on the way."""
    content = os.urandom(5 * 1024 * 1024)
    (site / "big.bin").write_bytes(content)
    return content


@pytest.fixture
def url(site: Path, serve: Serve) -> str:
    return serve(files.routes(site, listing=True, modify=True))


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Byte counts asked of os.sendfile while the test runs (it still does the sending)."""
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        calls.append(count)
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", counting)
    return calls


def test_whole_file_arrives_byte_for_byte(url: str, big: bytes) -> None:
    response = httpx.get(url + "/big.bin", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(big))
    assert response.content == big


def test_file_bodies_go_out_with_sendfile_on_plain_tcp(url: str, big: bytes,
                                                       sendfile_calls: list[int]) -> None:
    assert httpx.get(url + "/big.bin", timeout=TIMEOUT).content == big
    assert sendfile_calls and sendfile_calls[0] == len(big)


def test_single_range_goes_out_with_sendfile(url: str, big: bytes,
                                             sendfile_calls: list[int]) -> None:
    response = httpx.get(url + "/big.bin", headers={"Range": "bytes=1000-2999999"},
                         timeout=TIMEOUT)
    assert response.status_code == 206
    assert response.content == big[1000:3_000_000]
    assert sendfile_calls and sendfile_calls[0] == 3_000_000 - 1000


def test_several_ranges_arrive_as_multipart_byte_for_byte(url: str, big: bytes) -> None:
    response = httpx.get(url + "/big.bin", headers={"Range": "bytes=0-99,1000000-3999999,-10"},
                         timeout=TIMEOUT)
    assert response.status_code == 206
    parts = parse_byteranges(response.headers["content-type"], response.content)
    assert [part[2] for part in parts] == [big[:100], big[1_000_000:4_000_000], big[-10:]]


def test_file_cut_short_while_ranges_are_sent_ends_the_response_early(
        url: str, site: Path) -> None:
    """A file truncated mid-response cuts the response short (the client sees it), no hang.

    The client reads slowly (a small receive buffer), so the server is still
    reading the 32 MiB file piece by piece when it shrinks to nothing.
    """
    size = 32 * 1024 * 1024
    with open(site / "huge.bin", "wb") as file:
        file.truncate(size)  # sparse: no 32 MiB written
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.settimeout(TIMEOUT)
        client.connect((host.strip("[]"), int(port)))
        client.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99,200-\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            received += client.recv(1024)
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 206 ")
        os.truncate(site / "huge.bin", 0)
        while chunk := client.recv(65536):  # a hang here times out and fails
            body += chunk
    assert len(body) < size - 100


def test_304_then_another_request_on_the_same_connection(url: str, big: bytes) -> None:
    with httpx.Client(timeout=TIMEOUT) as client:
        etag = client.head(url + "/big.bin").headers["etag"]
        not_modified = client.get(url + "/big.bin", headers={"If-None-Match": etag})
        assert not_modified.status_code == 304
        assert not_modified.content == b""
        assert client.get(url + "/hello.txt").content == b"Hello, world!\n"


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


def test_file_over_tls_arrives_byte_for_byte_without_sendfile(
        site: Path, serve: Serve, big: bytes, sendfile_calls: list[int],
        certificate_authority: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    certificate_authority.configure_trust(client_context)
    base = serve(files.routes(site), ssl_context=server_context)
    with httpx.Client(verify=client_context, timeout=TIMEOUT) as client:
        assert client.get(base + "/big.bin").content == big
        ranged = client.get(base + "/big.bin", headers={"Range": "bytes=5-1000004"})
        assert ranged.content == big[5:1_000_005]
    assert sendfile_calls == []


# -- uploads -------------------------------------------------------------------------------


def _pieces(seed: bytes, count: int, digest: Any) -> Iterator[bytes]:
    """`count` MiB of pseudo-random bytes, fed to `digest` as they are produced."""
    block = hashlib.sha256(seed).digest() * (1024 * 1024 // 32)
    for n in range(count):
        piece = n.to_bytes(4, "big") + block[4:]
        digest.update(piece)
        yield piece


def test_streamed_upload_beyond_the_default_body_limit_is_stored_whole(
        url: str, site: Path) -> None:
    sent = hashlib.sha256()
    response = httpx.put(url + "/upload.bin", content=_pieces(b"upload", 40, sent),
                         timeout=TIMEOUT)
    assert response.status_code == 201
    with open(site / "upload.bin", "rb") as stored:
        assert hashlib.file_digest(stored, "sha256").hexdigest() == sent.hexdigest()
    assert leftovers(site) == []


def test_upload_with_content_length_replaces_the_file(url: str, site: Path) -> None:
    body = os.urandom(3 * 1024 * 1024)
    response = httpx.put(url + "/hello.txt", content=body, timeout=TIMEOUT)
    assert response.status_code == 204
    assert httpx.get(url + "/hello.txt", timeout=TIMEOUT).content == body


def _exchange(url: str, data: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes and read everything the server sends until it closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_upload_cut_off_by_the_client_leaves_the_old_file_intact(url: str, site: Path) -> None:
    head = b"PUT /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
    output = _exchange(url, head + b"x" * 100_000, half_close=True)
    assert output.startswith(b"HTTP/1.1 400 ")
    assert (site / "hello.txt").read_bytes() == b"Hello, world!\n"
    assert leftovers(site) == []


def test_upload_expecting_100_continue_gets_it_then_201(url: str, site: Path) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(b"PUT /new.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += sock.recv(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        final = b""
        while chunk := sock.recv(65536):
            final += chunk
    assert final.startswith(b"HTTP/1.1 201 ")
    assert (site / "new.txt").read_bytes() == b"abc"


def test_delete_over_a_socket_removes_the_file(url: str, site: Path) -> None:
    assert httpx.delete(url + "/hello.txt", timeout=TIMEOUT).status_code == 204
    assert not (site / "hello.txt").exists()


# -- curl ------------------------------------------------------------------------------------


def curl(*arguments: str | Path) -> subprocess.CompletedProcess[bytes]:
    assert CURL is not None
    return subprocess.run([CURL, "--silent", "--show-error", "--max-time", str(TIMEOUT),
                           *map(str, arguments)], capture_output=True, timeout=TIMEOUT * 2,
                          check=True)


@needs_curl
def test_curl_downloads_the_file_byte_for_byte(url: str, big: bytes, tmp_path: Path) -> None:
    curl("--output", tmp_path / "got", url + "/big.bin")
    assert (tmp_path / "got").read_bytes() == big


@needs_curl
def test_curl_fetches_a_range(url: str, big: bytes) -> None:
    result = curl("--range", "4096-1052671", "--write-out", "%{http_code}", "--output", "-",
                  url + "/big.bin")
    assert result.stdout == big[4096:1_052_672] + b"206"


@needs_curl
def test_curl_fetches_several_ranges_as_multipart(url: str, big: bytes) -> None:
    result = curl("--range", "0-9,20-29", "--include", url + "/big.bin")
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    content_type = next(line.split(b": ", 1)[1] for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-type:"))
    parts = parse_byteranges(content_type.decode(), body)
    assert [part[2] for part in parts] == [big[0:10], big[20:30]]


@needs_curl
def test_curl_resumes_a_partial_download(url: str, big: bytes, tmp_path: Path) -> None:
    (tmp_path / "got").write_bytes(big[:1234567])
    curl("--continue-at", "-", "--output", tmp_path / "got", url + "/big.bin")
    assert (tmp_path / "got").read_bytes() == big


@needs_curl
def test_curl_gets_304_for_an_unchanged_file(url: str, big: bytes) -> None:
    etag = httpx.head(url + "/big.bin", timeout=TIMEOUT).headers["etag"]
    result = curl("--header", f"If-None-Match: {etag}", "--write-out", "%{http_code}",
                  "--output", "-", url + "/big.bin")
    assert result.stdout == b"304"


@needs_curl
def test_curl_time_condition_gets_304_for_an_unchanged_file(url: str, big: bytes,
                                                            site: Path) -> None:
    result = curl("--time-cond", site / "big.bin", "--write-out", "%{http_code}",
                  "--output", "-", url + "/big.bin")
    assert result.stdout == b"304"


@needs_curl
def test_curl_uploads_a_file(url: str, site: Path, tmp_path: Path) -> None:
    content = os.urandom(2 * 1024 * 1024 + 17)
    (tmp_path / "to-send.bin").write_bytes(content)
    result = curl("--upload-file", tmp_path / "to-send.bin", "--write-out", "%{http_code}",
                  url + "/uploaded/file.bin")
    assert result.stdout.endswith(b"201")
    assert (site / "uploaded" / "file.bin").read_bytes() == content
