"""``--processes N``: worker processes that say who they are and never outlive the parent."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
from pathlib import Path

import httpx

from cli.support import TIMEOUT, Server


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


def test_log_lines_carry_the_worker_pid(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    with Server(tmp_path, "-b", "127.0.0.1", "-p", "0", "--processes", "2") as server:
        workers = set(children_of(server.process.pid))
        for _ in range(4):
            with httpx.Client(timeout=TIMEOUT) as client:  # a new connection each time
                assert client.get(f"{server.url}/hello.txt").text == "hello\n"
        assert server.stop() == 0
    access = [line for line in server.errors.splitlines() if "GET /hello.txt" in line]
    assert len(access) == 4, server.errors
    for line in access:
        match = re.match(r"\[(\d+)\] 127\.0\.0\.1 - - \[", line)
        assert match, line
        assert int(match.group(1)) in workers


def test_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    server = Server(tmp_path, "-b", "127.0.0.1", "-p", "0", "--processes", "2")
    try:
        workers = children_of(server.process.pid)
        assert len(workers) == 2
        assert httpx.get(server.url, timeout=TIMEOUT).status_code == 200
        # Each worker's exit is watched through a pidfd: no polling, no sleeping.
        exits = {os.pidfd_open(pid): pid for pid in workers}
        server.process.kill()  # SIGKILL: the parent cannot tell its workers anything
        server.process.wait(timeout=TIMEOUT)
        remaining = set(exits)
        while remaining:
            ready, _, _ = select.select(list(remaining), [], [], TIMEOUT)
            assert ready, f"orphaned workers still running: {[exits[fd] for fd in remaining]}"
            remaining -= set(ready)
        for fd in exits:
            os.close(fd)
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT).close()
        except ConnectionRefusedError:
            pass
        else:
            raise AssertionError("something still serves the port")
    finally:
        for pid in children_of(server.process.pid):
            os.kill(pid, signal.SIGKILL)
        server.stop(signal.SIGKILL)
