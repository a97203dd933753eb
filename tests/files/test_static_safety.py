"""Nothing outside the root is read, listed or written, whatever the request says.

The site fixture has tmp_path/site served and tmp_path/outside/secret.txt
beside it; every test here tries to reach the secret (or hidden files) one
way and checks it gets a plain 404 and not one byte of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webpy.app import HTTPError, files
from webpy.app.files._paths import locate
from webpy.transports.memory import Client, ClientResponse

from .support import SECRET, ClientFactory


@pytest.fixture
def served(client: ClientFactory) -> Client:
    return client(listing=True, modify=True)


def assert_not_found(response: ClientResponse) -> None:
    assert response.status == 404
    assert SECRET not in response.body


def raw_get(served: Client, target: bytes) -> bytes:
    return served.raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


# -- dot segments ---------------------------------------------------------------------


def test_dot_dot_segment_is_404(served: Client) -> None:
    assert_not_found(served.get("/../outside/secret.txt"))


def test_dot_dot_segment_below_a_directory_is_404(served: Client) -> None:
    assert_not_found(served.get("/docs/../../outside/secret.txt"))


def test_dot_dot_that_stays_inside_the_root_is_404_too(served: Client) -> None:
    assert_not_found(served.get("/docs/../hello.txt"))


def test_single_dot_segment_is_404(served: Client) -> None:
    assert_not_found(served.get("/./hello.txt"))


def test_percent_encoded_dot_dot_is_404(served: Client) -> None:
    assert_not_found(served.get("/%2e%2e/outside/secret.txt"))


def test_uppercase_percent_encoded_dot_dot_is_404(served: Client) -> None:
    assert_not_found(served.get("/%2E%2E/outside/secret.txt"))


def test_half_encoded_dot_dot_is_404(served: Client) -> None:
    assert_not_found(served.get("/.%2e/outside/secret.txt"))


def test_double_encoded_dot_dot_is_only_a_strange_name(served: Client) -> None:
    assert_not_found(served.get("/%252e%252e/outside/secret.txt"))


# -- separators -------------------------------------------------------------------------


def test_percent_encoded_slash_is_404(served: Client) -> None:
    assert_not_found(served.get("/..%2foutside%2fsecret.txt"))


def test_uppercase_percent_encoded_slash_is_404(served: Client) -> None:
    assert_not_found(served.get("/..%2Foutside%2Fsecret.txt"))


def test_percent_encoded_slash_between_plain_names_is_404(served: Client) -> None:
    assert_not_found(served.get("/docs%2fa.txt"))


def test_percent_encoded_slash_inside_the_mount_prefix_is_404(client: ClientFactory) -> None:
    served = client("/static/")
    assert served.get("/static/hello.txt").body == b"Hello, world!\n"
    for target in ("/static%2fhello.txt", "/static%2Fhello.txt", "/static%2f", "/static%2f%2f"):
        response = served.get(target)
        assert (response.status, response.body) == (404, b"404 Not Found\n"), target


def test_percent_encoded_slash_inside_a_two_level_prefix_is_404(client: ClientFactory) -> None:
    served = client("/assets/v1/")
    assert served.get("/assets/v1/hello.txt").status == 200
    assert served.get("/assets%2fv1/hello.txt").status == 404
    assert served.get("/assets/v1%2fhello.txt").status == 404


def test_percent_encoded_backslash_is_404(served: Client) -> None:
    assert_not_found(served.get("/..%5coutside%5csecret.txt"))


def test_literal_backslash_is_404(served: Client) -> None:
    assert_not_found(served.get("/..\\outside\\secret.txt"))


def test_backslash_in_a_name_is_404_even_if_the_file_exists(site: Path, served: Client) -> None:
    (site / "back\\slash").write_bytes(b"x")
    assert_not_found(served.get("/back%5cslash"))


# -- NUL, absolute paths, doubled slashes ---------------------------------------------------


def test_percent_encoded_nul_is_404(served: Client) -> None:
    assert_not_found(served.get("/hello.txt%00.html"))


def test_literal_nul_is_refused_by_the_protocol(served: Client) -> None:
    output = raw_get(served, b"/hello.txt\x00")
    assert output.startswith(b"HTTP/1.1 400 ")
    assert b"Hello, world" not in output


def test_percent_encoded_absolute_path_is_404(served: Client, tmp_path: Path) -> None:
    secret = str(tmp_path / "outside" / "secret.txt")
    assert_not_found(served.get("/" + quote(secret, safe="")))


def test_doubled_slash_before_an_absolute_path_is_404(served: Client, tmp_path: Path) -> None:
    assert_not_found(served.get("/" + str(tmp_path / "outside" / "secret.txt")))


def test_doubled_slash_inside_a_path_is_404(served: Client) -> None:
    assert_not_found(served.get("/docs//a.txt"))


def test_absolute_form_target_with_dot_dot_is_404(served: Client) -> None:
    output = raw_get(served, b"http://x/%2e%2e/outside/secret.txt")
    assert output.startswith(b"HTTP/1.1 404 ")
    assert SECRET not in output


def test_doubled_slash_cannot_make_the_directory_redirect_leave_the_site(
        site: Path, served: Client) -> None:
    (site / "evil.example").mkdir()
    assert served.get("/evil.example").headers["Location"] == "/evil.example/"
    assert_not_found(served.get("//evil.example"))
    assert_not_found(served.get("/%2fevil.example"))


# -- symlinks ---------------------------------------------------------------------------------


def test_symlink_to_a_file_outside_the_root_is_404(site: Path, tmp_path: Path,
                                                   served: Client) -> None:
    os.symlink(tmp_path / "outside" / "secret.txt", site / "leak.txt")
    assert_not_found(served.get("/leak.txt"))


def test_relative_symlink_climbing_out_of_the_root_is_404(site: Path, served: Client) -> None:
    os.symlink("../../outside/secret.txt", site / "docs" / "leak.txt")
    assert_not_found(served.get("/docs/leak.txt"))


def test_file_inside_a_symlinked_directory_outside_the_root_is_404(
        site: Path, tmp_path: Path, served: Client) -> None:
    os.symlink(tmp_path / "outside", site / "elsewhere")
    assert_not_found(served.get("/elsewhere/secret.txt"))
    assert_not_found(served.get("/elsewhere/"))


def test_symlink_inside_the_root_to_a_file_inside_it_is_served(site: Path,
                                                              served: Client) -> None:
    os.symlink("../hello.txt", site / "docs" / "alias.txt")
    assert served.get("/docs/alias.txt").body == b"Hello, world!\n"


def test_symlinked_directory_inside_the_root_serves_its_files(site: Path,
                                                             served: Client) -> None:
    os.symlink("docs", site / "papers")
    assert served.get("/papers/a.txt").body == b"aaaa"


def test_directory_swapped_for_a_symlink_outside_is_404_at_the_next_request(
        site: Path, tmp_path: Path, served: Client) -> None:
    (tmp_path / "outside" / "a.txt").write_bytes(SECRET)
    assert served.get("/docs/a.txt").body == b"aaaa"
    os.rename(site / "docs", site / "docs-old")
    os.symlink(tmp_path / "outside", site / "docs")
    assert_not_found(served.get("/docs/a.txt"))


def test_file_swapped_for_a_symlink_outside_is_404_at_the_next_request(
        site: Path, tmp_path: Path, served: Client) -> None:
    assert served.get("/docs/a.txt").body == b"aaaa"
    os.unlink(site / "docs" / "a.txt")
    os.symlink(tmp_path / "outside" / "secret.txt", site / "docs" / "a.txt")
    assert_not_found(served.get("/docs/a.txt"))


def test_symlink_to_a_hidden_file_is_404(site: Path, served: Client) -> None:
    os.symlink(".hidden", site / "visible")
    assert_not_found(served.get("/visible"))


def test_symlink_to_a_dotfile_in_a_subdirectory_is_404(served: Client) -> None:
    assert_not_found(served.get("/link.txt"))


def test_symlink_to_a_file_in_a_nested_hidden_directory_is_404(served: Client) -> None:
    assert_not_found(served.get("/notes.txt"))


def test_nested_dotfiles_are_404_when_asked_for_directly(served: Client) -> None:
    assert_not_found(served.get("/sub/.secret"))
    assert_not_found(served.get("/sub/.private/notes.txt"))
    assert_not_found(served.get("/sub/%2eprivate/notes.txt"))


def test_listing_leaves_out_symlinks_to_nested_hidden_files(client: ClientFactory) -> None:
    body = client(listing=True, index=None).get("/").body
    assert b"hello.txt" in body
    assert b"link.txt" not in body and b"notes.txt" not in body


def test_symlinks_to_nested_hidden_files_are_served_with_hidden_true(
        client: ClientFactory) -> None:
    served = client(hidden=True)
    assert served.get("/link.txt").body == SECRET
    assert served.get("/notes.txt").body == SECRET


def test_listing_leaves_out_symlinks_that_lead_outside_or_nowhere(
        site: Path, tmp_path: Path, served: Client) -> None:
    os.symlink(tmp_path / "outside" / "secret.txt", site / "docs" / "leak.txt")
    os.symlink(tmp_path / "outside", site / "docs" / "elsewhere")
    os.symlink("nowhere", site / "docs" / "dangling")
    os.symlink("../hello.txt", site / "docs" / "alias.txt")
    body = served.get("/docs/").body
    assert b"leak.txt" not in body and b"elsewhere" not in body and b"dangling" not in body
    assert b'href="alias.txt"' in body


def test_root_whose_name_ends_in_a_space_serves_its_files(tmp_path: Path) -> None:
    root = tmp_path / "site "
    root.mkdir()
    (root / "a.txt").write_bytes(b"inside")
    (tmp_path / "site  ").mkdir()
    (tmp_path / "site  " / "a.txt").write_bytes(SECRET)
    served = Client(files.routes(root))
    assert served.get("/a.txt").body == b"inside"
    assert_not_found(served.get("/%2e%2e/site%20%20/a.txt"))


def test_symlinked_root_is_served_through_its_real_path(site: Path, tmp_path: Path) -> None:
    os.symlink(site, tmp_path / "link-to-site")
    served = Client(files.routes(tmp_path / "link-to-site"))
    assert served.get("/hello.txt").body == b"Hello, world!\n"
    assert_not_found(served.get("/%2e%2e/outside/secret.txt"))


# -- hidden files ----------------------------------------------------------------------------


def test_hidden_file_is_404(served: Client) -> None:
    assert served.get("/.hidden").status == 404


def test_file_inside_a_hidden_directory_is_404(served: Client) -> None:
    assert served.get("/.git/config").status == 404


def test_percent_encoded_hidden_name_is_404(served: Client) -> None:
    assert served.get("/%2egit/config").status == 404


def test_hidden_files_are_served_and_listed_with_hidden_true(client: ClientFactory) -> None:
    served = client(hidden=True, listing=True, index=None)
    assert served.get("/.git/config").body == b"[core]\n"
    assert b'href=".hidden"' in served.get("/").body


def test_dot_dot_stays_refused_with_hidden_true(client: ClientFactory) -> None:
    assert_not_found(client(hidden=True).get("/%2e%2e/outside/secret.txt"))


def test_single_dot_segment_stays_refused_with_hidden_true(client: ClientFactory) -> None:
    served = client(hidden=True)
    for target in ("/./hello.txt", "/%2e/hello.txt", "/docs/./a.txt", "/./"):
        assert served.get(target).status == 404, target


@pytest.mark.parametrize("raw_path", ["hello.txt", "*", "static/hello.txt"])
def test_path_that_does_not_start_with_a_slash_names_nothing(site: Path, raw_path: str) -> None:
    with pytest.raises(HTTPError) as refused:
        locate(raw_path, (), str(site), hidden=False)
    assert refused.value.status_code == 404


# -- writing -----------------------------------------------------------------------------------


def test_put_with_dot_dot_writes_nothing_outside(served: Client, tmp_path: Path) -> None:
    assert served.put("/%2e%2e/escaped.txt", b"x").status == 404
    assert served.put("/..%2fescaped.txt", b"x").status == 404
    assert not (tmp_path / "escaped.txt").exists()


def test_put_through_a_symlinked_directory_outside_writes_nothing(
        site: Path, tmp_path: Path, served: Client) -> None:
    os.symlink(tmp_path / "outside", site / "elsewhere")
    assert served.put("/elsewhere/new.txt", b"x").status == 404
    assert served.put("/elsewhere/secret.txt", b"x").status == 404
    assert sorted(os.listdir(tmp_path / "outside")) == ["secret.txt"]
    assert (tmp_path / "outside" / "secret.txt").read_bytes() == SECRET


def test_put_to_a_symlink_leading_outside_writes_nothing(site: Path, tmp_path: Path,
                                                        served: Client) -> None:
    os.symlink(tmp_path / "outside" / "secret.txt", site / "leak.txt")
    assert served.put("/leak.txt", b"overwritten").status == 404
    assert (tmp_path / "outside" / "secret.txt").read_bytes() == SECRET


def test_put_of_a_hidden_name_is_404(site: Path, served: Client) -> None:
    assert served.put("/.htaccess", b"x").status == 404
    assert not (site / ".htaccess").exists()


def test_delete_through_a_symlinked_directory_outside_removes_nothing(
        site: Path, tmp_path: Path, served: Client) -> None:
    os.symlink(tmp_path / "outside", site / "elsewhere")
    assert served.delete("/elsewhere/secret.txt").status == 404
    assert (tmp_path / "outside" / "secret.txt").exists()


def test_delete_of_a_link_in_an_outside_directory_back_into_the_root_removes_nothing(
        site: Path, tmp_path: Path, served: Client) -> None:
    os.symlink(tmp_path / "outside", site / "elsewhere")
    os.symlink(site / "hello.txt", tmp_path / "outside" / "back")
    assert served.delete("/elsewhere/back").status == 404
    assert os.path.islink(tmp_path / "outside" / "back")
    assert (site / "hello.txt").exists()


def test_delete_of_a_hidden_file_is_404(site: Path, served: Client) -> None:
    assert served.delete("/.hidden").status == 404
    assert (site / ".hidden").exists()


# -- any path at all ------------------------------------------------------------------------

_PIECES = ["..", ".", "%2e", "%2E", "%2e%2e", ".%2e", "%2f", "%2F", "%5c", "\\", "%00", "%252e",
           "%c0%ae", "~", "outside", "secret.txt", "site", "docs", "a.txt", "hello.txt", "",
           "%", "%zz", "%e9", ".hidden", ".git", "config", "sub"]
any_raw_path = st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=3).map("".join),
                        min_size=1, max_size=6).map(lambda segments: "/" + "/".join(segments))


@given(raw_path=any_raw_path)
def test_no_path_reaches_outside_the_root_or_a_hidden_file(
        tmp_path_factory: pytest.TempPathFactory, raw_path: str) -> None:
    root, outside = _sandbox(tmp_path_factory)
    served = Client(files.routes(root, listing=True, modify=True))
    for response in (served.get(raw_path), served.put(raw_path, b"written")):
        assert SECRET not in response.body and b"hidden" not in response.body
        assert response.status in (200, 201, 204, 301, 403, 404, 409), response.status
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == SECRET


@given(raw_path=any_raw_path)
def test_every_located_path_is_inside_the_root(tmp_path_factory: pytest.TempPathFactory,
                                               raw_path: str) -> None:
    root, _ = _sandbox(tmp_path_factory)
    real_root = os.path.realpath(root)
    try:
        target = locate(raw_path, (), real_root, hidden=False)
    except HTTPError as error:
        assert error.status_code == 404
        return
    assert target.path == real_root or target.path.startswith(real_root + os.sep)
    assert not any(part.startswith(".") for part in target.path[len(real_root):].split(os.sep))


def _sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh root with a hidden file and a symlink out, beside an outside/secret.txt."""
    base = tmp_path_factory.mktemp("sandbox")
    root, outside = base / "site", base / "outside"
    (root / "docs").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "hello.txt").write_bytes(b"hello")
    (root / ".hidden").write_bytes(b"hidden")
    os.symlink(outside, root / "docs" / "outside")
    return root, outside
