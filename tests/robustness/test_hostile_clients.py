"""Slow and hostile clients on every socket transport, with a normal client alongside.

Each scenario opens a crowd of hostile connections to a threaded or trio
server with small timeouts (so it lasts a moment, not minutes), and while they
are open a normal client (httpx, over a fresh connection per request) keeps
making requests that must all succeed. Then every hostile connection must be
answered as documented (408, 503) or closed, and the server must let go of
what it held: its threads, file descriptors and memory return near the
baseline taken before the scenario, counted (not timed) by `Footprint`.

The server runs in this process, so the counts are the server's plus the test's
own sockets; hostile sockets are counted in while open and closed before the
final check.
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import ssl

import httpx
from harness import CLIENT_TIMEOUT

from robustness.clients import (
    CROWD,
    Served,
    crowd,
    read_until_closed,
    serving,
    settles_back,
    warmed_baseline,
)

# -- slow clients ----------------------------------------------------------------------------


def test_slowloris_heads_get_408_while_normal_clients_are_served(transport: str) -> None:
    with serving(transport) as served:
        baseline = warmed_baseline(served)
        with crowd(served.raw) as attackers:
            head = b"GET /slow HTTP/1.1\r\nHost: test\r\nX-Padding: " + b"a" * 64
            for position in range(8):  # trickled: one more byte from each, between requests
                for attacker in attackers:
                    attacker.sendall(head[position * 8:(position + 1) * 8])
                assert served.normal_requests(1) == [200]
            answers = [read_until_closed(attacker) for attacker in attackers]
            assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
            settles_back(baseline, extra_fds=CROWD, extra_threads=served.spare_threads)
        assert served.normal_requests() == [200] * 5
        settles_back(baseline, extra_threads=served.spare_threads)


def test_slow_bodies_get_408_while_normal_clients_are_served(transport: str) -> None:
    with serving(transport) as served:
        baseline = warmed_baseline(served)
        with crowd(served.raw) as attackers:
            for attacker in attackers:
                attacker.sendall(b"POST /upload HTTP/1.1\r\nHost: test\r\n"
                                 b"Content-Length: 100000\r\n\r\n" + b"a" * 100)
            assert served.normal_requests() == [200] * 5
            answers = [read_until_closed(attacker) for attacker in attackers]
            assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
            settles_back(baseline, extra_fds=CROWD, extra_threads=served.spare_threads)
        settles_back(baseline, extra_threads=served.spare_threads)


def _never_reads(served: Served) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(CLIENT_TIMEOUT)
    sock.connect(served.address)
    # Far more response bytes than any socket buffer holds.
    sock.sendall(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n" * 32)
    # Wait (without reading) until the server has started to answer: it is now
    # writing to a client that will never read.
    readable, _, _ = select.select([sock], [], [], CLIENT_TIMEOUT)
    assert readable, "the server never started answering"
    return sock


def test_clients_that_never_read_are_dropped_while_normal_clients_are_served(
        transport: str) -> None:
    with serving(transport) as served:
        baseline = warmed_baseline(served)
        with crowd(lambda: _never_reads(served), count=8):
            assert served.normal_requests() == [200] * 5
            # The server drops them at write_timeout: only our ends remain open.
            settles_back(baseline, extra_fds=8, extra_threads=served.spare_threads)
        assert served.normal_requests() == [200] * 5
        settles_back(baseline, extra_threads=served.spare_threads)


def test_connection_flood_is_served_up_to_the_bound_and_refused_beyond(transport: str) -> None:
    bound = 16
    with serving(transport, max_connections=bound, keepalive_timeout=5.0) as served:
        baseline = warmed_baseline(served)
        with crowd(served.raw, count=bound - 1) as idle:
            # The bound is full with the normal client's connection: it is still served.
            with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
                response = client.get(f"{served.url}/normal")
                assert response.status_code == 200
                with contextlib.closing(served.raw()) as beyond:
                    refusal = read_until_closed(beyond)
                assert refusal.startswith(b"HTTP/1.1 503 ")
                assert b"\r\nRetry-After: " in refusal.partition(b"\r\n\r\n")[0]
            # The flood's connections were accepted and are still open, and usable.
            idle[0].sendall(b"GET /from-the-flood HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert read_until_closed(idle[0]).startswith(b"HTTP/1.1 200 ")
        assert served.normal_requests() == [200] * 5
        settles_back(baseline, extra_threads=served.spare_threads)


# -- hostile TLS --------------------------------------------------------------------------------


def test_stalled_tls_handshakes_are_closed_while_normal_clients_are_served(
        transport: str, server_ssl_context: ssl.SSLContext,
        client_ssl_context: ssl.SSLContext) -> None:
    with serving(transport, server_ssl_context, client_ssl_context) as served:
        baseline = warmed_baseline(served)
        with crowd(served.raw) as attackers:
            # Half send nothing at all, half the first bytes of a TLS record, then stall.
            for attacker in attackers[::2]:
                attacker.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            assert served.normal_requests() == [200] * 5
            answers = [read_until_closed(attacker) for attacker in attackers]
            assert all(not answer.startswith(b"HTTP/") for answer in answers)
            settles_back(baseline, extra_fds=CROWD, extra_threads=served.spare_threads)
        settles_back(baseline, extra_threads=served.spare_threads)


def test_garbage_instead_of_tls_is_closed_while_normal_clients_are_served(
        transport: str, server_ssl_context: ssl.SSLContext,
        client_ssl_context: ssl.SSLContext) -> None:
    generator = random.Random(17)
    with serving(transport, server_ssl_context, client_ssl_context) as served:
        baseline = warmed_baseline(served)
        with crowd(served.raw) as attackers:
            for number, attacker in enumerate(attackers):
                garbage = bytes(generator.randrange(256) for _ in range(512))
                if number % 3 == 0:  # a TLS record header, then garbage inside it
                    garbage = b"\x16\x03\x01\x01\xff" + garbage
                attacker.sendall(garbage)
            assert served.normal_requests() == [200] * 5
            for attacker in attackers:
                read_until_closed(attacker)
            settles_back(baseline, extra_fds=CROWD, extra_threads=served.spare_threads)
        settles_back(baseline, extra_threads=served.spare_threads)


def test_plain_http_to_the_tls_port_gets_a_400_that_says_so(
        transport: str, server_ssl_context: ssl.SSLContext) -> None:
    with serving(transport, server_ssl_context) as served, \
            contextlib.closing(served.raw()) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert b"HTTPS" in answer.partition(b"\r\n\r\n")[2]
