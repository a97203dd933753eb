"""TLS on the threaded server, with trustme certificates and real clients."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx
import pytest
import trustme
from harness import CLIENT_TIMEOUT

import webpy as web

ServerFactory = Callable[..., web.HTTPServer]


class Hello(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, f"hello over {self.request.scheme}"


class Echo(web.HTTPHandler):
    stream_request_body = True

    def do_put(self) -> tuple[int, bytes]:
        assert self.request.stream is not None
        return 200, self.request.stream.read()


def big_file_routes(path: Path) -> dict[str, type[web.HTTPHandler]]:
    class BigFile(web.HTTPHandler):
        def do_get(self) -> tuple[int, IO[bytes]]:
            return 200, path.open("rb")

    return {"/": Hello, "/echo": Echo, "/big": BigFile}


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * 8192)  # 2 MiB of a recognisable pattern
    return path


def test_https_request_with_an_ssl_context(start_server: ServerFactory,
                                           server_ssl_context: ssl.SSLContext,
                                           client_ssl_context: ssl.SSLContext,
                                           big_file: Path) -> None:
    server = start_server(big_file_routes(big_file), ssl_context=server_ssl_context)
    assert server.url.startswith("https://")
    with httpx.Client(base_url=server.url, verify=client_ssl_context,
                      timeout=CLIENT_TIMEOUT) as client:
        assert client.get("/").text == "hello over https"
        assert client.get("/big").content == big_file.read_bytes()
        payload = b"y" * 300_000
        assert client.put("/echo", content=payload,
                          headers={"Expect": "100-continue"}).content == payload


def test_https_with_key_and_certificate_files(start_server: ServerFactory,
                                             certificate_authority: trustme.CA,
                                             client_ssl_context: ssl.SSLContext,
                                             tmp_path: Path) -> None:
    certificate = certificate_authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.cert_chain_pems[0].write_to_path(str(certfile))
    certificate.private_key_pem.write_to_path(str(keyfile))
    server = start_server({"/": Hello}, certfile=str(certfile), keyfile=str(keyfile))
    response = httpx.get(server.url, verify=client_ssl_context, timeout=CLIENT_TIMEOUT)
    assert response.text == "hello over https"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_downloads_over_https_byte_for_byte(start_server: ServerFactory,
                                                 server_ssl_context: ssl.SSLContext,
                                                 certificate_authority: trustme.CA,
                                                 big_file: Path, tmp_path: Path) -> None:
    server = start_server(big_file_routes(big_file), ssl_context=server_ssl_context)
    ca_file = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(ca_file))
    output = tmp_path / "out.bin"
    subprocess.run(["curl", "-sSf", "--cacert", str(ca_file), "-o", str(output),
                    server.url + "big"], check=True, timeout=CLIENT_TIMEOUT)
    assert output.read_bytes() == big_file.read_bytes()


def test_silent_and_plaintext_clients_do_not_delay_tls_clients(
        start_server: ServerFactory, server_ssl_context: ssl.SSLContext,
        client_ssl_context: ssl.SSLContext) -> None:
    server = start_server({"/": Hello}, threads=1, ssl_context=server_ssl_context)
    silent = socket.create_connection(server.server_address, timeout=CLIENT_TIMEOUT)
    plaintext = socket.create_connection(server.server_address, timeout=CLIENT_TIMEOUT)
    plaintext.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = httpx.get(server.url, verify=client_ssl_context, timeout=CLIENT_TIMEOUT)
    assert response.text == "hello over https"
    try:
        leftover = plaintext.recv(65536)
    except ConnectionResetError:
        leftover = b""
    # Plain HTTP on the TLS port is told so, in plain text, as nginx does.
    assert leftover.startswith(b"HTTP/1.1 400 ")
    assert b"plain HTTP request was sent to an HTTPS port" in leftover
    silent.close()
    plaintext.close()
