"""The PROXY header step of the connection lifecycle, driven by hand (no socket).

What a transport is asked to do: peek, consume exactly the header's bytes
(never the first byte after it, which may be TLS), and only then go on.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

import webpy as web
from webpy.app import Application, ReadWriteLock
from webpy.protocol import Limits
from webpy.transports.actions import Consume, Peek, Read
from webpy.transports.driver import Site
from webpy.transports.lifecycle import Lifecycle
from webpy.transports.settings import Timeouts

from .frames import TCP4, addresses, frame

PEER = ("10.0.0.9", 5000)
V1 = b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 8080\r\n"
V2 = frame(addresses(TCP4, ("203.0.113.7", 51234), ("10.0.0.2", 8080)))


def lifecycle(tls: bool = False) -> Lifecycle:
    site = Site(Application({"/": web.HTTPHandler}), Limits(), ReadWriteLock, Timeouts())
    return Lifecycle(site, PEER, itertools.count().__next__, tls=tls, proxy=True)


def take_header(cycle: Lifecycle, pieces: list[bytes], after: bytes) -> object:
    """Deliver the header in `pieces` (each peeked, then consumed) with `after` behind it."""
    action = cycle.start()
    waiting = b""
    for index, piece in enumerate(pieces):
        assert type(action) is Peek
        waiting += piece
        visible = waiting + (after if index == len(pieces) - 1 else b"")
        action = cycle.send(visible[:action.size])
        assert type(action) is Consume
        assert action.count <= len(waiting)  # never a byte past the header
        waiting = waiting[action.count:]
        action = cycle.send(None)
    assert waiting == b""  # all of the header was consumed
    return action


@pytest.mark.parametrize("header", [V1, V2], ids=["v1", "v2"])
def test_whole_header_is_consumed_exactly_and_sets_the_client(header: bytes) -> None:
    cycle = lifecycle()
    action = take_header(cycle, [header], b"GET / HTTP/1.1\r\n")
    assert type(action) is Read  # on to HTTP, the request bytes still unread
    assert cycle.client == ("203.0.113.7", 51234)


@given(st.sampled_from([V1, V2]), st.data())
def test_header_in_any_pieces_is_consumed_exactly(header: bytes, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, len(header) - 1), max_size=4)))
    pieces = [header[start:end] for start, end in zip([0, *cuts], [*cuts, len(header)],
                                                      strict=True)]
    cycle = lifecycle(tls=True)
    action = take_header(cycle, pieces, b"\x16\x03\x01")
    assert type(action) is Peek and action.size == 8  # TLS sniffing starts on its own bytes
    assert cycle.client == ("203.0.113.7", 51234)


def test_bad_header_ends_the_connection_without_a_write() -> None:
    cycle = lifecycle()
    assert type(cycle.start()) is Peek
    assert cycle.send(b"GET / HTTP/1.1\r\n") is None


def test_silence_past_the_deadline_ends_the_connection() -> None:
    cycle = lifecycle()
    action = cycle.start()
    assert type(action) is Peek and cycle.deadline < float("inf")
    assert cycle.send(None) is None
