"""A bare ``socket.sendfile`` loop: the floor of what Python can do for static files.

Thread per connection, keep-alive, no parsing beyond the request line and Content-Length-free GETs,
no Date/ETag/range handling. It is a reference for the static-file scenario, not a server to copy.
"""

import argparse
import os
import socket
import threading
from pathlib import Path

MAX_HEAD = 65536


def _serve(conn: socket.socket, root: Path) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data or len(buf) > MAX_HEAD:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            close = b"connection: close" in head.lower()
            name = os.path.basename(parts[1].split("?", 1)[0]) if len(parts) == 3 else ""
            path = root / name
            if not name or not path.is_file():
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        b"Content-Length: %d\r\n\r\n" % size
                    )
                    conn.sendfile(f)
            if close:
                return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    root = Path(args.directory).resolve()
    listener = socket.create_server((args.bind, args.port), backlog=1024)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve, args=(conn, root), daemon=True).start()


if __name__ == "__main__":
    main()
