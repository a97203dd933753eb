"""Run wrk pinned to the client CPU and turn its output into numbers.

The numbers come from a ``done()`` Lua hook (``wrk_report.lua``) that prints exact counts and
microsecond percentiles; the human text report (``--latency``) is parsed as a fallback and kept in
the log for reading.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.procs import CLIENT_CPU, HOST, OUT, pin

LUA = Path(__file__).resolve().parent / "wrk_report.lua"
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_path() -> str | None:
    return shutil.which("wrk")


@dataclass
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and the errors it counted."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: dict[str, int]

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())

    def error_summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.errors.items() if v)


class WrkFailed(Exception):
    """wrk did not run or produced no parsable report."""


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_text(text: str) -> WrkResult:
    """Parse wrk's text report (used when the Lua summary line is missing)."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not rps:
        raise WrkFailed("no Requests/sec in wrk output: " + text.strip()[-300:])
    pct = {
        p: _to_ms(v, u)
        for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    total = re.search(r"(\d+) requests in", text)
    errors: dict[str, int] = {}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        for key, val in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            errors[key] = int(val)
    status = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if status:
        errors["status"] = int(status.group(1))
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=pct.get("50", float("nan")),
        p99_ms=pct.get("99", float("nan")),
        requests=int(total.group(1)) if total else 0,
        errors=errors,
    )


def parse(text: str) -> WrkResult:
    for line in text.splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[len("WRKJSON ") :])
            seconds = d["duration_us"] / 1e6
            return WrkResult(
                rps=d["requests"] / seconds if seconds else 0.0,
                p50_ms=d["p50_us"] / 1000,
                p99_ms=d["p99_us"] / 1000,
                requests=d["requests"],
                errors={
                    "connect": d["connect_errors"],
                    "read": d["read_errors"],
                    "write": d["write_errors"],
                    "status": d["status_errors"],
                    "timeout": d["timeouts"],
                },
            )
    return parse_text(text)


def run_wrk(
    port: int,
    connections: int,
    duration_s: float,
    path: str = "/",
    headers: tuple[str, ...] = (),
    log_name: str | None = None,
    timeout_s: int = 2,
    script: Path | None = None,
) -> WrkResult:
    """``wrk -t1 -cN -dSs --latency`` against loopback, bounded by a subprocess timeout.

    `script` is a Lua file with a ``request`` function (a mix of requests); the summary
    reporter is appended to it.
    """
    lua = LUA
    if script is not None:
        OUT.mkdir(parents=True, exist_ok=True)
        lua = OUT / f"wrk-{script.stem}-with-report.lua"
        lua.write_text(script.read_text() + "\n" + LUA.read_text())
    exe = wrk_path()
    if exe is None:
        raise WrkFailed("wrk not found (install it: python bench/run.py --setup)")
    cmd = [
        *pin(CLIENT_CPU),
        exe,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-s",
        str(lua),
    ]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(f"http://{HOST}:{port}{path}")
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkFailed("wrk did not finish in time") from exc
    text = proc.stdout + proc.stderr
    if log_name:
        logs = OUT / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"wrk-{log_name}.txt").write_text("$ " + " ".join(cmd) + "\n" + text)
    if proc.returncode != 0 and "Requests/sec" not in text:
        raise WrkFailed(f"wrk exited {proc.returncode}: {text.strip()[-300:]}")
    return parse(text)
