"""Servers under attack and what they hold: shared by the hostile-client tests.

`serving` starts a threaded or trio server (through the conformance harnesses)
with timeouts small enough that a scenario takes about a second. `Footprint`
counts what the process holds (threads, file descriptors, resident memory);
`settles_back` waits for those counts to return near a baseline. The server
runs in this process, so the counts are the server's plus the test's own
sockets: hostile sockets still open are allowed for with `extra_fds`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from harness import CLIENT_TIMEOUT, HARNESSES

import webpy as web

#: Timeouts small enough that each scenario takes about a second.
TIMEOUTS: dict[str, Any] = {"head_timeout": 0.5, "body_timeout": 0.5, "write_timeout": 0.5,
                            "keepalive_timeout": 1.0}
#: Hostile connections per scenario: more than the threaded server's threads.
CROWD = 24
#: Growth in resident memory that still counts as "back near the baseline".
RSS_SLACK = 48 * 1024 * 1024
BIG = b"x" * (1024 * 1024)


class Hello(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, "hello"

    def do_post(self) -> tuple[int, bytes]:
        return 200, self.request.body


class Big(web.HTTPHandler):
    def do_get(self) -> tuple[int, bytes]:
        return 200, BIG


ROUTES = {"/big": Big, "/.*": Hello}


# -- footprint ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Footprint:
    threads: int
    file_descriptors: int
    resident_bytes: int

    @classmethod
    def now(cls) -> Footprint:
        """The current counts; resident memory after returning freed pages to the system.

        glibc keeps freed memory in its arenas (and after a large block is
        freed, serves later large blocks from them too), so without a trim
        memory that is no longer used would count as held.
        """
        _trim_freed_memory()
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
        return cls(threading.active_count(), len(os.listdir("/proc/self/fd")),
                   resident_pages * os.sysconf("SC_PAGE_SIZE"))

    def within(self, baseline: Footprint, *, extra_fds: int, extra_threads: int) -> bool:
        return (self.threads <= baseline.threads + extra_threads
                and self.file_descriptors <= baseline.file_descriptors + extra_fds
                and self.resident_bytes <= baseline.resident_bytes + RSS_SLACK)


def _trim_freed_memory() -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: measure as is
        pass


def settles_back(baseline: Footprint, *, extra_fds: int = 0, extra_threads: int = 0) -> Footprint:
    """Wait until the process footprint is back within `baseline` plus the extras.

    The server frees a connection's resources a moment after the client sees
    it close, with no event the test could wait on; so this checks the counts
    again until they settle or the client timeout passes. Only the counts are
    asserted, never how long they took.
    """
    deadline = time.monotonic() + CLIENT_TIMEOUT
    pause = threading.Event()
    while True:
        current = Footprint.now()
        if current.within(baseline, extra_fds=extra_fds, extra_threads=extra_threads):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"server did not let go: {current} against {baseline} "
                                 f"(+{extra_fds} fds, +{extra_threads} threads allowed)")
        pause.wait(0.02)


# -- servers and clients -------------------------------------------------------------------


@dataclass
class Served:
    address: tuple[str, int]
    scheme: str
    verify: ssl.SSLContext | bool
    #: Worker threads the transport may keep cached between requests (trio's thread cache).
    spare_threads: int

    @property
    def url(self) -> str:
        return f"{self.scheme}://localhost:{self.address[1]}"

    def raw(self) -> socket.socket:
        """A plain TCP connection, for clients that misbehave below HTTP."""
        return socket.create_connection(self.address, timeout=CLIENT_TIMEOUT)

    def normal_requests(self, count: int = 5) -> list[int]:
        """What a well-behaved client gets: a fresh connection and a GET each time."""
        statuses = []
        for number in range(count):
            with httpx.Client(verify=self.verify, timeout=CLIENT_TIMEOUT) as client:
                response = client.get(f"{self.url}/normal/{number}")
                assert response.text == "hello"
                statuses.append(response.status_code)
        return statuses


@contextlib.contextmanager
def serving(transport: str, ssl_context: ssl.SSLContext | None = None,
            verify: ssl.SSLContext | bool = False, **options: Any) -> Iterator[Served]:
    options = {**TIMEOUTS, **options}
    if ssl_context is not None:
        options["ssl_context"] = ssl_context
    with HARNESSES[transport]().serve(ROUTES, **options) as server:
        yield Served(server.address, "https" if ssl_context else "http", verify,
                     spare_threads=8 if transport == "trio" else 0)


@contextlib.contextmanager
def crowd(open_one: Callable[[], socket.socket], count: int = CROWD
          ) -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(open_one())
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset counts as closing)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, ssl.SSLError):
        pass
    return b"".join(chunks)


def warmed_baseline(served: Served) -> Footprint:
    """The footprint once the server has served a couple of normal requests."""
    assert served.normal_requests(2) == [200, 200]
    return Footprint.now()
