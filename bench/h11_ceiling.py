"""The h11 ceiling: parse one request and serialise one response with plain h11, no I/O.

A server built on h11 cannot serve more requests per second on one core than this loop completes
cycles, so a server's req/s divided by it is the share of time spent in h11 itself versus
everything else (sockets, threads, routing, objects). The request is what wrk sends; the
connection is reused with ``start_next_cycle`` as under keep-alive.
"""

from __future__ import annotations

import argparse
import json
import time

import h11

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "13")]
BODY = b"Hello, world!"


def cycle(conn: h11.Connection) -> bytes:
    conn.receive_data(REQUEST)
    request = conn.next_event()
    assert isinstance(request, h11.Request)
    assert isinstance(conn.next_event(), h11.EndOfMessage)
    out = conn.send(h11.Response(status_code=200, headers=HEADERS)) or b""
    out += conn.send(h11.Data(data=BODY)) or b""
    out += conn.send(h11.EndOfMessage()) or b""
    conn.start_next_cycle()
    return out


def measure(seconds: float, max_cycles: int = 10_000_000) -> dict[str, float]:
    conn = h11.Connection(h11.SERVER)
    for _ in range(500):
        cycle(conn)
    n = 0
    started = time.perf_counter()
    end = started + seconds
    while n < max_cycles:
        for _ in range(100):
            cycle(conn)
        n += 100
        if time.perf_counter() >= end:
            break
    elapsed = time.perf_counter() - started
    return {"cycles": n, "seconds": round(elapsed, 3), "cycles_per_s": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(json.dumps({"h11": h11.__version__, **measure(args.seconds)}))


if __name__ == "__main__":
    main()
