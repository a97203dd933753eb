"""Send a fixed number of GETs one after another on one keep-alive connection.

Used where a request count must be exact (instruction counting under callgrind), not for
throughput: it waits for each full response before sending the next request.
"""

from __future__ import annotations

import argparse
import json
import socket
import time


def read_response(sock: socket.socket, buf: bytes) -> tuple[bytes, bool]:
    """Read one response with a Content-Length body; return the leftover buffer and whether the
    server said it will close the connection."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError("unexpected status: " + head.split(b"\r\n", 1)[0].decode())
    length = 0
    closing = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and b"close" in value.lower():
            closing = True
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection mid-body")
        rest += data
    return rest[length:], closing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    request = f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n\r\n".encode()
    started = time.perf_counter()
    ok = 0
    connections = 0
    while ok < args.count:
        # Some servers close after a number of requests (hypercorn: 1000); reconnect then.
        with socket.create_connection((args.host, args.port), timeout=args.timeout) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connections += 1
            buf = b""
            closing = False
            while ok < args.count and not closing:
                sock.sendall(request)
                buf, closing = read_response(sock, buf)
                ok += 1
    elapsed = round(time.perf_counter() - started, 3)
    print(json.dumps({"ok": ok, "connections": connections, "seconds": elapsed}))


if __name__ == "__main__":
    main()
