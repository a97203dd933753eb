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

import webpy as web
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
