"""A chunked body costs memory in proportion to its bytes, not to its number of chunks.

Each chunk used to become its own event and its own bytes object, about 137
bytes of memory per chunk however small: a body of a million one-byte chunks
(6 MB on the wire) took 131 MiB. The chunks found in one read are now joined
into one piece. Measured with tracemalloc through the protocol layer, reading
as a transport does (64 KiB at a time) and keeping every piece as the driver
does. 100,000 chunks keep the test quick under tracemalloc; the cost per
chunk, if it came back, would show at any count.
"""

from __future__ import annotations

import tracemalloc

from webpy.protocol import NEED_DATA, BodyChunk, Limits, RequestEnd, RequestHead, ServerConnection

CHUNKS = 100_000
READ_SIZE = 64 * 1024
HEAD = b"PUT /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"


def _read_body(wire: bytes) -> tuple[list[bytes], int]:
    """Every body piece the connection hands out, and how many reads it took."""
    connection = ServerConnection(Limits(max_body_bytes=16 * 1024 * 1024))
    pieces: list[bytes] = []
    position = reads = 0
    while True:
        event = connection.next_event()
        if event is NEED_DATA:
            connection.receive_data(wire[position:position + READ_SIZE])
            position += READ_SIZE
            reads += 1
        elif type(event) is BodyChunk:
            pieces.append(event.data)
        elif type(event) is RequestEnd:
            return pieces, reads
        else:
            assert type(event) is RequestHead


def test_body_of_many_one_byte_chunks_costs_memory_by_its_bytes() -> None:
    body = b"1\r\nx\r\n" * CHUNKS + b"0\r\n\r\n"
    wire = HEAD + body
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        pieces, reads = _read_body(wire)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(body), f"{peak} bytes traced for a {len(body)}-byte body"
    assert b"".join(pieces) == b"x" * CHUNKS
    assert len(pieces) <= reads  # one piece per read at most, not one per chunk


def test_large_chunks_spanning_reads_arrive_whole_and_in_order() -> None:
    payload = bytes(range(256)) * 1024  # 256 KiB
    body = b"%x\r\n" % len(payload) + payload + b"\r\n" + b"3\r\nend\r\n0\r\n\r\n"
    pieces, reads = _read_body(HEAD + body)
    assert b"".join(pieces) == payload + b"end"
    assert reads >= 4
