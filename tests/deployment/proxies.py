"""Real nginx and HAProxy in front of a test server: configs in a temporary
directory, processes started and stopped by the test, readiness by connecting.

A test asks for `nginx` or `haproxy` (fixtures in conftest.py) and calls
`.start(upstream_port, ...)`; it gets the proxy's (host, port). A proxy
that is not installed skips the test with a one-line reason.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

TIMEOUT = 10.0


def free_port() -> int:
    """A port nothing listens on now (the proxy binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Connect in a bounded loop until `port` accepts; fail with the log if the process died."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"proxy exited with {process.returncode}:\n{_tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
            return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise AssertionError(f"proxy not listening after {TIMEOUT} s:\n{_tail(log)}") \
                    from None
            time.sleep(0.01)  # polling for readiness, bounded by the deadline


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-4000:]
    except FileNotFoundError:
        return "(no log)"


def get_through(address: tuple[str, int]) -> tuple[tuple[str, int], bytes]:
    """GET / through the proxy at `address` on a new connection: the client's own
    (host, port), and every byte of the answer, read until the proxy closes."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        local = sock.getsockname()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return (local[0], local[1]), data


class Proxy:
    """One proxy process; `stop()` ends it (the fixture calls it)."""

    program = ""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "error.log"
        self.binary = shutil.which(self.program) or shutil.which(f"/usr/sbin/{self.program}")

    def _run(self, arguments: list[str], port: int) -> tuple[str, int]:
        with open(self.directory / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(arguments, stdout=stderr, stderr=stderr,
                                            stdin=subprocess.DEVNULL)
        wait_until_listening(port, self.process, self.log)
        return "127.0.0.1", port

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Nginx(Proxy):
    """nginx as a reverse proxy with HTTP/1.1 keep-alive to its upstream."""

    program = "nginx"

    def start(self, upstream_port: int, *, upstream_idle: str = "4s",
              location: str = "") -> tuple[str, int]:
        assert self.binary is not None
        port = free_port()
        temp = self.directory
        config = f"""
daemon off;
worker_processes 1;
pid {temp}/nginx.pid;
error_log {self.log} info;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    upstream webpy {{
        server 127.0.0.1:{upstream_port};
        keepalive 16;
        keepalive_timeout {upstream_idle};
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://webpy;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            {location}
        }}
    }}
}}
"""
        (self.directory / "nginx.conf").write_text(config)
        user = ["-g", "user root;"] if _root() else []
        return self._run([self.binary, "-p", str(temp), "-c", str(temp / "nginx.conf"), *user],
                         port)


class HAProxy(Proxy):
    """HAProxy in HTTP mode; `server_options` e.g. ``send-proxy-v2``."""

    program = "haproxy"

    def start(self, upstream_port: int, *, server_options: str = "", frontend: str = "",
              backend: str = "", certificate: Path | None = None) -> tuple[str, int]:
        """Listen on a free port (TLS with `certificate`, a PEM of key and chain)."""
        assert self.binary is not None
        port = free_port()
        tls = f" ssl crt {certificate}" if certificate else ""
        config = f"""
global
    maxconn 512
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend web
    bind 127.0.0.1:{port}{tls}
    {frontend}
    default_backend webpy
backend webpy
    {backend}
    server webpy 127.0.0.1:{upstream_port} {server_options}
"""
        (self.directory / "haproxy.cfg").write_text(config)
        self.log = self.directory / "stderr.log"
        return self._run([self.binary, "-db", "-f", str(self.directory / "haproxy.cfg")], port)


def _root() -> bool:
    import os

    return os.geteuid() == 0
