"""``http.server.ThreadingHTTPServer`` hello world and upload sink.

Two changes from the defaults, both so the stdlib is measured rather than crippled:
``protocol_version = "HTTP/1.1"`` (keep-alive; the default HTTP/1.0 closes every connection) and
TCP_NODELAY on accepted sockets (headers and body go out in two writes; with Nagle on, the second
waits for the client's delayed ACK and throughput collapses to ~300 req/s). The listen backlog is
raised from 5 so that 256 connections can connect at once. Access logging is off, as for the peers,
and a response to ``Connection: close`` says ``Connection: close`` (the stdlib leaves that to apps).
"""

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HELLO = b"Hello, world!"
UPLOAD_READ_SIZE = 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # StreamRequestHandler.setup() then sets TCP_NODELAY

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            # The stdlib closes after answering "Connection: close" but does not say so; saying
            # it lets the client tell a deliberate close from a dropped keep-alive connection.
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(HELLO)

    def do_POST(self) -> None:
        remaining = int(self.headers.get("Content-Length", "0"))
        total = 0
        while remaining > 0:
            chunk = self.rfile.read(min(UPLOAD_READ_SIZE, remaining))
            if not chunk:
                break
            total += len(chunk)
            remaining -= len(chunk)
        self._reply(str(total).encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with Server((args.bind, args.port), Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
