"""PROXY protocol v2 frames built by hand, field by field, for the parser tests."""

from __future__ import annotations

import ipaddress
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
LOCAL, PROXY = 0x0, 0x1
TCP4, UDP4, TCP6, UNIX_STREAM, UNSPEC = 0x11, 0x12, 0x21, 0x31, 0x00


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def ssl_tlv(client: int, verify: int, *subs: bytes) -> bytes:
    return tlv(0x20, struct.pack("!BI", client, verify) + b"".join(subs))


def addresses(family: int, source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    if family in (TCP4, UDP4):
        return (ipaddress.IPv4Address(source[0]).packed
                + ipaddress.IPv4Address(destination[0]).packed
                + struct.pack("!HH", source[1], destination[1]))
    return (ipaddress.IPv6Address(source[0]).packed
            + ipaddress.IPv6Address(destination[0]).packed
            + struct.pack("!HH", source[1], destination[1]))


def frame(block: bytes = b"", *, command: int = PROXY, family: int = TCP4,
          version: int = 2, length: int | None = None) -> bytes:
    """Signature, version/command, family/transport, length, then `block` as is."""
    size = len(block) if length is None else length
    return SIGNATURE + bytes([version << 4 | command, family]) + struct.pack("!H", size) + block


def crc32c(data: bytes) -> int:
    """Bit by bit, independent of the table-driven one under test."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 * (crc & 1))
    return crc ^ 0xFFFFFFFF


def with_checksum(block: bytes, **options: int) -> bytes:
    """A frame whose last TLV is a correct CRC32c of the whole header."""
    unsummed = frame(block + tlv(0x03, b"\0\0\0\0"), **options)
    return unsummed[:-4] + struct.pack("!I", crc32c(unsummed))
