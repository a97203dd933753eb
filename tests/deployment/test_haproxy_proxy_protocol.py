"""The PROXY protocol parser on the headers a real HAProxy sends (send-proxy, send-proxy-v2).

HAProxy relays a client's request to an upstream that is a bare socket in
this test: it receives exactly the bytes HAProxy sends, parses the PROXY
header with `parse_proxy_header`, and answers with what it learnt. The
client checks that the upstream saw its own address and port, and, over
TLS, its TLS version, SNI name and the connection id HAProxy generated.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from webpy.protocol import NEED_DATA
from webpy.protocol.proxy import ProxyHeader, parse_proxy_header

from .proxies import HAProxy

TIMEOUT = 10.0


class RawUpstream:
    """Accepts connections, parses the PROXY header, answers HTTP with it as JSON."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.errors: list[BaseException] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            connection, _ = self.listener.accept()
            if self._stopping:
                connection.close()
                return
            with connection:
                try:
                    self._answer(connection)
                except Exception as error:  # reported to the test, not lost in a thread
                    self.errors.append(error)

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(TIMEOUT)
        data = b""
        header = parse_proxy_header(data)
        while header is NEED_DATA:
            chunk = connection.recv(4096)
            assert chunk, "HAProxy closed before a whole PROXY header"
            data += chunk
            header = parse_proxy_header(data)
        assert isinstance(header, ProxyHeader)
        rest = data[header.length:]
        while b"\r\n\r\n" not in rest:
            chunk = connection.recv(4096)
            assert chunk
            rest += chunk
        ssl_info = header.ssl
        body = json.dumps({
            "version": header.version,
            "source": header.source,
            "destination": header.destination,
            "request_line": rest.split(b"\r\n", 1)[0].decode(),
            "authority": header.authority,
            "unique_id": header.unique_id.decode() if header.unique_id else None,
            "tls": ssl_info.tls if ssl_info else None,
            "tls_version": ssl_info.version if ssl_info else None,
            "cipher": ssl_info.cipher if ssl_info else None,
            "crc32c": any(kind == 0x03 for kind, _ in header.tlvs),
        }).encode()
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                           % (len(body), body))

    def close(self) -> None:
        self._stopping = True
        socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT).close()  # wake accept
        self._thread.join(TIMEOUT)
        self.listener.close()


@pytest.fixture
def upstream() -> Iterator[RawUpstream]:
    server = RawUpstream()
    yield server
    server.close()
    assert server.errors == []


def get(address: tuple[str, int], context: ssl.SSLContext | None = None,
        ) -> tuple[dict[str, object], tuple[str, int]]:
    """GET / through the proxy; the JSON answer and the client's own address."""
    raw = socket.create_connection(address, timeout=TIMEOUT)
    local = raw.getsockname()[:2]
    sock = context.wrap_socket(raw, server_hostname="localhost") if context else raw
    with sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return json.loads(body), local


@pytest.mark.parametrize(("option", "version"), [("send-proxy", 1), ("send-proxy-v2", 2)])
def test_upstream_sees_the_clients_own_address_through_haproxy(
        haproxy: HAProxy, upstream: RawUpstream, option: str, version: int) -> None:
    address = haproxy.start(upstream.port, server_options=option)
    seen, local = get(address)
    assert seen["version"] == version
    assert seen["source"] == [local[0], local[1]]
    assert seen["destination"] == [address[0], address[1]]
    assert seen["request_line"] == "GET /hello HTTP/1.1"


def test_v2_tlvs_from_haproxy_terminating_tls(haproxy: HAProxy, upstream: RawUpstream,
                                              tmp_path: Path,
                                              certificate_authority: trustme.CA,
                                              client_ssl_context: ssl.SSLContext) -> None:
    pem = tmp_path / "haproxy.pem"
    certificate = certificate_authority.issue_cert("localhost")
    pem.write_bytes(certificate.private_key_and_cert_chain_pem.bytes())
    address = haproxy.start(
        upstream.port, certificate=pem, frontend='unique-id-format "conn-%ci-%cp"',
        server_options="send-proxy-v2 proxy-v2-options ssl,ssl-cipher,authority,crc32c,unique-id")
    seen, local = get(address, client_ssl_context)
    assert seen["source"] == [local[0], local[1]]
    assert seen["tls"] is True
    assert str(seen["tls_version"]).startswith("TLSv1.")
    assert seen["cipher"]
    assert seen["authority"] == "localhost"
    assert seen["unique_id"] == f"conn-{local[0]}-{local[1]}"
    assert seen["crc32c"] is True  # present, and it verified, or parsing would have failed
