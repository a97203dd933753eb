"""Hold many idle keep-alive connections open against a server, from its own process.

Each connection sends one GET and reads the answer, so the server has set it up fully and parked
it as an idle keep-alive connection; then it is left silent. Connections are opened in batches so
the server's listen backlog is not flooded with SYNs all at once.

Protocol with the runner (stdout is one JSON line per step):
  1. prints ``{"ok": N, "failed": M, "reasons": {...}, "seconds": T}`` once the batches are done;
  2. on a ``check`` line on stdin prints ``{"alive": K}`` (connections the server has not closed);
  3. exits when stdin closes, or after ``--hold`` seconds at most, so it always stops by itself.
"""

from __future__ import annotations

import argparse
import errno
import json
import resource
import selectors
import socket
import sys
import time
from collections import Counter


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_batch(
    host: str, port: int, count: int, deadline: float, reasons: Counter[str]
) -> list[socket.socket]:
    """Open ``count`` connections, send one request on each, and keep those that got an answer."""
    sel = selectors.DefaultSelector()
    request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    pending: dict[socket.socket, bytes] = {}
    for _ in range(count):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            reasons[f"socket: {errno.errorcode.get(exc.errno or 0, exc)}"] += 1
            continue
        s.setblocking(False)
        err = s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            reasons[f"connect: {errno.errorcode.get(err, err)}"] += 1
            s.close()
            continue
        pending[s] = b""
        sel.register(s, selectors.EVENT_WRITE)
    done: list[socket.socket] = []
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            if key.events == selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    reasons[f"connect: {errno.errorcode.get(err, err)}"] += 1
                    sel.unregister(s)
                    del pending[s]
                    s.close()
                    continue
                s.send(request)  # tiny; always fits in an empty send buffer
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except OSError as exc:
                reasons[f"recv: {errno.errorcode.get(exc.errno or 0, exc)}"] += 1
                data = None
            if not data:
                if data is not None:
                    reasons["closed by server before answering"] += 1
                sel.unregister(s)
                del pending[s]
                s.close()
                continue
            pending[s] += data
            if b"Hello, world!" in pending[s]:
                sel.unregister(s)
                del pending[s]
                done.append(s)
    for s in pending:
        reasons["no answer before the deadline"] += 1
        sel.unregister(s)
        s.close()
    sel.close()
    return done


def count_alive(conns: list[socket.socket]) -> int:
    """Connections with nothing to read: a server-closed socket polls readable (EOF)."""
    sel = selectors.DefaultSelector()
    for s in conns:
        sel.register(s, selectors.EVENT_READ)
    closed = len(sel.select(timeout=0))
    sel.close()
    return len(conns) - closed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--deadline", type=float, default=60.0)
    parser.add_argument("--hold", type=float, default=600.0)
    args = parser.parse_args()
    raise_nofile()
    started = time.monotonic()
    deadline = started + args.deadline
    reasons: Counter[str] = Counter()
    conns: list[socket.socket] = []
    while len(conns) + sum(reasons.values()) < args.count and time.monotonic() < deadline:
        want = min(args.batch, args.count - len(conns) - sum(reasons.values()))
        conns += open_batch(args.host, args.port, want, deadline, reasons)
    failed = args.count - len(conns)
    report = {
        "ok": len(conns),
        "failed": failed,
        "reasons": dict(reasons.most_common(4)),
        "seconds": round(time.monotonic() - started, 2),
    }
    print(json.dumps(report), flush=True)
    hold_until = time.monotonic() + args.hold
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    while time.monotonic() < hold_until:
        if not sel.select(timeout=1.0):
            continue
        line = sys.stdin.readline()
        if not line:
            break
        if line.strip() == "check":
            print(json.dumps({"alive": count_alive(conns)}), flush=True)
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
