"""The application the race tests serve: a counter and a two-step document in a shared store.

Both are written so that running two requests on one resource at once shows:
the counter is read, then written back plus one (two overlapping PUTs lose an
update), and the document is written one field at a time (a GET overlapping
a PUT sees different parts). Every response names the worker process
that served it, so a test can check that the load really was shared.

Run as a script it is a server for tests that need separate processes
(standing in for separate machines): ``raceapp.py LOCKS STORE`` where LOCKS is
a PostgreSQL conninfo and STORE one too; it prints its URL once it serves,
and ``PUT /doc?hang=1`` prints ``inside`` and then never finishes.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import webpy as web

#: The parts of the document, each written by its own statement.
PARTS = ("title", "author", "date", "body")


def routes(store: MutableMapping[str, bytes], inside: Any = None) -> dict[str, Any]:
    """Routes over `store`; `inside(pid)` is called by a PUT that then hangs forever."""

    class Served(web.HTTPHandler):
        def prepare(self) -> None:
            self.response.headers["X-Worker"] = str(os.getpid())

    class Counter(Served):
        def do_get(self) -> tuple[int, bytes]:
            return 200, store.get("counter", b"0")

        def do_put(self) -> tuple[int, str]:
            value = int(store.get("counter", b"0")) + 1
            store["counter"] = str(value).encode()
            return 200, str(value)

    class Document(Served):
        def do_get(self) -> tuple[int, bytes]:
            return 200, b",".join(store.get(f"doc:{part}", b"") for part in PARTS)

        def do_put(self) -> tuple[int, None]:
            for part in PARTS:  # one committed write per part: a window for a torn read
                store[f"doc:{part}"] = self.request.body
                if self.request.query.get("hang") and inside is not None:
                    inside(os.getpid())
                    threading.Event().wait()  # holds the lock until the process is killed
            return 204, None

    return {"/counter": Counter, "/doc": Document}


def main() -> None:
    from webpy.app.locks_postgres import PostgresLocks
    from webpy.app.store import PostgresStore

    conninfo_locks, conninfo_store = sys.argv[1], sys.argv[2]

    def inside(pid: int) -> None:
        print("inside", flush=True)

    server = web.HTTPServer(("127.0.0.1", 0), routes(PostgresStore(conninfo_store), inside),
                            locks=PostgresLocks(conninfo_locks))
    server.start()
    print(server.url, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
