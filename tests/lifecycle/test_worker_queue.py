"""Plain handlers wait for a free thread in a bounded queue, on both socket transports.

A burst of twice as many requests as threads is served without a 503; a
sustained overload, where no thread frees up within `queue_timeout` or more
than `queue_size` requests wait, is answered 503 with Retry-After instead of
hanging. The same policy on the threaded server and on trio's plain handlers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

import httpx
import pytest
from harness import CLIENT_TIMEOUT
from harness_trio import running_in_thread

import webpy as web
from webpy.transports.trio import serve

#: Handlers that may run at once: the threaded server keeps one of its 4 threads
#: polling; trio runs plain handlers on `thread_limit` threads.
RUNNING = {"threaded": 3, "trio": 4}


def gate_routes(entered: threading.Semaphore, release: threading.Event
                ) -> dict[str, type[web.HTTPHandler]]:
    class Gate(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            entered.release()
            assert release.wait(CLIENT_TIMEOUT)
            return 200, "through"

    return {"/": Gate}


@contextlib.contextmanager
def server(transport: str, routes: Any, **options: Any) -> Iterator[str]:
    if transport == "threaded":
        with web.HTTPServer(("127.0.0.1", 0), routes, threads=4, **options) as threaded:
            yield threaded.url
        return
    start = functools.partial(serve, routes, "127.0.0.1", 0, thread_limit=4, **options)
    with running_in_thread(start) as (addresses, _):
        yield "http://{}:{}/".format(*addresses[0])


def fetch(url: str) -> httpx.Response:
    return httpx.get(url, timeout=CLIENT_TIMEOUT)


class QueuedSeen(logging.Handler):
    """Counts the server's "request queued" lines; `wait(n)` until n have come."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._queued = threading.Semaphore(0)

    def emit(self, record: logging.LogRecord) -> None:
        if "request queued" in record.getMessage():
            self._queued.release()

    def wait(self, count: int) -> None:
        acquire_all(self._queued, count)


@pytest.fixture
def queued() -> Iterator[QueuedSeen]:
    logger, watcher = logging.getLogger("webpy"), QueuedSeen()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(watcher)
    yield watcher
    logger.removeHandler(watcher)
    logger.setLevel(level)


def acquire_all(entered: threading.Semaphore, count: int) -> None:
    for _ in range(count):
        assert entered.acquire(timeout=CLIENT_TIMEOUT), "a handler never started"


@pytest.mark.parametrize("transport", sorted(RUNNING))
def test_a_burst_of_twice_as_many_requests_as_threads_is_served_without_503(
        transport: str, queued: QueuedSeen) -> None:
    entered, release = threading.Semaphore(0), threading.Event()
    burst = 2 * RUNNING[transport]
    with server(transport, gate_routes(entered, release)) as url, \
            ThreadPoolExecutor(burst) as clients:
        try:
            answers = [clients.submit(fetch, url) for _ in range(burst)]
            acquire_all(entered, RUNNING[transport])  # every thread busy...
            queued.wait(burst - RUNNING[transport])  # ...and the rest waiting for one
        finally:
            release.set()
        statuses = [answer.result().status_code for answer in answers]
    assert statuses == [200] * burst


@pytest.mark.parametrize("transport", sorted(RUNNING))
def test_requests_that_find_no_thread_in_time_get_503_instead_of_hanging(
        transport: str) -> None:
    entered, release = threading.Semaphore(0), threading.Event()
    running = RUNNING[transport]
    with server(transport, gate_routes(entered, release), queue_timeout=0.3) as url, \
            ThreadPoolExecutor(running) as clients:
        try:
            blocked = [clients.submit(fetch, url) for _ in range(running)]
            acquire_all(entered, running)
            refused = fetch(url)  # no thread frees up within queue_timeout
        finally:
            release.set()
        assert [answer.result().status_code for answer in blocked] == [200] * running
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"


@pytest.mark.parametrize("transport", sorted(RUNNING))
def test_a_request_past_the_queue_size_gets_503_at_once(transport: str) -> None:
    entered, release = threading.Semaphore(0), threading.Event()
    running = RUNNING[transport]
    # queue_timeout outlasts the test: a 503 before the release can only come from the size.
    with server(transport, gate_routes(entered, release), queue_size=1,
                queue_timeout=10 * CLIENT_TIMEOUT) as url, \
            ThreadPoolExecutor(running + 2) as clients:
        try:
            blocked = [clients.submit(fetch, url) for _ in range(running)]
            acquire_all(entered, running)
            extra = [clients.submit(fetch, url) for _ in range(2)]  # one waits, one is refused
            done, _ = wait(extra, timeout=CLIENT_TIMEOUT, return_when=FIRST_COMPLETED)
            assert done, "neither request past the busy threads was answered"
            assert next(iter(done)).result().status_code == 503
        finally:
            release.set()
        assert [answer.result().status_code for answer in blocked] == [200] * running
        assert sorted(answer.result().status_code for answer in extra) == [200, 503]
