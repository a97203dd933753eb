"""PUT and DELETE with modify=True, in memory.

The in-memory transport gives a streaming handler only the bytes already
sent, so uploads cut off by the client and 100-continue exchanges are tested
over sockets, in test_static_sockets.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from webpy.app import files
from webpy.transports.memory import Client

from .support import ClientFactory, leftovers


@pytest.fixture
def served(client: ClientFactory) -> Client:
    return client(modify=True)


def test_put_of_a_new_file_is_201_and_the_file_is_then_served(site: Path,
                                                              served: Client) -> None:
    response = served.put("/new.txt", b"fresh")
    assert response.status == 201
    assert (site / "new.txt").read_bytes() == b"fresh"
    got = served.get("/new.txt")
    assert got.body == b"fresh"
    assert got.headers["ETag"] == response.headers["ETag"]


def test_put_over_an_existing_file_is_204_and_replaces_it(site: Path, served: Client) -> None:
    response = served.put("/hello.txt", b"replaced")
    assert response.status == 204
    assert response.body == b""
    assert (site / "hello.txt").read_bytes() == b"replaced"


def test_put_creates_missing_parent_directories(site: Path, served: Client) -> None:
    assert served.put("/a/b/c.txt", b"deep").status == 201
    assert (site / "a" / "b" / "c.txt").read_bytes() == b"deep"


def test_put_of_an_empty_body_makes_an_empty_file(site: Path, served: Client) -> None:
    assert served.put("/blank.txt", b"").status == 201
    assert (site / "blank.txt").read_bytes() == b""


def test_put_keeps_the_permissions_of_the_file_it_replaces(site: Path, served: Client) -> None:
    os.chmod(site / "hello.txt", 0o640)
    served.put("/hello.txt", b"replaced")
    assert stat.S_IMODE(os.stat(site / "hello.txt").st_mode) == 0o640


def test_put_gives_a_new_file_the_usual_permissions(site: Path, served: Client) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    served.put("/new.txt", b"x")
    assert stat.S_IMODE(os.stat(site / "new.txt").st_mode) == 0o666 & ~umask


def test_put_leaves_no_temporary_file_behind(site: Path, served: Client) -> None:
    served.put("/hello.txt", b"replaced")
    served.put("/new.txt", b"new")
    assert leftovers(site) == []


def test_put_to_a_directory_is_409(site: Path, served: Client) -> None:
    assert served.put("/docs", b"x").status == 409
    assert served.put("/docs/", b"x").status == 409
    assert (site / "docs").is_dir()


def test_put_below_a_file_is_409(site: Path, served: Client) -> None:
    assert served.put("/hello.txt/inner.txt", b"x").status == 409
    assert (site / "hello.txt").read_bytes() == b"Hello, world!\n"


def test_put_with_if_none_match_star_creates_but_never_replaces(site: Path,
                                                                served: Client) -> None:
    assert served.put("/hello.txt", b"x", {"If-None-Match": "*"}).status == 412
    assert (site / "hello.txt").read_bytes() == b"Hello, world!\n"
    assert served.put("/new.txt", b"x", {"If-None-Match": "*"}).status == 201


def test_put_with_a_stale_if_match_is_412_and_changes_nothing(site: Path,
                                                              served: Client) -> None:
    assert served.put("/hello.txt", b"x", {"If-Match": '"stale"'}).status == 412
    assert (site / "hello.txt").read_bytes() == b"Hello, world!\n"


def test_put_with_the_current_if_match_replaces(site: Path, served: Client) -> None:
    etag = served.head("/hello.txt").headers["ETag"]
    assert served.put("/hello.txt", b"x", {"If-Match": etag}).status == 204


def test_put_with_if_match_for_a_missing_file_is_412(site: Path, served: Client) -> None:
    assert served.put("/new.txt", b"x", {"If-Match": "*"}).status == 412
    assert not (site / "new.txt").exists()


def test_put_larger_than_the_upload_limit_is_413_and_changes_nothing(site: Path) -> None:
    served = Client(files.routes(site, modify=True, max_upload_bytes=10))
    assert served.put("/hello.txt", b"x" * 11).status == 413
    assert (site / "hello.txt").read_bytes() == b"Hello, world!\n"
    assert leftovers(site) == []


def test_put_larger_than_the_servers_default_body_limit_is_accepted(site: Path,
                                                                    served: Client) -> None:
    body = os.urandom(17 * 1024 * 1024)  # the default Limits.max_body_bytes is 16 MiB
    assert served.put("/big.bin", body).status == 201
    assert (site / "big.bin").read_bytes() == body


def test_upload_that_times_out_leaves_the_old_file_intact(site: Path, served: Client) -> None:
    connection = served.connect()
    connection.send(b"PUT /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    connection.send(b"only part of the body")
    connection.time_out()
    assert connection.receive().startswith(b"HTTP/1.1 408 ")
    assert (site / "hello.txt").read_bytes() == b"Hello, world!\n"
    assert leftovers(site) == []


def test_chunked_put_is_stored_whole(site: Path, served: Client) -> None:
    output = served.raw(b"PUT /chunked.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        b"\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert output.startswith(b"HTTP/1.1 201 ")
    assert (site / "chunked.txt").read_bytes() == b"hello world"


def test_refused_put_expecting_100_continue_gets_no_100(site: Path, served: Client) -> None:
    connection = served.connect()
    connection.send(b"PUT /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                    b"If-Match: \"stale\"\r\nExpect: 100-continue\r\n\r\n")
    assert connection.receive().startswith(b"HTTP/1.1 412 ")


def test_delete_removes_a_file_with_204(site: Path, served: Client) -> None:
    response = served.delete("/hello.txt")
    assert response.status == 204
    assert not (site / "hello.txt").exists()
    assert served.get("/hello.txt").status == 404


def test_delete_of_a_missing_file_is_404(served: Client) -> None:
    assert served.delete("/missing.txt").status == 404


def test_delete_of_a_directory_is_409_and_removes_nothing(site: Path, served: Client) -> None:
    assert served.delete("/docs").status == 409
    assert served.delete("/docs/").status == 409
    assert (site / "docs" / "a.txt").exists()


def test_delete_with_a_stale_if_match_is_412(site: Path, served: Client) -> None:
    assert served.delete("/hello.txt", {"If-Match": '"stale"'}).status == 412
    assert (site / "hello.txt").exists()


def test_delete_of_a_symlink_removes_the_link_not_its_target(site: Path,
                                                            served: Client) -> None:
    os.symlink("hello.txt", site / "alias.txt")
    assert served.delete("/alias.txt").status == 204
    assert not os.path.lexists(site / "alias.txt")
    assert (site / "hello.txt").exists()


def test_without_modify_put_and_delete_are_405(site: Path, client: ClientFactory) -> None:
    served = client()
    put = served.put("/hello.txt", b"x")
    assert put.status == 405
    assert put.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert served.delete("/hello.txt").status == 405
    assert (site / "hello.txt").read_bytes() == b"Hello, world!\n"


def test_with_modify_allow_lists_put_and_delete(served: Client) -> None:
    assert served.options("/hello.txt").headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PUT"


def test_modify_needs_a_writable_handler(site: Path) -> None:
    class ReadOnly(files.FileHandler):
        pass

    with pytest.raises(TypeError):
        files.routes(site, modify=True, handler=ReadOnly)
    with pytest.raises(TypeError):
        files.routes(site, handler=files.WritableFileHandler)
