"""On the threaded server an open EventStream waits in the selector, not in a worker thread."""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any

import httpx

import webpy as web
from webpy.app.sse import EventStream, EventStreamHandler

from .test_sse_servers import HANG, read_events

#: Far longer than any test: nothing here is driven by heartbeats.
SILENT = 60.0
THREADS = 2
STREAMS = 3 * THREADS


def make_routes(opened: queue.Queue[EventStream], closed: queue.Queue[str]) -> dict[str, Any]:
    class Feed(EventStreamHandler):
        def do_get(self) -> Any:
            stream = EventStream(heartbeat=SILENT)
            name = self.request.query_string
            stream.on_close(lambda: closed.put(name))
            opened.put(stream)
            return 200, stream

    class Hello(web.HTTPHandler):
        def do_get(self) -> Any:
            return 200, "hello"

    return {"/feed": Feed, "/hello": Hello}


def test_more_open_streams_than_threads_all_get_events_and_plain_requests_are_served() -> None:
    opened: queue.Queue[EventStream] = queue.Queue()
    closed: queue.Queue[str] = queue.Queue()
    server = web.HTTPServer(("127.0.0.1", 0), make_routes(opened, closed), threads=THREADS)
    server.start()
    try:
        with contextlib.ExitStack() as stack:
            readers = []
            for number in range(STREAMS):
                client = stack.enter_context(httpx.Client(timeout=HANG))
                response = stack.enter_context(
                    client.stream("GET", f"{server.url}feed?{number}"))
                assert response.status_code == 200
                readers.append(response.iter_lines())
            streams = [opened.get(timeout=HANG) for _ in range(STREAMS)]
            # Every stream is open at once with two threads, and each push from
            # another thread reaches its client although no heartbeat is due.
            for round_ in range(2):
                for stream in streams:
                    threading.Thread(target=stream.send, args=(f"round {round_}",)).start()
                for lines in readers:
                    assert read_events(lines, 1) == [{"data": f"round {round_}"}]
            assert httpx.get(server.url + "hello", timeout=HANG).text == "hello"
            assert closed.empty()
            # The clients leave: each stream learns it at once, not at a heartbeat 60 s away.
            stack.close()
            assert sorted(closed.get(timeout=HANG) for _ in range(STREAMS)) == \
                sorted(str(number) for number in range(STREAMS))
    finally:
        server.stop(timeout=1.0)
