"""Worker processes are replaced without losing a request: SIGHUP, --max-requests, SIGTERM.

Eight keep-alive clients send requests without pause while the command line's
workers are replaced. Every request has an id; each worker records the ids
it handles. A test passes when every request sent was answered exactly once
and handled exactly once: a request that got no answer because its idle
connection was closed as it arrived may be sent again, but only if no worker
had handled it.
"""

from __future__ import annotations

import collections
import os
import signal
from pathlib import Path

import pytest

from webpy.transports.processes import QUICK_CRASH, Backoff

from .load import Load, Tally
from .server import Workers


def assert_nothing_lost(tally: Tally, handled: list[tuple[str, int]]) -> None:
    assert not tally.failures, tally.failures
    assert tally.unanswered == [], "requests sent and never answered"
    counts = collections.Counter(tag for tag, _ in handled)
    assert [tag for tag, count in counts.items() if count > 1] == [], "handled twice"
    assert set(counts) == set(tally.answered), "a request handled but not answered"
    # Each answer came from the worker that handled the request.
    assert dict(handled) == tally.answered


def serving_pids(workers: Workers) -> set[int]:
    return {pid for _, pid in workers.handled()}


def test_sighup_replaces_every_worker_under_keepalive_load_losing_no_request(
        tmp_path: Path, transport: str) -> None:
    workers = Workers(tmp_path / "record", transport, "--processes", "2", "--threads", "4")
    try:
        load = Load(workers.address)
        load.wait_for_answers(20)
        before = serving_pids(workers)
        workers.signal(signal.SIGHUP)
        done = workers.wait_for("restart done: worker processes")[0]
        new = frozenset(int(pid) for pid in done.split("worker processes")[1].split())
        assert len(new) == 2 and not new & before
        load.wait_for_answers(20, excluding=frozenset(before))
        tally = load.finish()
    finally:
        assert workers.stop() == 0
    assert_nothing_lost(tally, workers.handled())
    # The new workers served (which of them got connections is the kernel's choice).
    assert set(tally.answered.values()) & new
    for pid in before:  # the old workers are gone, not left serving
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert len(workers.lines_with("replaces")) == 2


def test_two_rolls_in_a_row_each_replace_every_worker(tmp_path: Path, transport: str) -> None:
    workers = Workers(tmp_path / "record", transport, "--processes", "2", "--threads", "4")
    try:
        load = Load(workers.address)
        load.wait_for_answers(5)
        workers.signal(signal.SIGHUP)
        workers.wait_for("restart done: worker processes")
        workers.signal(signal.SIGHUP)
        workers.wait_for("restart done: worker processes", count=2)
        load.wait_for_answers(5)
        tally = load.finish()
    finally:
        assert workers.stop() == 0
    assert_nothing_lost(tally, workers.handled())
    assert len(workers.lines_with("replaces")) == 4


def test_max_requests_recycles_workers_under_load_losing_no_request(
        tmp_path: Path, transport: str) -> None:
    workers = Workers(tmp_path / "record", transport, "--processes", "2", "--threads", "4",
                      "--max-requests", "300", "--max-requests-jitter", "50")
    try:
        load = Load(workers.address)
        workers.wait_for("replaces", count=3)  # three workers served their budget
        load.wait_for_answers(5)
        tally = load.finish()
    finally:
        assert workers.stop() == 0
    assert_nothing_lost(tally, workers.handled())
    per_worker = collections.Counter(pid for _, pid in workers.handled())
    # A replaced worker served its budget (300 to 350) and a few more before it stopped.
    replaced = [int(line.split("replaces")[1]) for line in workers.lines_with("replaces")]
    assert len(set(replaced)) >= 3
    assert all(per_worker[pid] >= 300 for pid in replaced)
    # Their successors served too (which of them got connections is the kernel's choice).
    successors = {int(line.split("worker process")[1].split()[0])
                  for line in workers.lines_with("replaces")}
    assert set(per_worker) & successors


def test_sigterm_drains_every_worker_losing_no_request_it_handled(
        tmp_path: Path, transport: str) -> None:
    workers = Workers(tmp_path / "record", transport, "--processes", "2", "--threads", "4")
    load = Load(workers.address)
    try:
        load.wait_for_answers(20)
    finally:
        status = workers.stop()
        tally = load.finish()
    assert status == 0
    handled = workers.handled()
    assert not tally.failures, tally.failures
    # Requests sent after the stop began go unanswered, and no worker handled them.
    assert not {tag for tag, _ in handled} - set(tally.answered)
    assert not set(tally.unanswered) & {tag for tag, _ in handled}


def test_workers_that_die_are_replaced(tmp_path: Path, transport: str) -> None:
    workers = Workers(tmp_path / "record", transport, "--processes", "2", "--threads", "4")
    try:
        load = Load(workers.address)
        load.wait_for_answers(5)
        first = next(iter(serving_pids(workers)))
        os.kill(first, signal.SIGKILL)
        workers.wait_for(f"worker process {first} died (signal SIGKILL)")
        load.wait_for_answers(5, excluding=frozenset([first]))
        second = next(iter(serving_pids(workers) - {first}))
        os.kill(second, signal.SIGKILL)
        workers.wait_for(f"worker process {second} died (signal SIGKILL)")
        # Both original workers are dead: whoever answers now was started to replace them.
        load.wait_for_answers(20, excluding=frozenset([first, second]))
        tally = load.finish()
    finally:
        assert workers.stop() == 0
    assert not tally.failures and not tally.unanswered
    assert len(workers.lines_with("starting another")) == 2


def test_workers_crashing_at_start_up_are_forked_ever_more_slowly() -> None:
    backoff = Backoff(first=0.1, longest=2.0)
    quick = QUICK_CRASH / 10
    assert [backoff.delay(quick) for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    # A worker that ran a while before dying is replaced at once, and the count starts over.
    assert backoff.delay(QUICK_CRASH * 5) == 0.0
    assert backoff.delay(quick) == 0.1
