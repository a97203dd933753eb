"""How evenly worker processes share the load: one socket per worker, or one shared socket.

python bench/worker_balance.py                      # 4 workers, wrk -c16 and -c256, 5 s each
python bench/worker_balance.py --workers 2 --seconds 3

Runs ``python -m webpy --processes N`` twice for each connection count: as it
binds by default (on Linux, one SO_REUSEPORT socket per worker), and on one
socket this script opens and passes with ``--fd`` (every worker accepting on
it). wrk (bounded by ``--seconds``) sends GETs; each worker's access-log
lines (prefixed with its PID) count the requests it served. Printed as one
JSON object per run: requests per worker, most over fewest (fewest 0 when a
worker got no connection), and wrk's rate. The server is pinned to CPU0 and
wrk to CPU1, as in bench/run.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
APP = "import webpy as web\nroutes = {'/': type('Hello', (web.HTTPHandler,), " \
      "{'do_get': lambda self: (200, 'hello')})}\n"


def run(workers: int, connections: int, seconds: int, shared: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "balance_app.py").write_text(APP)
        listener = socket.create_server(("127.0.0.1", 0)) if shared else None
        port = listener.getsockname()[1] if listener else _free_port()
        where = ["--fd", str(listener.fileno())] if listener else ["-p", str(port)]
        log_file = (Path(directory) / "log").open("w+")  # a file: a full pipe would stall them
        server = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "webpy", "--app", "balance_app:routes",
             "--processes", str(workers), "-b", "127.0.0.1", "--log-level", "info", *where],
            cwd=directory, stdout=subprocess.PIPE, stderr=log_file, text=True,
            pass_fds=[listener.fileno()] if listener else [],
            env={"PYTHONPATH": str(REPOSITORY), "PATH": "/usr/bin:/bin"})
        assert server.stdout is not None
        server.stdout.readline()  # the Serving line: listening
        if listener:
            listener.close()
        wrk = subprocess.run(
            ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
             f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=seconds + 30)
        server.terminate()
        server.communicate(timeout=30)
        log_file.seek(0)
        log = log_file.read()
        log_file.close()
    served = collections.Counter(re.findall(r"^\[(\d+)\] 127\.0\.0\.1 ", log, re.MULTILINE))
    counts = sorted(served.values(), reverse=True) + [0] * (workers - len(served))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", wrk.stdout)
    return {"sockets": "shared" if shared else "one per worker", "connections": connections,
            "requests_per_worker": counts,
            "most_over_fewest": round(counts[0] / counts[-1], 2) if counts[-1] else None,
            "req_per_s": float(rate.group(1)) if rate else None}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", default="16,256")
    args = parser.parse_args()
    for connections in map(int, args.connections.split(",")):
        for shared in (False, True):
            print(json.dumps(run(args.workers, connections, args.seconds, shared)), flush=True)


if __name__ == "__main__":
    main()
