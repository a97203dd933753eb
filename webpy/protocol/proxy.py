"""The PROXY protocol, receiving side: the header a load balancer sends first.

Theory of operation
-------------------
HAProxy (`send-proxy`, `send-proxy-v2`), stunnel and the cloud load balancers
relay TCP connections and, before the first byte of HTTP, send one header
saying who really connected: version 1 is a text line, version 2 a binary
frame that may carry TLVs (the TLS details, the SNI host, a connection id).

1. This module does no I/O and keeps no time, like the rest of the protocol
   layer. `parse_proxy_header(data)` looks at the bytes received so far and
   answers `NEED_DATA`, a `ProxyHeader`, or raises `ProxyProtocolError`.
   The caller keeps the buffer, feeds everything after `header.length` to
   HTTP, and enforces the deadline: a peer that starts a header and stalls
   must be cut off by whoever reads the socket (`Limits.head_timeout` is the
   natural bound).
2. It is strict, as the specification asks. Anything that is not exactly a
   header, or a header longer than `max_header_bytes`, is an error as soon as
   the bytes show it, without waiting for more: a client that connects
   directly and sends ``GET /`` is refused on its first segment. The
   connection is then closed without an HTTP response: the peer has not
   reached HTTP yet, and the specification says to abort.
3. It is opt-in per listener and never guessed: a server that accepted the
   header from anyone would let any client choose its own address.

A header may say "use the connection's own addresses" (v2 LOCAL, the proxy's
health checks; v1 UNKNOWN; v2 AF_UNSPEC): then `source` is None and
`client(peer)` gives the peer back.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass
from typing import Literal

from .errors import ProtocolError
from .events import NEED_DATA, Wait

#: The twelve bytes every version 2 header starts with.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: A version 1 header starts with these; it is one line of at most 107 bytes.
V1_PREFIX = b"PROXY "
V1_MAX_LENGTH = 107
#: Default bound on a whole header, TLVs included (v2 allows 16 + 65535 bytes).
MAX_HEADER_BYTES = 4096

Address = tuple[str, int] | str


class ProxyProtocolError(ProtocolError):
    """The bytes are not a valid PROXY header: close the connection, answer nothing."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


@dataclass(frozen=True, slots=True)
class ProxySSL:
    """What the proxy knew of the client's TLS connection (v2 `PP2_TYPE_SSL`).

    `verified` is True only when the client presented a certificate and the
    proxy verified it. String fields are None when the proxy did not send them.
    """

    tls: bool
    certificate_on_connection: bool
    certificate_in_session: bool
    verified: bool
    version: str | None = None
    cipher: str | None = None
    common_name: str | None = None
    signature_algorithm: str | None = None
    key_algorithm: str | None = None


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """One parsed header.

    - `length`: bytes it took; what follows in the buffer is the client's data
    - `source`, `destination`: ``(host, port)`` for TCP over IPv4 or IPv6, a
      path for AF_UNIX, None when the connection's own addresses stand
    - `transport`: ``"stream"``, ``"dgram"`` or ``"unspec"``
    - `tlvs`: every v2 TLV as ``(type, value)``, in order, the known ones
      also decoded into `alpn`, `authority` (the SNI host), `unique_id` and
      `ssl`
    """

    version: Literal[1, 2]
    length: int
    source: Address | None = None
    destination: Address | None = None
    transport: str = "stream"
    tlvs: tuple[tuple[int, bytes], ...] = ()
    alpn: bytes | None = None
    authority: str | None = None
    unique_id: bytes | None = None
    ssl: ProxySSL | None = None

    def client(self, peer: tuple[str, int] | None) -> tuple[str, int] | None:
        """The address requests on this connection come from.

        The header's source when it names an IP endpoint; `peer` when the
        header says to use the connection's own (LOCAL, UNKNOWN, UNSPEC);
        None for an AF_UNIX source, which has no address to show.
        """
        if self.source is None:
            return peer
        return self.source if isinstance(self.source, tuple) else None

    def server(self, own: tuple[str, int] | None) -> tuple[str, int] | None:
        """The address the client connected to: as `client`, for the destination."""
        if self.source is None:
            return own
        return self.destination if isinstance(self.destination, tuple) else None


def parse_proxy_header(data: bytes, max_header_bytes: int = MAX_HEADER_BYTES,
                       ) -> ProxyHeader | Wait:
    """Parse the PROXY header at the start of `data` (v1 or v2).

    Returns `NEED_DATA` while `data` could still become a valid header,
    raises `ProxyProtocolError` as soon as it cannot.
    """
    if data[:1] == b"P":
        if not data.startswith(V1_PREFIX[:len(data)]):
            raise ProxyProtocolError("not a PROXY protocol header")
        return _parse_v1(data, min(V1_MAX_LENGTH, max_header_bytes))
    if not data:
        return NEED_DATA
    if not V2_SIGNATURE.startswith(data[:len(V2_SIGNATURE)]):
        raise ProxyProtocolError("not a PROXY protocol header")
    return _parse_v2(data, max_header_bytes)


# -- version 1: one text line ---------------------------------------------------

_PORT = rb"(?:0|[1-9][0-9]{0,4})"
_V1_LINE = re.compile(rb"PROXY (TCP4|TCP6) ([0-9a-fA-F.:]+) ([0-9a-fA-F.:]+) (" + _PORT
                      + rb") (" + _PORT + rb")")


def _parse_v1(data: bytes, limit: int) -> ProxyHeader | Wait:
    end = data.find(b"\r\n", 0, limit)
    if end < 0:
        if len(data) >= limit:
            raise ProxyProtocolError("PROXY v1 line too long")
        if b"\n" in data or b"\r" in data[:-1]:
            raise ProxyProtocolError("PROXY v1 line not ended by CRLF")
        return NEED_DATA
    line = data[:end]
    if b"\r" in line or b"\n" in line:
        raise ProxyProtocolError("PROXY v1 line not ended by CRLF")
    if line == b"PROXY UNKNOWN" or line.startswith(b"PROXY UNKNOWN "):
        return ProxyHeader(version=1, length=end + 2, transport="unspec")
    match = _V1_LINE.fullmatch(line)
    if match is None:
        raise ProxyProtocolError("malformed PROXY v1 line")
    family, source, destination, source_port, destination_port = match.groups()
    parse_address = _ipv4_text if family == b"TCP4" else _ipv6_text
    return ProxyHeader(
        version=1,
        length=end + 2,
        source=(parse_address(source), _port(source_port)),
        destination=(parse_address(destination), _port(destination_port)),
    )


def _ipv4_text(text: bytes) -> str:
    # ipaddress refuses leading zeros (octal ambiguity), as the specification does.
    try:
        return str(ipaddress.IPv4Address(text.decode("ascii")))
    except ValueError:
        raise ProxyProtocolError("malformed address in PROXY v1 line") from None


def _ipv6_text(text: bytes) -> str:
    if b"." in text:  # hex groups only: no embedded IPv4 form
        raise ProxyProtocolError("malformed address in PROXY v1 line")
    try:
        return str(ipaddress.IPv6Address(text.decode("ascii")))
    except ValueError:
        raise ProxyProtocolError("malformed address in PROXY v1 line") from None


def _port(text: bytes) -> int:
    port = int(text)
    if port > 65535:
        raise ProxyProtocolError("port out of range in PROXY v1 line")
    return port


# -- version 2: a binary frame ----------------------------------------------------

_V2_FIXED = 16
_COMMAND_LOCAL, _COMMAND_PROXY = 0x0, 0x1
_TRANSPORTS = {0x0: "unspec", 0x1: "stream", 0x2: "dgram"}
#: Address family -> bytes of its address block (source and destination, ports).
_ADDRESS_BYTES = {0x0: 0, 0x1: 12, 0x2: 36, 0x3: 216}

_TYPE_ALPN, _TYPE_AUTHORITY, _TYPE_CRC32C, _TYPE_UNIQUE_ID, _TYPE_SSL = (
    0x01, 0x02, 0x03, 0x05, 0x20)
_MAX_UNIQUE_ID = 128
_SSL_FIELDS = {0x21: "version", 0x23: "cipher", 0x22: "common_name",
               0x24: "signature_algorithm", 0x25: "key_algorithm"}


def _parse_v2(data: bytes, limit: int) -> ProxyHeader | Wait:
    if len(data) < _V2_FIXED:
        return NEED_DATA
    version_command, family_transport, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2:
        raise ProxyProtocolError("unsupported PROXY protocol version")
    command = version_command & 0xF
    if command not in (_COMMAND_LOCAL, _COMMAND_PROXY):
        raise ProxyProtocolError("unknown PROXY v2 command")
    family, transport = family_transport >> 4, family_transport & 0xF
    if family not in _ADDRESS_BYTES or transport not in _TRANSPORTS \
            or (family == 0) != (transport == 0):
        raise ProxyProtocolError("unknown PROXY v2 address family or transport")
    total = _V2_FIXED + length
    if total > limit:
        raise ProxyProtocolError("PROXY v2 header too long")
    if len(data) < total:
        return NEED_DATA
    address_end = _V2_FIXED + _ADDRESS_BYTES[family]
    if total < address_end:
        raise ProxyProtocolError("PROXY v2 address block too short")
    header = data[:total]
    tlvs = _tlvs(header, address_end, total)
    alpn = authority = unique_id = ssl = None
    for kind, start, end in tlvs:
        value = header[start:end]
        if kind == _TYPE_CRC32C:
            _check_crc32c(header, start, end)
        elif kind == _TYPE_ALPN:
            alpn = value
        elif kind == _TYPE_AUTHORITY:
            authority = _text(value, "authority")
        elif kind == _TYPE_UNIQUE_ID:
            if len(value) > _MAX_UNIQUE_ID:
                raise ProxyProtocolError("PROXY v2 unique id longer than 128 bytes")
            unique_id = value
        elif kind == _TYPE_SSL:
            ssl = _ssl(value)
    source = destination = None
    if command == _COMMAND_PROXY and family != 0:
        source, destination = _addresses(family, header[_V2_FIXED:address_end])
    return ProxyHeader(
        version=2,
        length=total,
        source=source,
        destination=destination,
        transport=_TRANSPORTS[transport] if source is not None else "unspec",
        tlvs=tuple((kind, header[start:end]) for kind, start, end in tlvs),
        alpn=alpn,
        authority=authority,
        unique_id=unique_id,
        ssl=ssl,
    )


def _addresses(family: int, block: bytes) -> tuple[Address, Address]:
    if family == 0x3:
        return _unix_path(block[:108]), _unix_path(block[108:])
    size = 4 if family == 0x1 else 16
    make = ipaddress.IPv4Address if family == 0x1 else ipaddress.IPv6Address
    source_port, destination_port = struct.unpack_from("!HH", block, 2 * size)
    return ((str(make(block[:size])), source_port),
            (str(make(block[size:2 * size])), destination_port))


def _unix_path(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _tlvs(data: bytes, offset: int, end: int) -> list[tuple[int, int, int]]:
    """(type, value start, value end) of each TLV in `data[offset:end]`.

    A TLV that runs past `end` is an error: a length field that lies is
    exactly what the strict parser is for.
    """
    tlvs = []
    while offset < end:
        if end - offset < 3:
            raise ProxyProtocolError("truncated PROXY v2 TLV")
        kind, size = data[offset], (data[offset + 1] << 8) | data[offset + 2]
        offset += 3
        if offset + size > end:
            raise ProxyProtocolError("PROXY v2 TLV longer than its header")
        tlvs.append((kind, offset, offset + size))
        offset += size
    return tlvs


def _ssl(value: bytes) -> ProxySSL:
    if len(value) < 5:
        raise ProxyProtocolError("truncated PROXY v2 SSL TLV")
    client, verify = struct.unpack_from("!BI", value)
    strings = {_SSL_FIELDS[kind]: _text(value[start:end], "SSL field")
               for kind, start, end in _tlvs(value, 5, len(value)) if kind in _SSL_FIELDS}
    return ProxySSL(
        tls=bool(client & 0x01),
        certificate_on_connection=bool(client & 0x02),
        certificate_in_session=bool(client & 0x04),
        verified=bool(client & 0x06) and verify == 0,
        **strings,
    )


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ProxyProtocolError(f"PROXY v2 {what} is not UTF-8") from None


def _check_crc32c(header: bytes, start: int, end: int) -> None:
    """The header's CRC32c, computed with the checksum's own bytes zeroed (RFC 4960 B)."""
    if end - start != 4:
        raise ProxyProtocolError("PROXY v2 CRC32c TLV is not 4 bytes")
    expected = struct.unpack_from("!I", header, start)[0]
    if _crc32c(header[:start] + b"\0\0\0\0" + header[end:]) != expected:
        raise ProxyProtocolError("PROXY v2 header checksum mismatch")


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def _crc32c(data: bytes) -> int:
    """CRC32c (Castagnoli); neither zlib nor binascii has this polynomial."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
