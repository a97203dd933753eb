"""Trusted proxies: who the client is, from Forwarded and X-Forwarded-* headers."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webpy.protocol.forwarded import Origin, TrustedProxies, replace_host

PROXY = ("127.0.0.1", 41000)
STRANGER = ("198.51.100.99", 41000)


def resolve(allow: str, *headers: tuple[str, str], peer: tuple[str, int] | None = PROXY,
            scheme: str = "http", header: str = "x-forwarded") -> Origin:
    trusted = TrustedProxies(allow, header=header)
    raw = [(name.encode(), value.encode()) for name, value in headers]
    return trusted.resolve(peer, scheme, raw)


# -- who is believed -------------------------------------------------------------------


def test_empty_allowlist_believes_nothing() -> None:
    trusted = TrustedProxies("")
    assert not trusted
    origin = trusted.resolve(PROXY, "http", [(b"x-forwarded-for", b"203.0.113.5")])
    assert origin == Origin(PROXY, "http", None, PROXY, False)


def test_headers_from_a_peer_not_on_the_allowlist_are_ignored() -> None:
    origin = resolve("127.0.0.1", ("X-Forwarded-For", "203.0.113.5"),
                     ("X-Forwarded-Proto", "https"), peer=STRANGER)
    assert origin.client == STRANGER and origin.scheme == "http" and not origin.forwarded


def test_networks_and_ipv4_mapped_peers_match() -> None:
    trusted = TrustedProxies(["10.0.0.0/8", "::1", "fd00::/8"])
    assert trusted.trusts("10.200.3.4")
    assert trusted.trusts("::ffff:10.1.1.1")
    assert trusted.trusts("::1") and trusted.trusts("fd12::7")
    assert not trusted.trusts("11.0.0.1")
    assert not trusted.trusts("unknown") and not trusted.trusts("_hidden")


def test_unix_socket_peers_are_trusted_only_when_listed() -> None:
    assert not TrustedProxies("127.0.0.1").trusts(None)
    assert not TrustedProxies("127.0.0.1").trusts("")
    assert TrustedProxies("unix").trusts("")
    assert TrustedProxies("unix").trusts("/run/nginx.sock")
    origin = resolve("unix", ("X-Forwarded-For", "203.0.113.5"), peer=None)
    assert origin.client == ("203.0.113.5", 0)


def test_star_trusts_every_peer() -> None:
    assert resolve("*", ("X-Forwarded-For", "203.0.113.5"), peer=STRANGER).client == \
        ("203.0.113.5", 0)


@pytest.mark.parametrize("entry", ["10.0.0.1/8", "localhost", "300.1.1.1", "::g"])
def test_bad_allowlist_entry_is_an_error(entry: str) -> None:
    with pytest.raises(ValueError, match="not an address or network"):
        TrustedProxies(entry)


def test_unknown_header_family_is_an_error() -> None:
    with pytest.raises(ValueError, match="x-forwarded"):
        TrustedProxies("127.0.0.1", header="x-real-ip")


# -- X-Forwarded-For, -Proto, -Host --------------------------------------------------------


def test_x_forwarded_for_names_the_client_and_proto_host_follow() -> None:
    origin = resolve("127.0.0.1", ("X-Forwarded-For", "203.0.113.5"),
                     ("x-forwarded-proto", "HTTPS"), ("X-FORWARDED-HOST", "shop.example:8443"))
    assert origin == Origin(("203.0.113.5", 0), "https", "shop.example:8443", PROXY, True)


def test_rightmost_untrusted_hop_is_the_client_and_a_spoofed_left_part_is_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1" itself; two trusted proxies appended.
    origin = resolve("127.0.0.1, 10.0.0.0/8",
                     ("X-Forwarded-For", "1.1.1.1, 203.0.113.5, 10.1.2.3"))
    assert origin.client == ("203.0.113.5", 0)


def test_chain_of_trusted_hops_ends_at_its_leftmost_address() -> None:
    origin = resolve("127.0.0.1, 10.0.0.0/8", ("X-Forwarded-For", "10.9.9.9, 10.1.2.3"))
    assert origin.client == ("10.9.9.9", 0)


def test_repeated_header_lines_form_one_list_in_order() -> None:
    origin = resolve("127.0.0.1, 10.0.0.0/8", ("X-Forwarded-For", "1.1.1.1"),
                     ("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-For", "10.1.2.3"))
    assert origin.client == ("203.0.113.5", 0)


@pytest.mark.parametrize(("entry", "client"), [
    ("2001:db8::5", ("2001:db8::5", 0)),
    ("[2001:db8::5]", ("2001:db8::5", 0)),
    ("[2001:db8::5]:4711", ("2001:db8::5", 4711)),
    ("203.0.113.5:4711", ("203.0.113.5", 4711)),
    ("unknown", None),
])
def test_x_forwarded_for_entry_forms(entry: str, client: tuple[str, int] | None) -> None:
    origin = resolve("127.0.0.1", ("X-Forwarded-For", entry))
    assert origin.client == client and origin.forwarded


def test_empty_list_elements_are_skipped() -> None:
    assert resolve("127.0.0.1", ("X-Forwarded-For", "203.0.113.5, ,")).client == \
        ("203.0.113.5", 0)


def test_proto_is_taken_from_the_clients_hop_when_each_proxy_appends() -> None:
    # Edge proxy 10.1.2.3 saw https from the client and appended "https";
    # the inner proxy (our peer) saw plain http from the edge and appended "http".
    origin = resolve("127.0.0.1, 10.0.0.0/8", ("X-Forwarded-For", "203.0.113.5, 10.1.2.3"),
                     ("X-Forwarded-Proto", "https, http"))
    assert origin.client == ("203.0.113.5", 0) and origin.scheme == "https"


def test_a_single_proto_value_set_by_the_last_proxy_is_used() -> None:
    origin = resolve("127.0.0.1, 10.0.0.0/8", ("X-Forwarded-For", "203.0.113.5, 10.1.2.3"),
                     ("X-Forwarded-Proto", "https"))
    assert origin.scheme == "https"


def test_proto_without_for_changes_only_the_scheme() -> None:
    origin = resolve("127.0.0.1", ("X-Forwarded-Proto", "https"))
    assert origin == Origin(PROXY, "https", None, PROXY, True)


def test_forwarded_header_is_not_believed_in_x_forwarded_mode() -> None:
    # The proxy manages X-Forwarded-For and passes the client's Forwarded through.
    origin = resolve("127.0.0.1", ("Forwarded", "for=6.6.6.6;proto=https"),
                     ("X-Forwarded-For", "203.0.113.5"))
    assert origin.client == ("203.0.113.5", 0) and origin.scheme == "http"


# -- Forwarded (RFC 7239) ----------------------------------------------------------------------


def test_forwarded_element_gives_client_proto_and_host() -> None:
    value = 'for="[2001:db8::5]:4711";proto=https;host=a.example'
    origin = resolve("127.0.0.1", ("Forwarded", value), header="forwarded")
    assert origin == Origin(("2001:db8::5", 4711), "https", "a.example", PROXY, True)


def test_forwarded_walks_elements_from_the_right_and_uses_the_clients_own_element() -> None:
    value = ("for=1.1.1.1;proto=http, for=203.0.113.5;proto=https;host=shop.example, "
             "for=10.1.2.3;proto=http;host=inner")
    origin = resolve("127.0.0.1, 10.0.0.0/8", ("Forwarded", value), header="forwarded")
    assert origin.client == ("203.0.113.5", 0)
    assert origin.scheme == "https" and origin.host == "shop.example"


def test_forwarded_accepts_case_whitespace_and_empty_elements() -> None:
    origin = resolve("127.0.0.1", ("forwarded", ' , For=203.0.113.5 ; Proto="https" ,'),
                     header="forwarded")
    assert origin.client == ("203.0.113.5", 0) and origin.scheme == "https"


@pytest.mark.parametrize(("node", "client"), [
    ("unknown", None),
    ("_hidden", ("_hidden", 0)),
    ('"_hidden:_port"', ("_hidden", 0)),
    ('"203.0.113.5:80"', ("203.0.113.5", 80)),
])
def test_forwarded_node_forms(node: str, client: tuple[str, int] | None) -> None:
    origin = resolve("127.0.0.1", ("Forwarded", f"for={node}"), header="forwarded")
    assert origin.client == client and origin.forwarded


def test_garbage_left_of_the_client_is_never_reached() -> None:
    # The client sent a malformed Forwarded; the proxy appended a good element.
    for sent in ('for="oops', "garbage", "for=1.1.1.1;for=2.2.2.2"):
        origin = resolve("127.0.0.1", ("Forwarded", sent), ("Forwarded", "for=203.0.113.5"),
                         header="forwarded")
        assert origin.client == ("203.0.113.5", 0), sent
    inline = resolve("127.0.0.1", ("Forwarded", "garbage, for=203.0.113.5"), header="forwarded")
    assert inline.client == ("203.0.113.5", 0)


@pytest.mark.parametrize("value", [
    "for=2001:db8::5",               # IPv6 must be bracketed and quoted
    "for=203.0.113.5;for=1.1.1.1",   # a parameter twice in one element
    'for="203.0.113.5',              # unbalanced quote
    "proto=https",                   # no for=
    "for=203.0.113.005",             # leading zero
    'for="203.0.113.5:99999"',       # port out of range
    "for=203.0.113.5;proto=ftp",     # not http or https
    'for=203.0.113.5;host="a b"',    # not a host
])
def test_malformed_forwarded_is_ignored_and_logged_once(value: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    trusted = TrustedProxies("127.0.0.1", header="forwarded")
    raw = [(b"forwarded", value.encode()), (b"host", b"example.com")]
    with caplog.at_level(logging.WARNING, logger="webpy"):
        first = trusted.resolve(PROXY, "http", raw)
        second = trusted.resolve(PROXY, "http", raw)
    assert first == second == Origin(PROXY, "http", None, PROXY, False)
    records = [record for record in caplog.records if "logged once" in record.getMessage()]
    assert len(records) == 1
    assert "127.0.0.1" in records[0].getMessage()


@pytest.mark.parametrize(("name", "value"), [
    ("X-Forwarded-For", "203.0.113.5, not-an-address"),
    ("X-Forwarded-For", "203.0.113.5:_obf"),
    ("X-Forwarded-Proto", "javascript"),
    ("X-Forwarded-Host", "evil\\host"),
])
def test_malformed_x_forwarded_is_ignored_and_logged_once(name: str, value: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    trusted = TrustedProxies("127.0.0.1")
    raw = [(name.encode(), value.encode())]
    with caplog.at_level(logging.WARNING, logger="webpy"):
        for _ in range(3):
            assert trusted.resolve(PROXY, "http", raw) == Origin(PROXY, "http", None, PROXY)
    assert len([r for r in caplog.records if "logged once" in r.getMessage()]) == 1


def test_logged_value_is_escaped_and_bounded(caplog: pytest.LogCaptureFixture) -> None:
    trusted = TrustedProxies("127.0.0.1")
    with caplog.at_level(logging.WARNING, logger="webpy"):
        trusted.resolve(PROXY, "http", [(b"x-forwarded-for", b"\x1b[31mred" + b"x" * 500)])
    message = caplog.records[-1].getMessage()
    assert "\x1b" not in message and len(message) < 400


def test_replace_host_sets_one_host_field() -> None:
    headers = [(b"Host", b"internal:8000"), (b"accept", b"*/*")]
    assert replace_host(headers, "shop.example") == [(b"accept", b"*/*"),
                                                     (b"host", b"shop.example")]


# -- properties ---------------------------------------------------------------------------------

_ENTRY = st.one_of(st.ip_addresses().map(str), st.sampled_from(["unknown", "", "x", "[::1]:1"]),
                   st.text(max_size=12))


@given(st.lists(_ENTRY, max_size=6), st.sampled_from(["x-forwarded", "forwarded"]),
       st.text(max_size=40))
def test_any_header_gives_the_peer_or_a_listed_hop(entries: list[str], family: str,
                                                   forwarded: str) -> None:
    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8", header=family)
    raw = [(b"x-forwarded-for", ", ".join(entries).encode("utf-8", "replace")),
           (b"forwarded", forwarded.encode("utf-8", "replace"))]
    origin = trusted.resolve(PROXY, "http", raw)
    assert origin.peer == PROXY and origin.scheme in ("http", "https")
    if not origin.forwarded:
        assert origin.client == PROXY
    elif origin.client is not None and family == "x-forwarded":
        assert any(origin.client[0] in entry or entry in origin.client[0]
                   for entry in entries if entry)


@given(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=6))
def test_client_is_never_a_trusted_hop_unless_all_are(chain: list[str]) -> None:
    trusted = TrustedProxies("10.0.0.0/8, 127.0.0.1")
    origin = trusted.resolve(PROXY, "http", [(b"x-forwarded-for", ", ".join(chain).encode())])
    assert origin.client is not None
    untrusted = [hop for hop in chain if not trusted.trusts(hop)]
    if untrusted:
        assert origin.client[0] == untrusted[-1]
    else:
        assert origin.client[0] == chain[0]
