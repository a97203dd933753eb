"""The PROXY protocol parser, on v1 lines and hand-built v2 frames."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webpy.protocol import NEED_DATA
from webpy.protocol.proxy import (
    ProxyHeader,
    ProxyProtocolError,
    ProxySSL,
    _crc32c,
    parse_proxy_header,
)

from .frames import (
    LOCAL,
    TCP4,
    TCP6,
    UDP4,
    UNIX_STREAM,
    UNSPEC,
    addresses,
    crc32c,
    frame,
    ssl_tlv,
    tlv,
    with_checksum,
)

HTTP = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
V4 = addresses(TCP4, ("203.0.113.7", 51234), ("10.0.0.2", 8080))


def parse(data: bytes, **options: int) -> ProxyHeader:
    header = parse_proxy_header(data, **options)
    assert isinstance(header, ProxyHeader)
    return header


# -- version 1 -------------------------------------------------------------------


def test_v1_tcp4_line_gives_source_destination_and_length() -> None:
    line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
    header = parse(line + HTTP)
    assert header.version == 1
    assert header.source == ("192.0.2.1", 56324)
    assert header.destination == ("198.51.100.2", 443)
    assert (line + HTTP)[header.length:] == HTTP
    assert header.client(("127.0.0.1", 40000)) == ("192.0.2.1", 56324)


def test_v1_tcp6_line_normalises_the_address() -> None:
    header = parse(b"PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 65535 0\r\n")
    assert header.source == ("2001:db8::1", 65535)
    assert header.destination == ("::1", 0)


def test_v1_longest_line_is_accepted() -> None:
    full = ":".join(["ffff"] * 8)
    line = f"PROXY TCP6 {full} {full} 65535 65535\r\n".encode()
    assert len(line) == 104
    assert parse(line).source == ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)


@pytest.mark.parametrize("line", [
    b"PROXY UNKNOWN\r\n",
    b"PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n",
])
def test_v1_unknown_keeps_the_connections_own_peer(line: bytes) -> None:
    header = parse(line + HTTP)
    assert header.source is None
    assert header.length == len(line)
    assert header.client(("127.0.0.1", 40000)) == ("127.0.0.1", 40000)


@pytest.mark.parametrize("line", [
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",          # bare LF
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\r\n",      # stray CR
    b"PROXY TCP4  192.0.2.1 198.51.100.2 56324 443\r\n",       # two spaces
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",            # a port missing
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 x\r\n",      # a field too many
    b"PROXY TCP4 192.0.2.01 198.51.100.2 56324 443\r\n",       # leading zero (octal?)
    b"PROXY TCP4 192.0.2.256 198.51.100.2 56324 443\r\n",      # octet out of range
    b"PROXY TCP4 ::1 ::1 56324 443\r\n",                       # family mismatch
    b"PROXY TCP6 192.0.2.1 ::1 56324 443\r\n",
    b"PROXY TCP6 ::ffff:192.0.2.1 ::1 56324 443\r\n",          # dotted form in TCP6
    b"PROXY TCP4 192.0.2.1 198.51.100.2 056324 443\r\n",       # leading zero port
    b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",        # port out of range
    b"PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n",
    b"PROXY UDP4 192.0.2.1 198.51.100.2 56324 443\r\n",        # not a v1 protocol
    b"proxy TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",        # case matters
])
def test_v1_malformed_line_is_refused(line: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(line + HTTP)


def test_v1_line_without_crlf_in_107_bytes_is_refused_without_waiting_for_more() -> None:
    assert parse_proxy_header(b"PROXY UNKNOWN " + b"a" * 92) is NEED_DATA  # 106 bytes
    with pytest.raises(ProxyProtocolError, match="too long"):
        parse_proxy_header(b"PROXY UNKNOWN " + b"a" * 93)


def test_v1_incomplete_line_needs_data() -> None:
    line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
    for cut in range(len(line)):
        assert parse_proxy_header(line[:cut]) is NEED_DATA


# -- not a header at all ------------------------------------------------------------


@pytest.mark.parametrize("data", [HTTP, b"G", b"\x16\x03\x01\x02\x00", b"PROXX", b"\r\n\r\n\x01"])
def test_direct_client_is_refused_on_its_first_bytes(data: bytes) -> None:
    with pytest.raises(ProxyProtocolError, match="not a PROXY"):
        parse_proxy_header(data)


def test_nothing_yet_needs_data() -> None:
    assert parse_proxy_header(b"") is NEED_DATA


def test_protocol_error_has_a_status_and_a_fixed_detail() -> None:
    with pytest.raises(ProxyProtocolError) as caught:
        parse_proxy_header(b"GET /\x00secret")
    assert caught.value.status_code == 400
    assert "secret" not in caught.value.detail


# -- version 2 ------------------------------------------------------------------------


def test_v2_tcp4_frame_gives_addresses_and_leaves_http_after_it() -> None:
    data = frame(V4) + HTTP
    header = parse(data)
    assert header.version == 2
    assert header.transport == "stream"
    assert header.source == ("203.0.113.7", 51234)
    assert header.destination == ("10.0.0.2", 8080)
    assert data[header.length:] == HTTP


def test_v2_tcp6_frame() -> None:
    block = addresses(TCP6, ("2001:db8::7", 443), ("2001:db8::1", 8443))
    header = parse(frame(block, family=TCP6))
    assert header.source == ("2001:db8::7", 443)
    assert header.destination == ("2001:db8::1", 8443)


def test_v2_udp_frame_is_parsed_as_such() -> None:
    header = parse(frame(V4, family=UDP4))
    assert header.transport == "dgram"
    assert header.source == ("203.0.113.7", 51234)


def test_v2_unix_frame_gives_paths_but_no_client_address() -> None:
    block = b"/run/client.sock".ljust(108, b"\0") + b"/run/webpy.sock".ljust(108, b"\0")
    header = parse(frame(block, family=UNIX_STREAM))
    assert header.source == "/run/client.sock"
    assert header.destination == "/run/webpy.sock"
    assert header.client(("127.0.0.1", 1)) is None


def test_v2_local_command_is_the_proxys_own_health_check() -> None:
    # The address block is present and must be skipped, but not believed.
    header = parse(frame(V4, command=LOCAL) + HTTP)
    assert header.source is None
    assert header.client(("10.0.0.9", 5000)) == ("10.0.0.9", 5000)
    assert header.length == 16 + len(V4)


def test_v2_unspec_family_keeps_the_peer() -> None:
    header = parse(frame(b"", family=UNSPEC))
    assert header.source is None and header.transport == "unspec"


def test_v2_tlvs_are_decoded() -> None:
    block = (V4 + tlv(0x01, b"h2") + tlv(0x02, "bücher.example".encode()) + tlv(0x04, b"\0" * 3)
             + tlv(0x05, b"conn-42") + tlv(0xE1, b"custom")
             + ssl_tlv(0x07, 0, tlv(0x21, b"TLSv1.3"), tlv(0x22, b"alice"),
                       tlv(0x23, b"TLS_AES_128_GCM_SHA256"), tlv(0x24, b"SHA256"),
                       tlv(0x25, b"RSA2048")))
    header = parse(frame(block))
    assert header.alpn == b"h2"
    assert header.authority == "bücher.example"
    assert header.unique_id == b"conn-42"
    assert (0xE1, b"custom") in header.tlvs
    assert header.ssl == ProxySSL(tls=True, certificate_on_connection=True,
                                  certificate_in_session=True, verified=True,
                                  version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256",
                                  common_name="alice", signature_algorithm="SHA256",
                                  key_algorithm="RSA2048")


def test_v2_ssl_without_a_verified_certificate_is_not_verified() -> None:
    header = parse(frame(V4 + ssl_tlv(0x01, 0, tlv(0x21, b"TLSv1.2"))))
    assert header.ssl is not None
    assert header.ssl.tls and not header.ssl.verified
    assert header.ssl.version == "TLSv1.2" and header.ssl.cipher is None
    failed = parse(frame(V4 + ssl_tlv(0x03, 1)))
    assert failed.ssl is not None and not failed.ssl.verified


def test_v2_correct_crc32c_is_accepted_and_a_wrong_one_refused() -> None:
    good = with_checksum(V4 + tlv(0x02, b"example.com"))
    assert parse(good).authority == "example.com"
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(ProxyProtocolError, match="checksum"):
        parse_proxy_header(bad)
    tampered = good[:16] + b"\xcc" + good[17:]  # source address changed, checksum kept
    with pytest.raises(ProxyProtocolError, match="checksum"):
        parse_proxy_header(tampered)


def test_crc32c_matches_the_standard_check_value() -> None:
    assert _crc32c(b"123456789") == 0xE3069283 == crc32c(b"123456789")


def test_v2_incomplete_frame_needs_data_at_every_cut() -> None:
    data = frame(V4 + tlv(0x02, b"example.com"))
    for cut in range(len(data)):
        assert parse_proxy_header(data[:cut]) is NEED_DATA
    assert parse(data).length == len(data)


@pytest.mark.parametrize(("data", "message"), [
    (frame(V4, version=1), "version"),
    (frame(V4, version=3), "version"),
    (frame(V4, command=0x2), "command"),
    (frame(V4, family=0x41), "family"),
    (frame(V4, family=0x13), "family"),
    (frame(V4, family=0x10), "family"),
    (frame(V4, family=0x01), "family"),
    (frame(V4[:11], family=TCP4), "address block too short"),
    (frame(V4 + b"\x02\x00"), "truncated"),
    (frame(V4 + b"\x02\x00\x05abc"), "longer than"),
    (frame(V4 + ssl_tlv(0x01, 0, b"\x21\x00\x09TLS")), "longer than"),
    (frame(V4 + tlv(0x20, b"\x01\x00")), "truncated"),
    (frame(V4 + tlv(0x03, b"\0\0\0")), "CRC32c"),
    (frame(V4 + tlv(0x05, b"x" * 129)), "unique id"),
    (frame(V4 + tlv(0x02, b"\xff\xfe")), "UTF-8"),
])
def test_v2_malformed_frame_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ProxyProtocolError, match=message):
        parse_proxy_header(data + HTTP)


def test_v2_length_over_the_bound_is_refused_before_the_body_arrives() -> None:
    announced = frame(b"", length=5000)  # only the 16 fixed bytes
    with pytest.raises(ProxyProtocolError, match="too long"):
        parse_proxy_header(announced)
    assert parse_proxy_header(announced, max_header_bytes=65535 + 16) is NEED_DATA


def test_v2_length_field_decides_where_http_starts() -> None:
    block = V4 + tlv(0x04, b"pad")
    data = frame(block) + HTTP
    assert data[parse(data).length:] == HTTP
    assert struct.unpack("!H", data[14:16])[0] == len(block)


# -- properties -------------------------------------------------------------------------


@given(st.binary(max_size=300))
def test_any_bytes_give_a_header_need_data_or_the_one_error(data: bytes) -> None:
    try:
        result = parse_proxy_header(data)
    except ProxyProtocolError:
        return
    assert result is NEED_DATA or (isinstance(result, ProxyHeader) and result.length <= len(data))


@given(st.integers(min_value=16, max_value=len(frame(V4)) + 1), st.integers(0, 255),
       st.binary(max_size=40))
def test_mutated_v2_frame_never_escapes_the_one_error(position: int, byte: int,
                                                    tail: bytes) -> None:
    data = bytearray(frame(V4 + tlv(0x02, b"example.com")) + tail)
    if position < len(data):
        data[position] = byte
    try:
        parse_proxy_header(bytes(data))
    except ProxyProtocolError:
        pass


@given(st.ip_addresses(v=4), st.ip_addresses(v=4), st.integers(0, 65535), st.integers(0, 65535))
def test_v1_and_v2_agree_on_any_ipv4_endpoints(source, destination, sport, dport) -> None:  # type: ignore[no-untyped-def]
    v1 = parse(f"PROXY TCP4 {source} {destination} {sport} {dport}\r\n".encode())
    v2 = parse(frame(addresses(TCP4, (str(source), sport), (str(destination), dport))))
    assert v1.source == v2.source == (str(source), sport)
    assert v1.destination == v2.destination == (str(destination), dport)


@given(st.ip_addresses(v=6), st.integers(0, 65535))
def test_v1_and_v2_agree_on_any_ipv6_source(source, port) -> None:  # type: ignore[no-untyped-def]
    v1 = parse(f"PROXY TCP6 {source.exploded} ::1 {port} 80\r\n".encode())
    v2 = parse(frame(addresses(TCP6, (str(source), port), ("::1", 80)), family=TCP6))
    assert v1.source == v2.source == (str(source), port)
