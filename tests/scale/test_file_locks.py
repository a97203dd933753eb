"""`FileLocks` orders real processes: the lock file is shared, the locks are the kernel's.

Every process here is a real forked process using the `FileLocks` object made
before the fork, as `HTTPServer(processes=N)` does. Processes talk over
pipes; each wait has a generous timeout that only turns a hang into a failure.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from webpy.app.locks_files import FileLocks

HANG_TIMEOUT = 10.0
FORK = multiprocessing.get_context("fork")


@pytest.fixture
def locks(tmp_path: Path) -> Iterator[FileLocks]:
    table = FileLocks(tmp_path / "locks")
    yield table
    table.close()


class Child:
    """A forked process running `body(locks, pipe)`; the test holds the other end."""

    def __init__(self, body: Callable[[FileLocks, Connection], None], locks: FileLocks) -> None:
        self.pipe, theirs = FORK.Pipe()
        self.process = FORK.Process(target=body, args=(locks, theirs), daemon=True)
        self.process.start()

    def expect(self, message: str) -> None:
        assert self.pipe.poll(HANG_TIMEOUT), f"child never said {message!r}"
        assert self.pipe.recv() == message

    def say(self, message: str) -> None:
        self.pipe.send(message)

    def finish(self) -> None:
        self.process.join(HANG_TIMEOUT)
        if self.process.exitcode is None:
            self.process.kill()
        assert self.process.exitcode == 0


def _hold(exclusive: bool) -> Callable[[FileLocks, Connection], None]:
    def body(locks: FileLocks, pipe: Connection) -> None:
        lock = locks.hold("/doc")
        lock.acquire(exclusive)
        pipe.send("held")
        assert pipe.recv() == "release"
        lock.release(exclusive)
        locks.drop("/doc")
        pipe.send("released")
    return body


def _try(locks: FileLocks, pipe: Connection) -> None:
    lock = locks.hold("/doc")
    while True:
        exclusive = pipe.recv()
        if exclusive is None:
            break
        taken = lock.try_acquire(exclusive)
        if taken:
            lock.release(exclusive)
        pipe.send(taken)
    locks.drop("/doc")


def _ask(child: Child, exclusive: bool) -> Any:
    child.say(exclusive)  # type: ignore[arg-type]
    assert child.pipe.poll(HANG_TIMEOUT)
    return child.pipe.recv()


def test_a_writer_in_one_process_shuts_out_readers_and_writers_in_another(
        locks: FileLocks) -> None:
    writer = Child(_hold(True), locks)
    writer.expect("held")
    prober = Child(_try, locks)
    assert _ask(prober, False) is False
    assert _ask(prober, True) is False
    writer.say("release")
    writer.expect("released")
    assert _ask(prober, False) is True
    assert _ask(prober, True) is True
    prober.say(None)  # type: ignore[arg-type]
    writer.finish()
    prober.finish()


def test_readers_in_different_processes_share_a_resource(locks: FileLocks) -> None:
    reader = Child(_hold(False), locks)
    reader.expect("held")
    prober = Child(_try, locks)
    assert _ask(prober, False) is True
    assert _ask(prober, True) is False
    reader.say("release")
    reader.expect("released")
    prober.say(None)  # type: ignore[arg-type]
    reader.finish()
    prober.finish()


def test_different_resources_in_different_processes_never_wait(locks: FileLocks) -> None:
    writer = Child(_hold(True), locks)
    writer.expect("held")
    other = locks.hold("/other")
    assert other.try_acquire(True)
    other.release(True)
    locks.drop("/other")
    writer.say("release")
    writer.expect("released")
    writer.finish()


def _wait_for_refusal(locks: FileLocks, pipe: Connection) -> None:
    """Probe with new readers until one is refused, which only a waiting writer causes."""
    lock = locks.hold("/doc")
    deadline = time.monotonic() + HANG_TIMEOUT
    while lock.try_acquire(False):
        lock.release(False)
        if time.monotonic() > deadline:
            pipe.send("never refused")
            return
    pipe.send("refused")
    locks.drop("/doc")


def test_a_writer_waiting_in_one_process_holds_back_new_readers_of_others(
        locks: FileLocks) -> None:
    reader = Child(_hold(False), locks)
    reader.expect("held")
    writer = Child(_hold(True), locks)  # waits for the reader
    prober = Child(_wait_for_refusal, locks)
    prober.expect("refused")
    reader.say("release")
    reader.expect("released")
    writer.expect("held")
    writer.say("release")
    writer.expect("released")
    for child in (reader, writer, prober):
        child.finish()


def _hold_and_hang(locks: FileLocks, pipe: Connection) -> None:
    lock = locks.hold("/doc")
    lock.acquire(True)
    pipe.send("held")
    pipe.recv()  # never sent: the test kills this process here


def test_a_process_killed_while_holding_a_lock_blocks_no_one(locks: FileLocks) -> None:
    doomed = Child(_hold_and_hang, locks)
    doomed.expect("held")
    lock = locks.hold("/doc")
    assert not lock.try_acquire(False)
    assert doomed.process.pid is not None
    os.kill(doomed.process.pid, signal.SIGKILL)
    doomed.process.join(HANG_TIMEOUT)
    assert doomed.process.exitcode == -signal.SIGKILL
    # The kernel dropped the dead process's locks when it exited.
    assert lock.try_acquire(True)
    lock.release(True)
    locks.drop("/doc")


def test_a_private_lock_file_is_removed_by_the_process_that_made_it() -> None:
    locks = FileLocks()
    path = Path(locks.path)
    lock = locks.hold("/x")
    assert lock.try_acquire(True)
    lock.release(True)
    locks.drop("/x")
    assert path.exists()
    locks.close()
    assert not path.exists()


def test_threads_of_one_process_are_ordered_before_the_file_is_asked(locks: FileLocks) -> None:
    first = locks.hold("/doc")
    assert first.try_acquire(False)
    second = locks.hold("/doc")
    assert second is first
    assert first.try_acquire(False)  # a second reader of this process joins without the file
    assert not first.try_acquire(True)
    first.release(False)
    first.release(False)
    assert first.try_acquire(True)
    first.release(True)
    locks.drop("/doc")
    locks.drop("/doc")
    assert len(locks) == 0
