"""webpy listening with the PROXY protocol: real HAProxy in front, and hand-built frames.

Both socket transports. The handler answers with the client address the
request carries; the test knows what it must be (the test client's own
address as HAProxy saw it, or the address written into a hand-built frame).
"""

from __future__ import annotations

import socket
import ssl

import pytest

import webpy as web

from .frames import LOCAL, TCP4, TCP6, addresses, frame, ssl_tlv, tlv
from .proxies import HAProxy, get_through
from .serving import TRANSPORTS, ServerFactory, factory

TIMEOUT = 10.0


class WhoAmI(web.HTTPHandler):
    def do_get(self):  # type: ignore[no-untyped-def]
        client = self.request.client
        return 200, f"{client[0]} {client[1]} {self.request.scheme}" if client else "none"


ROUTES = {"/": WhoAmI}


def raw_get(address: tuple[str, int], preamble: bytes) -> bytes:
    """Send `preamble` and a GET on a new connection; everything until the server closes."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(preamble + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def answer_or_reset(address: tuple[str, int], preamble: bytes) -> bytes:
    """What `raw_get` receives; ``b""`` if the server reset the connection (unread bytes)."""
    try:
        return raw_get(address, preamble)
    except ConnectionResetError:
        return b""


def body(response: bytes) -> str:
    head, _, rest = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response[:200]
    return rest.decode()


@pytest.fixture(params=sorted(TRANSPORTS))
def serve(request: pytest.FixtureRequest) -> ServerFactory:
    return factory(request.param)


def test_v1_header_sets_the_client_address(serve: ServerFactory) -> None:
    with serve(ROUTES, proxy_protocol=True) as address:
        answer = raw_get(address, b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 8080\r\n")
    assert body(answer) == "203.0.113.7 51234 http"


def test_v2_frame_sets_the_client_address(serve: ServerFactory) -> None:
    block = addresses(TCP6, ("2001:db8::7", 443), ("2001:db8::1", 8443)) + tlv(0x02, b"shop")
    with serve(ROUTES, proxy_protocol=True) as address:
        answer = raw_get(address, frame(block, family=TCP6))
    assert body(answer) == "2001:db8::7 443 http"


def test_v2_local_health_check_keeps_the_real_peer(serve: ServerFactory) -> None:
    with serve(ROUTES, proxy_protocol=True) as address:
        answer = raw_get(address, frame(b"", command=LOCAL, family=0))
    assert body(answer).startswith("127.0.0.1 ")


def test_v2_ssl_tlv_means_the_client_used_https(serve: ServerFactory) -> None:
    block = addresses(TCP4, ("203.0.113.7", 1), ("10.0.0.2", 2)) + ssl_tlv(0x01, 0)
    with serve(ROUTES, proxy_protocol=True) as address:
        assert body(raw_get(address, frame(block))) == "203.0.113.7 1 https"


@pytest.mark.parametrize("preamble", [
    b"",                                            # a direct client, no header at all
    b"PROXY TCP4 203.0.113.7 10.0.0.2 51234\r\n",   # a field missing
    frame(b"\x00" * 11),                            # v2 address block too short
    b"\r\n\r\n\x00\r\nQUIX\n" + b"\x21\x11\x00\x0c" + b"\x00" * 12,   # bad signature
])
def test_bad_header_closes_the_connection_without_an_answer(serve: ServerFactory,
                                                            preamble: bytes) -> None:
    with serve(ROUTES, proxy_protocol=True) as address:
        assert answer_or_reset(address, preamble) == b""
        # ... and the server carries on
        assert body(raw_get(address, b"PROXY UNKNOWN\r\n")).startswith("127.0.0.1 ")


def test_header_that_stalls_is_cut_off_at_the_head_timeout(serve: ServerFactory) -> None:
    with serve(ROUTES, proxy_protocol=True, head_timeout=0.5) as address, \
            socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(b"PROXY TCP4 203.0.113.7 ")  # and nothing more
        assert sock.recv(100) == b""               # closed by the server, no answer


def test_proxy_protocol_is_off_by_default(serve: ServerFactory) -> None:
    with serve(ROUTES) as address:
        answer = raw_get(address, b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 8080\r\n")
    assert answer.startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize("option", ["send-proxy", "send-proxy-v2"])
def test_haproxy_in_front_gives_webpy_the_clients_address(serve: ServerFactory,
                                                          haproxy: HAProxy, option: str) -> None:
    with serve(ROUTES, proxy_protocol=True) as upstream:
        # One upstream connection per request: none is between requests when the server stops.
        address = haproxy.start(upstream[1], server_options=option,
                                frontend="option http-server-close")
        local, data = get_through(address)
    assert body(data) == f"{local[0]} {local[1]} http"


def test_haproxy_sends_proxy_v2_then_tls_to_a_tls_listener(
        serve: ServerFactory, haproxy: HAProxy, server_ssl_context: ssl.SSLContext) -> None:
    with serve(ROUTES, proxy_protocol=True, ssl_context=server_ssl_context) as upstream:
        address = haproxy.start(upstream[1], server_options="send-proxy-v2 ssl verify none",
                                frontend="option http-server-close")
        local, data = get_through(address)
    assert body(data) == f"{local[0]} {local[1]} https"
