"""The seed example keeps its data across worker processes (a PUT on one was a 404 on another).

`examples/keyvalue.py` is loaded as a module (its server does not start) and
its routes served with `HTTPServer(processes=2)`; every request is a new
connection, so the kernel spreads them over both workers.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import httpx

import webpy as web

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keyvalue.py"
HANG_TIMEOUT = 20.0


def test_a_value_put_through_one_worker_is_read_and_deleted_through_any() -> None:
    example = runpy.run_path(str(EXAMPLE), run_name="keyvalue")
    server = web.HTTPServer(("127.0.0.1", 0), example["routes"], processes=2)
    server.start()
    try:
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0),
                          timeout=HANG_TIMEOUT) as client:
            assert client.put(server.url + "greeting", content=b"hello").text == "Accepted"
            reads = [client.get(server.url + "greeting") for _ in range(40)]
            assert {(read.status_code, read.text) for read in reads} == {(200, "hello")}
            assert client.delete(server.url + "greeting").text == "Deleted"
            gone = [client.get(server.url + "greeting").status_code for _ in range(20)]
            assert set(gone) == {404}
    finally:
        server.stop()
