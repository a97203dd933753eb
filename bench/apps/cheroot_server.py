"""Launch cheroot's WSGI server on the shared WSGI app.

cheroot's own CLI does not expose the listen backlog, so this wrapper sets it: the default
``request_queue_size=5`` refuses most of 256 simultaneous connects. The idle timeout is raised
from 10 s so that held keep-alive connections outlive the idle-connection scenario.
"""

import argparse

from cheroot.wsgi import Server

from bench.apps.wsgi_app import app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=10)  # cheroot's default
    args = parser.parse_args()
    server = Server(
        (args.bind, args.port),
        app,
        numthreads=args.threads,
        request_queue_size=2048,
        timeout=300,
    )
    server.keep_alive_conn_limit = 11000
    server.safe_start()


if __name__ == "__main__":
    main()
