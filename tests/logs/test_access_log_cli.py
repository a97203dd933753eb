"""``--access-log FILE|-`` and ``--access-log-format``; SIGUSR1 reopens the file.

logrotate moves the file away and sends SIGUSR1: lines written before go to
the moved file, lines after to a new file at the same path, from every
worker process.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from workers.server import REPOSITORY, TIMEOUT, Workers


def get(workers: Workers, tag: str) -> None:
    """One request on a new connection (so requests reach every worker), read to the end:
    the server logs a response before it closes the connection, so its line is written."""
    with socket.create_connection(workers.address, timeout=TIMEOUT) as sock:
        sock.sendall(f"GET /?id={tag} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     .encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sigusr1_reopens_the_access_log_in_every_worker(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    workers = Workers(tmp_path / "record", "threaded", "--processes", "2", "--access-log", str(log),
                      "--access-log-format", "json")
    try:
        for number in range(10):
            get(workers, f"before-{number}")
        rotated = tmp_path / "access.log.1"
        log.rename(rotated)  # what logrotate does, then it signals
        workers.signal(signal.SIGUSR1)
        workers.wait_for("access log reopened", count=3)  # the parent and both workers
        for number in range(10):
            get(workers, f"after-{number}")
    finally:
        assert workers.stop() == 0
    before, after = records(rotated), records(log)
    assert sorted(str(r["target"]) for r in before) == sorted(
        f"/?id=before-{number}" for number in range(10))
    assert sorted(str(r["target"]) for r in after) == sorted(
        f"/?id=after-{number}" for number in range(10))
    assert {r["status"] for r in before + after} == {200}


def test_access_log_to_stdout_in_a_template(tmp_path: Path) -> None:
    workers = Workers(tmp_path / "record", "threaded", "--access-log", "-", "--access-log-format",
                      "{status} {method} {target} {upstream}")
    try:
        get(workers, "one")
        get(workers, "two")
    finally:
        assert workers.stop() == 0
    assert workers.process.stdout is not None
    lines = workers.process.stdout.read().splitlines()
    assert "200 GET /?id=one 127.0.0.1" in lines and "200 GET /?id=two 127.0.0.1" in lines
    assert not workers.lines_with("GET /?id=")  # not on stderr as well


def test_an_unknown_access_log_field_is_a_usage_error() -> None:
    done = subprocess.run([sys.executable, "-m", "webpy", "--access-log-format", "{nope}"],
                          cwd=REPOSITORY, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    assert done.returncode == 2
    assert "--access-log-format: unknown access log field 'nope'" in done.stderr


def test_sigusr1_reopens_the_access_log_on_trio(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    workers = Workers(tmp_path / "record", "trio", "--access-log", str(log),
                      "--access-log-format", "json")
    try:
        get(workers, "before")
        log.rename(tmp_path / "access.log.1")
        workers.signal(signal.SIGUSR1)
        workers.wait_for("access log reopened")
        get(workers, "after")
    finally:
        assert workers.stop() == 0
    assert [r["target"] for r in records(tmp_path / "access.log.1")] == ["/?id=before"]
    assert [r["target"] for r in records(log)] == ["/?id=after"]
