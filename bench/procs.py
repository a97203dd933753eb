"""Starting, probing, measuring and stopping server processes.

Every server runs in its own session, so SIGTERM/SIGKILL reach its whole process tree by process
group id (never by name). Readiness is a bounded poll for a real HTTP answer, not a sleep: a port
that accepts is not yet a server that answers.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
HOST = "127.0.0.1"
SERVER_CPU = 0
CLIENT_CPU = 1


class ServerUnavailable(Exception):
    """The server could not be started or never answered; the message says why."""


def pinning_available() -> bool:
    """Pinning needs taskset and at least two CPUs (one for the server, one for the client)."""
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pin(cpu: int) -> list[str]:
    """A ``taskset`` prefix for a command, or nothing where pinning is impossible."""
    return ["taskset", "-c", str(cpu)] if pinning_available() else []


def free_port() -> int:
    """A port the kernel just considered free on loopback (the small race is acceptable here)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def raise_nofile() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def bench_env() -> dict[str, str]:
    """The environment for servers and clients: the repo importable, no output buffering."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONDEVMODE", None)
    return env


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces; fields resume after ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree = [pid]
    i = 0
    while i < len(tree):
        tree.extend(_children(tree[i]))
        i += 1
    return tree


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of a process and its children, in KiB."""
    return sum(_status_kib(p, "VmRSS") for p in process_tree(pid))


def peak_rss_kib(pid: int) -> int:
    """Peak resident memory (VmHWM) of a process and its children, in KiB."""
    return sum(_status_kib(p, "VmHWM") for p in process_tree(pid))


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds used so far by a process and its children."""
    ticks = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11]) / ticks
        system += int(fields[12]) / ticks
    return user, system


def http_probe(port: int, path: str = "/", timeout: float = 2.0) -> int | None:
    """Send one GET and return the status code, or None if nothing HTTP-like came back."""
    request = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n").encode()
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(request)
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    parts = data.split(b"\r\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
        return int(parts[1])
    return None


@dataclass
class Running:
    """A started server: its process, port and log file."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a server log, squeezed onto one line for a failure reason."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])[:300]


def start_server(
    name: str,
    argv: Sequence[str],
    port: int,
    probe_path: str = "/",
    deadline_s: float = 30.0,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
) -> Running:
    """Start ``argv`` pinned to the server CPU and wait until ``probe_path`` answers 200.

    Raises ServerUnavailable (after stopping the process) if it exits or the deadline passes.
    """
    logs = OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    cmd = [*pin(SERVER_CPU), *argv]
    with open(log, "wb") as logf:
        logf.write(("$ " + " ".join(cmd) + "\n").encode())
        logf.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env or bench_env(),
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(name, proc, port, log)
    end = time.monotonic() + deadline_s
    delay = 0.01
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise ServerUnavailable(
                f"exited with code {proc.returncode}: {log_tail(log) or 'no output'}"
            )
        status = http_probe(port, probe_path)
        if status == 200:
            return running
        if status is not None:
            stop_server(running)
            raise ServerUnavailable(f"GET {probe_path} answered {status}, expected 200")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    stop_server(running)
    raise ServerUnavailable(f"no HTTP answer within {deadline_s:.0f}s: {log_tail(log)}")


def stop_server(running: Running, grace_s: float = 5.0, first: int = signal.SIGTERM) -> None:
    """Signal the server's process group (``first``, SIGTERM by default), then SIGKILL after
    ``grace_s`` if it is still there."""
    proc = running.proc
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, first)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
