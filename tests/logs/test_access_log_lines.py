"""Access log lines on both transports: formats, escaping, upstream client, duration, request id.

Each test serves real sockets and reads the lines a logging handler with an
`AccessFormatter` wrote, as a deployment's log shipper would.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import socket
from collections.abc import Iterator

import pytest
from harness import CLIENT_TIMEOUT
from harness_trio import running_in_thread

import webpy as web
from webpy.transports.access_log import AccessFormatter, escape
from webpy.transports.trio import serve

Address = tuple[str, int]


class Hello(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, "hello"


ROUTES = {"/.*": Hello}


class Lines(logging.Handler):
    def __init__(self, format: str) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(AccessFormatter(format))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def access_log(format: str) -> Iterator[list[str]]:
    logger = logging.getLogger("webpy.access")
    handler = Lines(format)
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.INFO)
    logger.disabled = False  # another test's logging.config may have disabled it
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled


@contextlib.contextmanager
def threaded(**options: object) -> Iterator[Address]:
    with web.HTTPServer(("127.0.0.1", 0), ROUTES, threads=2, **options) as server:
        yield server.server_address


@contextlib.contextmanager
def trio_server(**options: object) -> Iterator[Address]:
    start = functools.partial(serve, ROUTES, "127.0.0.1", 0, thread_limit=2, **options)
    with running_in_thread(start) as (addresses, _):
        yield addresses[0]


SERVERS = {"threaded": threaded, "trio": trio_server}


def exchange(address: Address, data: bytes) -> bytes:
    """Send `data`, read until the server closes (the requests ask it to)."""
    with socket.create_connection(address, timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize("transport", sorted(SERVERS))
def test_combined_format_escapes_what_the_client_chose(transport: str) -> None:
    # The server refuses control bytes in a head (400), so quotes, backslashes and
    # bytes outside ASCII are what a client can still try to forge a field with.
    hostile = b'evil" 200 1 "forged\\ \xff\xe9'
    with access_log("combined") as lines, SERVERS[transport]() as address:
        received = exchange(address, b"GET /a?b=%22 HTTP/1.1\r\nHost: x\r\nReferer: "
                            b"http://r/\x80\r\nUser-Agent: " + hostile
                            + b"\r\nConnection: close\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 ")
    [line] = lines
    assert line.isprintable() and line.isascii()
    match = re.fullmatch(
        r'127\.0\.0\.1 - - \[[^]]+\] "GET /a\?b=%22 HTTP/1\.1" 200 5 "([^"]*)" "([^"]*)"', line)
    assert match, line
    assert match[1] == "http://r/\\x80"
    assert match[2] == "evil\\x22 200 1 \\x22forged\\x5c \\xff\\xe9"


@pytest.mark.parametrize("transport", sorted(SERVERS))
def test_json_lines_carry_every_field(transport: str) -> None:
    with access_log("json") as lines, SERVERS[transport]() as address:
        exchange(address, b"GET /x HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc-123\r\n"
                 b"User-Agent: t\xe9st\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\n"
                 b"Connection: close\r\n\r\n")
    first, second = (json.loads(line) for line in lines)
    assert all(line.isascii() for line in lines)
    assert first["client"] == first["upstream"] == "127.0.0.1"
    assert (first["method"], first["target"], first["status"], first["size"]) == (
        "GET", "/x", 200, 5)
    assert first["request_id"] == "abc-123" and first["user_agent"] == "t\xe9st"
    assert isinstance(first["duration_us"], int) and first["duration_us"] >= 0
    assert re.fullmatch(r"[0-9a-f]{32}", second["request_id"])  # none sent: a new one


@pytest.mark.parametrize("transport", sorted(SERVERS))
def test_the_upstream_field_names_the_proxy_and_client_the_real_client(transport: str) -> None:
    template = "{client} via {upstream} {request_id} {duration_us} {status}"
    with access_log(template) as lines, SERVERS[transport](proxy_protocol=True) as address:
        exchange(address, b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
                 b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: r1\r\nConnection: close\r\n\r\n")
    [line] = lines
    client, via, upstream, request_id, duration, status = line.split()
    assert (client, via, upstream, request_id, status) == (
        "203.0.113.7", "via", "127.0.0.1", "r1", "200")
    assert duration.isdigit()


@pytest.mark.parametrize("transport", sorted(SERVERS))
def test_a_refused_request_is_logged_with_what_is_known(transport: str) -> None:
    with access_log("combined") as lines, SERVERS[transport]() as address:
        received = exchange(address, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: "
                            + b"a" * 70_000 + b"\r\n\r\n")
        exchange(address, b"\x16\x03garbage\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 431 ")
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^]]+\] "-" 431 \d+ "-" "-"', lines[0])
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^]]+\] "-" 400 \d+ "-" "-"', lines[1])


def test_a_connection_past_max_connections_is_logged_as_503() -> None:
    with contextlib.ExitStack() as stack:
        lines = stack.enter_context(access_log("common"))
        address = stack.enter_context(threaded(max_connections=1))
        holder = stack.enter_context(socket.create_connection(address, timeout=CLIENT_TIMEOUT))
        holder.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert holder.recv(65536).startswith(b"HTTP/1.1 200 ")
        received = exchange(address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 503 ")
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^]]+\] "-" 503 \d+', lines[-1]), lines


def test_escape_leaves_printable_ascii_and_escapes_the_rest() -> None:
    assert escape("GET /a?b=c HTTP/1.1") == "GET /a?b=c HTTP/1.1"
    assert escape('\r\n\t"\\\x7f') == "\\x0d\\x0a\\x09\\x22\\x5c\\x7f"
    assert escape("caf\xe9 \u20ac") == "caf\\xe9 \\xe2\\x82\\xac"


def test_a_template_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown access log field 'clinet'"):
        AccessFormatter("{clinet} {status}")
    with pytest.raises(ValueError, match="names no field"):
        AccessFormatter("comon")
