"""Instructions per static-file request: ``python -m webpy DIR`` under callgrind.

The static-css-gzip scenario's request (the 200 KiB stylesheet with
``Accept-Encoding: gzip``, answered from its precompressed .gz) sent N times,
one after another on one keep-alive connection, after a warm-up; the count
of instructions the server executed meanwhile, divided by N. Like
``bench/run.py --only callgrind`` (a hello-world handler) it does not move
with the machine's load, so it shows whether a change made the file path
cheaper. It counts the server's own instructions, not the kernel's.

    python bench/run.py --only static-css-gzip --servers webpy-static  # makes the files
    python -m bench.callgrind_static --transport threaded
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench import procs
from bench.callgrind import _summary_ir
from bench.procs import CLIENT_CPU, HOST, OUT, SERVER_CPU, pin

WARMUP_REQUESTS = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", choices=["threaded", "trio"], default="threaded")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--path", default="/style.css")
    parser.add_argument("--header", default="Accept-Encoding: gzip")
    parser.add_argument("--dir", type=Path, default=OUT / "files")
    args = parser.parse_args()
    out_dir = OUT / "callgrind"
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("static.*"):
        old.unlink()
    port = procs.free_port()
    server = subprocess.Popen(
        [*pin(SERVER_CPU), "valgrind", "--tool=callgrind", "--quiet",
         f"--callgrind-out-file={out_dir}/static.%p.out", sys.executable, "-m", "webpy",
         str(args.dir), "--bind", HOST, "--port", str(port), "--log-level", "WARNING",
         "--transport", args.transport],
        env=procs.bench_env(), cwd=procs.REPO, stdout=subprocess.DEVNULL)
    try:
        client = [*pin(CLIENT_CPU), sys.executable, "-c", _CLIENT, str(port), args.path,
                  args.header]
        _run(client, WARMUP_REQUESTS, deadline=time.monotonic() + 300)
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True,
                       capture_output=True)
        _run(client, args.requests, deadline=time.monotonic() + 600)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True,
                       capture_output=True)
        dumps = sorted(out_dir.glob(f"static.{server.pid}.out.*"))
        per_request = _summary_ir(dumps[-1]) / args.requests
        print(f"{args.transport} GET {args.path} ({args.header}): {per_request:,.0f} "
              f"instructions/request over {args.requests} requests")
    finally:
        server.terminate()
        server.wait()


def _run(client: list[str], count: int, deadline: float) -> None:
    """Run the client for `count` requests, retrying while the server starts up."""
    while subprocess.run([*client, str(count)], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit("the server did not answer")
        time.sleep(0.5)


#: Sequential keep-alive GETs: argv is port, path, one header line, count.
_CLIENT = """
import socket, sys
port, path, header, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
sock = socket.create_connection(("127.0.0.1", port), timeout=120)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
request = f"GET {path} HTTP/1.1\\r\\nHost: x\\r\\n{header}\\r\\n\\r\\n".encode()
buffer = b""
for _ in range(count):
    sock.sendall(request)
    while b"\\r\\n\\r\\n" not in buffer:
        buffer += sock.recv(65536)
    head, _, buffer = buffer.partition(b"\\r\\n\\r\\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
    while len(buffer) < length:
        buffer += sock.recv(65536)
    buffer = buffer[length:]
"""

if __name__ == "__main__":
    main()
