"""Per-resource ordering: readers share a resource, a writer has it alone, resources are apart.

The handlers here yield the GIL between the steps of a change (``time.sleep(0)``)
to widen the window in which an unordered server would let a reader see half a
change; that is a way to make a race likely, not a way to wait for anything.
All waiting is on events, with generous timeouts that only turn a deadlock into
a failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import trio
import trio.testing

import webpy as web
from webpy.app.locks import LockUnavailable, ReadWriteLock, ReadWriteState, ResourceLocks
from webpy.transports.memory import Client, ClientResponse

#: Only ever reached if the server deadlocks.
DEADLOCK_TIMEOUT = 10.0
FIELDS = ("a", "b", "c", "d")


def _in_threads(jobs: list[Callable[[], ClientResponse]], workers: int = 16
                ) -> list[ClientResponse]:
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [future.result(timeout=DEADLOCK_TIMEOUT) for future in futures]


def test_readers_never_see_a_writer_half_done() -> None:
    state = dict.fromkeys(FIELDS, 0)

    class Record(web.HTTPHandler):
        def do_put(self) -> tuple[int, None]:
            value = int(self.request.body)
            for name in FIELDS:  # one field at a time, yielding in between
                state[name] = value
                time.sleep(0)
            return 204, None

        def do_get(self) -> tuple[int, str]:
            seen = []
            for name in FIELDS:
                seen.append(state[name])
                time.sleep(0)
            return 200, ",".join(map(str, seen))

    client = Client({"/record": Record})
    jobs: list[Callable[[], ClientResponse]] = []
    for number in range(1, 151):
        jobs.append(lambda number=number: client.put("/record", str(number)))  # type: ignore[misc]
        jobs.append(lambda: client.get("/record"))
        jobs.append(lambda: client.get("/record"))
    responses = _in_threads(jobs)
    reads = [response.text.split(",") for response in responses if response.status == 200]
    assert len(reads) == 300
    torn = [read for read in reads if len(set(read)) != 1]
    assert torn == []
    assert all(response.status in (200, 204) for response in responses)


def test_writers_on_one_resource_never_overlap() -> None:
    counter = {"value": 0}

    class Counter(web.HTTPHandler):
        def do_post(self) -> tuple[int, None]:
            current = counter["value"]
            time.sleep(0)  # an overlapping writer would read the same value here
            counter["value"] = current + 1
            return 204, None

    client = Client({"/counter": Counter})
    _in_threads([lambda: client.post("/counter") for _ in range(300)])
    assert counter["value"] == 300


def test_readers_of_one_resource_run_together() -> None:
    first_inside = threading.Event()
    second_inside = threading.Event()

    class Shared(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            if self.request.query.get("who") == "first":
                first_inside.set()
                met = second_inside.wait(DEADLOCK_TIMEOUT)
            else:
                assert first_inside.wait(DEADLOCK_TIMEOUT)
                second_inside.set()
                met = True
            return 200, "met" if met else "alone"

    client = Client({"/shared": Shared})
    first = _in_threads([lambda: client.get("/shared?who=first"),
                         lambda: client.get("/shared?who=second")])
    assert [response.text for response in first] == ["met", "met"]


def test_different_resources_never_wait_for_each_other() -> None:
    a_holds_its_lock = threading.Event()
    released = threading.Event()

    class Blocking(web.HTTPHandler):
        def do_put(self) -> tuple[int, str]:
            a_holds_its_lock.set()
            return 200, "released" if released.wait(DEADLOCK_TIMEOUT) else "stuck"

    class Releasing(web.HTTPHandler):
        def do_put(self) -> tuple[int, str]:
            released.set()
            return 200, "set"

    client = Client({"/a": Blocking, "/b": Releasing})
    with ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(client.put, "/a", "x")
        assert a_holds_its_lock.wait(DEADLOCK_TIMEOUT)
        # /a is mid-write and holds its resource; a write to /b must still run.
        assert client.put("/b", "y").text == "set"
        assert blocked.result(timeout=DEADLOCK_TIMEOUT).text == "released"


def test_resource_locks_are_forgotten_when_unused() -> None:
    class Any(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            return 200, "x"

        def do_put(self) -> tuple[int, str]:
            raise RuntimeError("fails while holding the lock")

    client = Client({"/.*": Any})
    for number in range(50):
        client.get(f"/resource/{number}")
        client.put(f"/resource/{number}", "x")
    assert len(client.site.locks) == 0


# -- writer preference: a waiting writer holds back new readers -------------------------


def _until_readers_are_refused(lock: Any) -> None:
    """Spin until a new reader is refused, which happens only once a writer waits.

    The probe itself is the behaviour under test: without writer preference
    readers are never refused while only readers hold the lock, and the
    deadline turns that into a failure.
    """
    deadline = time.monotonic() + DEADLOCK_TIMEOUT
    while lock.try_acquire(False):
        lock.release(False)
        assert time.monotonic() < deadline, "a waiting writer never held back a new reader"


def test_reader_writer_state_lets_a_waiting_writer_go_before_new_readers() -> None:
    state = ReadWriteState()
    assert state.try_take(False)  # a reader is inside
    assert not state.try_take(True)
    state.enqueue(True)  # so a writer waits...
    assert not state.try_take(False)  # ...and a newcomer reader must wait behind it
    assert not state.try_take_queued(True)
    assert state.release(False)  # the last reader out wakes the writer
    assert state.try_take_queued(True)
    assert not state.try_take(False)
    assert state.release(True)
    assert state.try_take(False)


def test_reader_writer_state_releases_readers_when_the_only_waiting_writer_gives_up() -> None:
    state = ReadWriteState()
    assert state.try_take(False)
    state.enqueue(True)
    state.enqueue(True)
    assert not state.dequeue(True)  # another writer still waits: readers stay held back
    assert not state.try_take(False)
    assert state.dequeue(True)
    assert state.try_take(False)


def test_threaded_lock_makes_new_readers_wait_for_a_waiting_writer() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    writer_inside = threading.Event()
    writer_may_leave = threading.Event()
    lock.acquire(False)  # the first reader

    def writer() -> None:
        lock.acquire(True)
        order.append("writer")
        writer_inside.set()
        assert writer_may_leave.wait(DEADLOCK_TIMEOUT)
        lock.release(True)

    def late_reader() -> None:
        lock.acquire(False)
        order.append("reader")
        lock.release(False)

    with ThreadPoolExecutor(2) as pool:
        writing = pool.submit(writer)
        try:
            _until_readers_are_refused(lock)
            reading = pool.submit(late_reader)
        finally:
            lock.release(False)  # the first reader leaves: the writer, not the late reader, is next
        assert writer_inside.wait(DEADLOCK_TIMEOUT)
        writer_may_leave.set()
        writing.result(timeout=DEADLOCK_TIMEOUT)
        reading.result(timeout=DEADLOCK_TIMEOUT)
    assert order == ["writer", "reader"]


def test_trio_lock_makes_new_readers_wait_for_a_waiting_writer() -> None:
    async def main() -> list[str]:
        from webpy.transports.trio import ReadWriteLock as TrioReadWriteLock

        lock = TrioReadWriteLock()
        order: list[str] = []
        assert lock.try_acquire(False)

        async def writer() -> None:
            await lock.acquire(True)
            order.append("writer")
            lock.release(True)

        async def late_reader() -> None:
            await lock.acquire(False)
            order.append("reader")
            lock.release(False)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            await trio.testing.wait_all_tasks_blocked()
            assert not lock.try_acquire(False)
            nursery.start_soon(late_reader)
            await trio.testing.wait_all_tasks_blocked()
            lock.release(False)
        return order

    assert trio.run(main) == ["writer", "reader"]


def test_trio_lock_serves_new_readers_after_a_waiting_reader_gave_up() -> None:
    """A reader cancelled while it waits for a writer (its client went away) leaves no trace.

    Only writers count as waiting; a reader that gives up must not be taken
    for a writer leaving, or later readers would find a phantom writer
    holding them back for good.
    """
    async def main() -> list[str]:
        from webpy.transports.trio import ReadWriteLock as TrioReadWriteLock

        lock = TrioReadWriteLock()
        order: list[str] = []
        assert lock.try_acquire(True)  # a writer is inside

        async def impatient_reader(cancel_scope: trio.CancelScope) -> None:
            with cancel_scope:
                await lock.acquire(False)
                order.append("impatient reader")

        async def later_reader() -> None:
            await lock.acquire(False)
            order.append("later reader")
            lock.release(False)

        with trio.fail_after(DEADLOCK_TIMEOUT):
            async with trio.open_nursery() as nursery:
                gives_up = trio.CancelScope()
                nursery.start_soon(impatient_reader, gives_up)
                await trio.testing.wait_all_tasks_blocked()
                gives_up.cancel()
                await trio.testing.wait_all_tasks_blocked()
                lock.release(True)
                assert lock.try_acquire(False)  # free: a new reader enters at once
                lock.release(False)
                nursery.start_soon(later_reader)
        return order

    assert trio.run(main) == ["later reader"]


def test_a_stream_of_gets_does_not_starve_a_put() -> None:
    """Through the request cycle: GETs keep arriving while one is inside, yet the PUT runs."""
    first_get_inside = threading.Event()
    let_first_get_go = threading.Event()
    log: list[str] = []

    class Page(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            if self.request.query.get("first"):
                first_get_inside.set()
                assert let_first_get_go.wait(DEADLOCK_TIMEOUT)
            log.append("get")
            return 200, "page"

        def do_put(self) -> tuple[int, str]:
            log.append("put")
            return 200, "stored"

    client = Client({"/page": Page})
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(client.get, "/page?first=1")
        assert first_get_inside.wait(DEADLOCK_TIMEOUT)
        put = pool.submit(client.put, "/page", "new")
        lock = client.site.locks.hold("/page")
        try:
            _until_readers_are_refused(lock)  # the PUT now waits behind the first GET
            later = [pool.submit(client.get, "/page") for _ in range(5)]
        finally:
            client.site.locks.drop("/page")
            let_first_get_go.set()
        assert put.result(timeout=DEADLOCK_TIMEOUT).text == "stored"
        assert [get.result(timeout=DEADLOCK_TIMEOUT).text for get in [first, *later]] == \
            ["page"] * 6
    assert log[:2] == ["get", "put"]  # the first GET, then the PUT, before any later GET


# -- a backend that refuses while a request waits ----------------------------------------


def test_a_lock_refused_while_waiting_answers_503_and_the_handler_never_runs() -> None:
    """A backend may give up after `try_acquire` failed (a shared lock's wait timing out).

    The request that was waiting must get the refusal (503 with Retry-After),
    not run its handler unordered.
    """
    ran: list[str] = []

    class TimesOutWaiting:
        """The resource is always busy, and waiting for it always times out."""

        def try_acquire(self, exclusive: bool) -> bool:
            return False

        def acquire(self, exclusive: bool) -> None:
            raise LockUnavailable("Timed out waiting for the resource lock.")

        def release(self, exclusive: bool) -> None:
            raise AssertionError("released a lock that was never taken")

    class Page(web.HTTPHandler):
        def do_get(self) -> tuple[int, str]:
            ran.append("get")
            return 200, "page"

        def do_put(self) -> tuple[int, str]:
            ran.append("put")
            return 200, "stored"

    client = Client({"/page": Page}, locks=ResourceLocks(TimesOutWaiting))
    for response in (client.put("/page", "new"), client.get("/page")):
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
    assert ran == []
    assert len(client.site.locks) == 0  # both requests let go of the resource
