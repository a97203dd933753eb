"""The authentication extension: HTTP Basic and Bearer tokens, checked before the body is read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import socket
import unicodedata
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from conformance.support import exchange, request, serving
from harness import CLIENT_TIMEOUT, Harness
from hypothesis import given
from hypothesis import strategies as st

import webpy as web
from webpy.app.auth import READ_METHODS, BasicAuthHandler, TokenAuthHandler
from webpy.app.forms import FormHandler
from webpy.transports.memory import Client

#: What the handlers below saw: which hooks ran, in order.
calls: list[str] = []


class Notes(BasicAuthHandler):
    """Anyone reads; writing takes a user name and password."""

    realm = "notes"
    users: ClassVar[dict[str, str]] = {"alice": "wonderland", "ålice": "pässwörd ✓"}
    public_methods = READ_METHODS

    def decode(self, body: bytes) -> Any:
        calls.append("decode")
        return body

    def do_get(self) -> tuple[int, str]:
        return 200, f"read by {self.user}"

    def do_put(self) -> tuple[int, str]:
        calls.append("put")
        return 200, f"written by {self.user}: {self.request.body.decode()}"

    def do_delete(self) -> tuple[int, str]:
        return 200, f"deleted by {self.user}"


class Private(BasicAuthHandler):
    """Every method needs credentials."""

    users: ClassVar[dict[str, str]] = {"bob": "builder"}

    def do_get(self) -> tuple[int, str]:
        return 200, f"private to {self.user}"


class Hashed(BasicAuthHandler):
    """Checks salted hashes instead of the plain `users` mapping, and bans one user."""

    salt = b"test salt"
    hashes: ClassVar[dict[str, bytes]] = {
        "carol": hashlib.scrypt(b"s3cret", salt=salt, n=2, r=8, p=1)}

    def authenticate(self, user: str, password: str) -> bool:
        if user == "mallory":
            raise web.HTTPError(403, "banned")
        expected = self.hashes.get(user)
        given = hashlib.scrypt(password.encode(), salt=self.salt, n=2, r=8, p=1)
        return expected is not None and hmac.compare_digest(expected, given)

    def do_get(self) -> tuple[int, str]:
        return 200, f"hello {self.user}"


class Quoted(Private):
    realm = 'say "hi" \\ bye'


class Api(TokenAuthHandler):
    """Anyone reads; writing takes a token standing for a user record."""

    realm = "api"
    tokens: ClassVar[dict[str, object]] = {"t0k3n-alice": {"name": "alice"},
                                           "YWJj+/~._-==": {"name": "padded"}}
    public_methods = READ_METHODS

    def decode(self, body: bytes) -> Any:
        calls.append("decode")
        return body

    def do_get(self) -> tuple[int, str]:
        return 200, f"read by {self.user}"

    def do_post(self) -> tuple[int, str]:
        user: dict[str, str] = self.user
        return 201, f"posted by {user['name']}"


class GuardedForm(BasicAuthHandler, FormHandler):
    users: ClassVar[dict[str, str]] = {"alice": "wonderland"}

    def do_post(self) -> tuple[int, str]:
        return 200, f"{self.user} sent {self.request.body['field']}"


class FormFirst(FormHandler, BasicAuthHandler):
    """The same bases in the other order: credentials are still checked first."""

    users: ClassVar[dict[str, str]] = {"alice": "wonderland"}

    def do_post(self) -> tuple[int, str]:
        return 200, f"{self.user} sent {self.request.body['field']}"


ROUTES: dict[str, type[web.HTTPHandler]] = {
    "/notes": Notes,
    "/private": Private,
    "/hashed": Hashed,
    "/quoted": Quoted,
    "/api": Api,
    "/guarded-form": GuardedForm,
    "/form-first": FormFirst,
}


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client() -> Iterator[Client]:
    calls.clear()
    yield Client(ROUTES)


@pytest.fixture
def server() -> Iterator[web.HTTPServer]:
    httpd = web.HTTPServer(("127.0.0.1", 0), ROUTES, threads=2)
    httpd.start()
    try:
        yield httpd
    finally:
        httpd.stop()


# -- Basic --------------------------------------------------------------------------


def test_write_without_credentials_is_401_with_a_basic_challenge(client: Client) -> None:
    response = client.put("/notes", b"text")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="notes", charset="UTF-8"'
    assert calls == []


def test_right_password_is_200_and_the_handler_sees_the_user(client: Client) -> None:
    response = client.put("/notes", b"text", basic("alice", "wonderland"))
    assert (response.status, response.text) == (200, "written by alice: text")


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("alice", ""),
                                                ("nobody", "wonderland"), ("", "")])
def test_wrong_credentials_are_401_and_the_body_is_never_read(
        client: Client, user: str, password: str) -> None:
    response = client.put("/notes", b"text", basic(user, password))
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="notes", charset="UTF-8"'
    assert calls == []


def test_expect_continue_with_a_wrong_password_gets_401_and_no_100(harness: Harness) -> None:
    authorization = basic("alice", "wrong")["Authorization"]
    data = request("PUT", "/notes", "Expect: 100-continue", "Content-Length: 1000",
                   f"Authorization: {authorization}")
    with serving(harness, ROUTES) as running:
        response, reader = exchange(running, data, "PUT")  # the body is never sent
        assert response.status == 401
        assert response.interim == ()
        assert response.headers["Connection"] == "close"
        assert reader.at_eof()


def test_expect_continue_with_the_right_password_gets_100_then_200(harness: Harness) -> None:
    authorization = basic("alice", "wonderland")["Authorization"]
    data = request("PUT", "/notes", "Expect: 100-continue", "Content-Length: 4",
                   f"Authorization: {authorization}", body=b"text")
    with serving(harness, ROUTES) as running:
        response, _ = exchange(running, data, "PUT")
        assert response.interim == (100,)
        assert (response.status, response.text) == (200, "written by alice: text")


@pytest.mark.parametrize("authorization", [
    "Basic",                                                   # no credentials at all
    "Basic !!!!",                                              # not base64
    "Basic YWxpY2U6d29uZGVybGFuZA",                            # padding missing
    "Basic YWxpY2U6d29uZGVybGFuZA==x",                         # junk after
    "Basic YWxp Y2U6d29uZGVybGFuZA==",
    "Basic " + base64.b64encode(b"no colon here").decode(),
    "Basic " + base64.b64encode(b"alice:\xffnot utf-8").decode(),
    "Basic " + base64.b64encode(b"alice:bell\x07").decode(),   # control characters
    "Basic " + base64.b64encode(b"ali\x7fce:wonderland").decode(),
    "Basic YWxpY2U6d29uZGVybGFuZA\xe9=",                       # beyond ASCII in the field
])
def test_malformed_basic_credentials_are_400(client: Client, authorization: str) -> None:
    response = client.put("/notes", b"text", {"Authorization": authorization})
    assert response.status == 400
    assert calls == []


def test_repeated_authorization_fields_are_400(client: Client) -> None:
    response = client.put("/notes", b"text", [("Authorization", basic("alice", "wonderland")[
        "Authorization"]), ("Authorization", basic("alice", "wonderland")["Authorization"])])
    assert response.status == 400


def test_non_ascii_credentials_are_utf8_and_compared_in_nfc(client: Client) -> None:
    assert client.put("/notes", b"x", basic("ålice", "pässwörd ✓")).text == "written by ålice: x"
    decomposed = basic(unicodedata.normalize("NFD", "ålice"),
                       unicodedata.normalize("NFD", "pässwörd ✓"))
    assert client.put("/notes", b"y", decomposed).text == "written by ålice: y"
    assert client.put("/notes", b"z", basic("ålice", "passwörd ✓")).status == 401


def test_password_may_contain_colons_the_first_one_ends_the_user_name() -> None:
    class Colons(BasicAuthHandler):
        users: ClassVar[dict[str, str]] = {"dave": "a:b:c"}

        def do_get(self) -> tuple[int, str]:
            return 200, "in"

    colons = Client({"/": Colons})
    assert colons.get("/", basic("dave", "a:b:c")).status == 200
    assert colons.get("/", basic("dave", "a:b")).status == 401


def test_scheme_name_is_case_insensitive(client: Client) -> None:
    token = basic("alice", "wonderland")["Authorization"].split()[1]
    for scheme in ("basic", "BASIC", "bAsIc"):
        response = client.put("/notes", b"x", {"Authorization": f"{scheme} {token}"})
        assert response.status == 200


def test_credentials_for_another_scheme_get_the_basic_challenge(client: Client) -> None:
    response = client.put("/notes", b"x", bearer("t0k3n-alice"))
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_read_methods_are_public_and_writes_are_not(client: Client) -> None:
    assert client.get("/notes").text == "read by None"
    assert client.head("/notes").status == 200
    assert client.options("/notes").status == 204
    assert client.delete("/notes").status == 401
    assert client.delete("/notes", basic("alice", "wonderland")).text == "deleted by alice"


def test_credentials_on_a_public_method_are_still_checked(client: Client) -> None:
    assert client.get("/notes", basic("alice", "wonderland")).text == "read by alice"
    assert client.get("/notes", basic("alice", "wrong")).status == 401
    assert client.get("/notes", {"Authorization": "Basic !!"}).status == 400
    assert client.get("/notes", bearer("t0k3n-alice")).text == "read by None"


def test_head_follows_get_when_get_is_public() -> None:
    class GetOnly(BasicAuthHandler):
        public_methods = frozenset({"GET"})

        def do_get(self) -> tuple[int, str]:
            return 200, "public page"

    response = Client({"/": GetOnly}).head("/")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len("public page"))


def test_without_public_methods_even_reads_need_credentials(client: Client) -> None:
    assert client.get("/private").status == 401
    assert client.head("/private").status == 401
    assert client.get("/private", basic("bob", "builder")).text == "private to bob"


def test_authenticate_may_be_overridden_and_may_refuse_with_403(client: Client) -> None:
    assert client.get("/hashed", basic("carol", "s3cret")).text == "hello carol"
    assert client.get("/hashed", basic("carol", "guess")).status == 401
    assert client.get("/hashed", basic("mallory", "anything")).status == 403


def test_realm_is_sent_as_a_quoted_string(client: Client) -> None:
    response = client.get("/quoted")
    assert response.headers["WWW-Authenticate"] == (
        'Basic realm="say \\"hi\\" \\\\ bye", charset="UTF-8"')


def test_credentials_are_checked_before_the_media_type_whatever_the_base_order(
        client: Client) -> None:
    for path in ("/guarded-form", "/form-first"):
        refused = client.post(path, b"{}", {"Content-Type": "application/json"})
        assert refused.status == 401
        wrong_type = client.post(path, b"{}", {"Content-Type": "application/json",
                                               **basic("alice", "wonderland")})
        assert wrong_type.status == 415
        accepted = client.post(path, b"field=value", {
            "Content-Type": "application/x-www-form-urlencoded", **basic("alice", "wonderland")})
        assert accepted.text == "alice sent value"


@given(user=st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=":")),
       password=st.text(st.characters(blacklist_categories=("Cs", "Cc"))))
def test_any_user_name_and_password_reach_authenticate_in_nfc(user: str, password: str) -> None:
    seen: list[tuple[str, str]] = []

    class Recorder(BasicAuthHandler):
        def authenticate(self, user: str, password: str) -> bool:
            seen.append((user, password))
            return True

        def do_get(self) -> tuple[int, str]:
            return 200, "in"

    assert Client({"/": Recorder}).get("/", basic(user, password)).status == 200
    assert seen == [(unicodedata.normalize("NFC", user), unicodedata.normalize("NFC", password))]


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
               max_size=60))
def test_any_authorization_value_is_200_400_or_401_never_a_crash(value: str) -> None:
    for handler in (Private, Api):
        response = Client({"/": handler}).get("/", {"Authorization": value.strip(" \t")})
        assert response.status in (200, 400, 401)


# -- Bearer -------------------------------------------------------------------------


def test_valid_token_is_accepted_and_its_user_is_the_handlers(client: Client) -> None:
    response = client.post("/api", b"x", bearer("t0k3n-alice"))
    assert (response.status, response.text) == (201, "posted by alice")
    assert client.post("/api", b"x", bearer("YWJj+/~._-==")).text == "posted by padded"


def test_missing_token_is_401_with_a_challenge_and_no_error_code(client: Client) -> None:
    response = client.post("/api", b"x")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert calls == []


def test_rejected_token_is_401_invalid_token_and_the_body_is_never_read(client: Client) -> None:
    response = client.post("/api", b"x", bearer("t0k3n-mallory"))
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    assert calls == []


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer a b", "Bearer tok,en",
                                           "Bearer =abc", "Bearer to\xefken"])
def test_malformed_bearer_field_is_400_invalid_request(client: Client, authorization: str) -> None:
    response = client.post("/api", b"x", {"Authorization": authorization})
    assert response.status == 400
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_request"'
    assert calls == []


def test_token_reads_are_public_and_a_given_token_is_still_checked(client: Client) -> None:
    assert client.get("/api").text == "read by None"
    assert client.get("/api", bearer("t0k3n-alice")).text == "read by {'name': 'alice'}"
    assert client.get("/api", bearer("t0k3n-mallory")).status == 401
    assert client.get("/api", basic("alice", "wonderland")).text == "read by None"


def test_authenticate_token_may_be_overridden() -> None:
    class Signed(TokenAuthHandler):
        def authenticate_token(self, token: str) -> object | None:
            user, _, signature = token.partition(".")
            expected = hashlib.sha256(b"key" + user.encode()).hexdigest()
            return user if hmac.compare_digest(signature, expected) else None

        def do_get(self) -> tuple[int, str]:
            return 200, f"hello {self.user}"

    signed = Client({"/": Signed})
    good = "erin." + hashlib.sha256(b"keyerin").hexdigest()
    assert signed.get("/", bearer(good)).text == "hello erin"
    assert signed.get("/", bearer("erin.forged")).status == 401


# -- over a real socket --------------------------------------------------------------


def test_httpx_basic_auth_over_a_socket(server: web.HTTPServer) -> None:
    with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
        refused = http.put("/notes", content=b"text")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="notes", charset="UTF-8"'
        assert http.put("/notes", content=b"text", auth=("alice", "wrong")).status_code == 401
        accepted = http.put("/notes", content=b"text", auth=("ålice", "pässwörd ✓"))
        assert (accepted.status_code, accepted.text) == (200, "written by ålice: text")
        token = http.post("/api", content=b"x", headers=bearer("t0k3n-alice"))
        assert token.status_code == 201


def test_raw_socket_expect_continue_gets_401_before_sending_the_body(
        server: web.HTTPServer) -> None:
    head = request("PUT", "/notes", "Expect: 100-continue", "Content-Length: 1000000",
                   "Authorization: " + basic("alice", "wrong")["Authorization"])
    with socket.create_connection(server.server_address, timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(head)
        received = b""
        while chunk := sock.recv(65536):  # the server closes: it will never read the body
            received += chunk
    assert received.startswith(b"HTTP/1.1 401 ")
    assert b"100 Continue" not in received
    assert b'WWW-Authenticate: Basic realm="notes", charset="UTF-8"' in received


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "webpy.access"]


def test_the_access_log_names_the_signed_in_user(caplog: pytest.LogCaptureFixture) -> None:
    class Tokens(TokenAuthHandler):
        tokens: ClassVar[dict[str, object]] = {"t0k3n": "carol"}

        def do_put(self) -> tuple[int, str]:
            return 200, "ok"

    caplog.set_level(logging.INFO, logger="webpy.access")
    client = Client({"/notes": Notes, "/tokens": Tokens})
    assert client.put("/notes", b"x", basic("alice", "wonderland")).status == 200
    assert client.put("/tokens", b"x", {"Authorization": "Bearer t0k3n"}).status == 200
    assert client.get("/notes").status == 200  # a public read: anonymous
    assert client.put("/notes", b"x", basic("alice", "wrong")).status == 401
    users = [line.split(" ")[2] for line in access_lines(caplog)]
    assert users == ["alice", "carol", "-", "-"]


def test_a_user_name_cannot_break_the_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    class Anyone(BasicAuthHandler):
        def authenticate(self, user: str, password: str) -> bool:
            return True

        def do_put(self) -> tuple[int, str]:
            return 200, "ok"

    caplog.set_level(logging.INFO, logger="webpy.access")
    # Control bytes are refused in credentials (400); spaces, quotes and brackets are not.
    name = 'eve [forged] "GET / HTTP/1.1" 200 1 é'
    assert Client({"/": Anyone}).put("/", b"x", basic(name, "pw")).status == 200
    [line] = access_lines(caplog)
    assert line.count('"') == 2 and line.count("[") == 1
    assert line.split(" ")[2] == (
        "eve%20%5Bforged%5D%20%22GET%20%2F%20HTTP%2F1.1%22%20200%201%20%C3%A9")
