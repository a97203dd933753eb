"""Instructions per request under valgrind's callgrind: a number that does not move with noise.

Wall-clock req/s on a shared 2-core machine varies by several percent between runs; the count of
executed instructions for the same requests barely moves, so it shows whether a change made the
request path cheaper. Method: start the server under callgrind, warm it up, zero the counters
(``callgrind_control -z``), send exactly N sequential keep-alive GETs from a separate (native)
client process, dump (``callgrind_control -d``) and divide the dump's instruction total by N.
Everything the server process executes in that window counts, in every thread.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench import procs
from bench.procs import CLIENT_CPU, OUT, pin
from bench.scenarios import SCENARIOS, Context, Result, ScenarioFailed, run_on_server

PY = sys.executable
WARMUP_REQUESTS = 50
# Callgrind is slow (~50x); these servers give the comparison that matters without a long run.
DEFAULT_SERVERS = ("webpy-threaded", "webpy-trio", "waitress", "uvicorn", "hypercorn-trio")


def _callgrind_pids(running: procs.Running) -> list[int]:
    """Every process of the server that valgrind instruments (children are traced too)."""
    pids = []
    for pid in procs.process_tree(running.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--tool=callgrind" in cmdline:
            pids.append(pid)
    return pids or [running.pid]


def _control(flag: str, pid: int) -> None:
    proc = subprocess.run(
        ["callgrind_control", flag, str(pid)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0 or "OK" not in proc.stdout:
        raise ScenarioFailed(f"callgrind_control {flag}: {(proc.stdout + proc.stderr)[-200:]}")


def _sequential(port: int, count: int) -> None:
    cmd = [
        *pin(CLIENT_CPU),
        PY,
        "-m",
        "bench.clients.sequential",
        "--port",
        str(port),
        "--count",
        str(count),
    ]
    proc = subprocess.run(
        cmd,
        cwd=procs.REPO,
        env=procs.bench_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise ScenarioFailed(f"client failed: {proc.stderr.strip().splitlines()[-1:]}")
    if json.loads(proc.stdout)["ok"] != count:
        raise ScenarioFailed(f"client completed fewer than {count} requests")


def _summary_ir(dump: Path) -> int:
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ScenarioFailed(f"no instruction total in {dump}")


def run_callgrind(ctx: Context) -> list[Result]:
    """Instructions per hello-world request for the selected servers (or a default few)."""
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        return [
            Result(
                "callgrind",
                "-",
                "unavailable: valgrind not found (install it: python bench/run.py --setup)",
            )
        ]
    out_dir = OUT / "callgrind"
    out_dir.mkdir(parents=True, exist_ok=True)
    n = ctx.settings.callgrind_requests
    servers = [s for s in ctx.app_servers if ctx.server_names or s.name in DEFAULT_SERVERS]
    results = []
    for server in servers:
        for old in out_dir.glob(f"{server.name}.*"):
            old.unlink()
        out_file = out_dir / f"{server.name}.%p.out"

        def wrap(argv: list[str], out_file: Path = out_file) -> list[str]:
            return [
                "valgrind",
                "--tool=callgrind",
                "--quiet",
                "--trace-children=yes",
                f"--callgrind-out-file={out_file}",
                *argv,
            ]

        def load(
            c: Context, running: procs.Running, name: str = server.name
        ) -> tuple[dict[str, float], list[str]]:
            pids = _callgrind_pids(running)
            _sequential(running.port, WARMUP_REQUESTS)
            for pid in pids:
                _control("-z", pid)
            _sequential(running.port, n)
            ir = 0
            for pid in pids:
                _control("-d", pid)
                dumps = sorted(out_dir.glob(f"{name}.{pid}.out.*"))
                if not dumps:
                    raise ScenarioFailed(f"callgrind wrote no dump for process {pid}")
                ir += _summary_ir(dumps[-1])
            return {"instr_per_req": ir / n, "requests": n}, []

        scenario = SCENARIOS["callgrind"]
        probe = type(scenario)(scenario.name, scenario.title, load=load)
        ctx.log(f"[callgrind] {server.name} ({n} requests under valgrind) ...")
        result = run_on_server(ctx, probe, server, argv_wrap=wrap, start_deadline_s=300)
        result.notes = [f"{n} sequential keep-alive requests after {WARMUP_REQUESTS} warm-up"]
        result.metrics.pop("peak_rss_mib", None)  # meaningless under valgrind
        ctx.log(f"[callgrind] {server.name}: {describe_ir(result)}")
        results.append(result)
    return results


def describe_ir(result: Result) -> str:
    if not result.ok:
        return result.status
    return f"{result.metrics['instr_per_req']:,.0f} instructions/request"
