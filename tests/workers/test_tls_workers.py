"""Worker processes serve HTTPS on either transport, and answer plain HTTP with a 400."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import trustme
from harness import CLIENT_TIMEOUT

from .server import Workers


def test_workers_serve_https_and_answer_plain_http_with_400(
        tmp_path: Path, transport: str, certificate_authority: trustme.CA,
        client_ssl_context: ssl.SSLContext) -> None:
    certificate = tmp_path / "server.pem"
    certificate_authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(certificate))
    workers = Workers(tmp_path / "record", transport, "--processes", "2", "--threads", "2",
                      "--cert", str(certificate))
    host, port = workers.address
    try:
        with httpx.Client(verify=client_ssl_context, timeout=CLIENT_TIMEOUT) as client:
            answers = [client.get(f"https://{host}:{port}/?id=tls{n}") for n in range(4)]
        plain = httpx.get(f"http://{host}:{port}/?id=plain", timeout=CLIENT_TIMEOUT)
    finally:
        assert workers.stop() == 0
    assert [answer.text.split()[:2] for answer in answers] == [
        ["ok", f"tls{n}"] for n in range(4)]
    assert plain.status_code == 400 and "HTTPS" in plain.text
    assert [tag for tag, _ in workers.handled()] == [f"tls{n}" for n in range(4)]
