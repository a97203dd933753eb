"""The benchmark scenarios: what load each one applies and which numbers it keeps.

A scenario either runs once per server (``load`` is called with a freshly started server, which is
stopped afterwards, so every scenario sees a cold, isolated process) or runs on its own (``run``,
for the in-process and no-I/O measurements). Every failure becomes a ``Result`` whose status says
"unavailable: ..." or "failed: ...", so one broken server never stops the run.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import selectors
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs
from bench.procs import CLIENT_CPU, HOST, SERVER_CPU, Running, ServerUnavailable, pin
from bench.servers import (
    Server,
    select_app_servers,
    select_file_servers,
    select_interop_servers,
    select_kv_servers,
    webpy_limit_notes,
)
from bench.wrk import WrkFailed, WrkResult, run_wrk

PY = sys.executable
MIB = 1024 * 1024
SMALL_FILE = "1m.bin"
LARGE_FILE = "100m.bin"
UPLOAD_FILE = "upload-10m.bin"
PROBE_FILE = "hello.txt"
#: A stylesheet of 200 KiB with its precompressed `.gz` beside it, as a site deploys one.
CSS_FILE = "style.css"
UPLOAD_SIZE = 10 * MIB


@dataclass(frozen=True)
class Settings:
    """Durations and counts; ``--quick`` shrinks them for a smoke run."""

    quick: bool
    duration_s: float
    warmup_s: float
    idle_conns: int
    idle_deadline_s: float
    downloads_small: int
    downloads_large: int
    uploads: int
    inmemory_s: float
    callgrind_requests: int
    rounds: int

    @classmethod
    def make(cls, quick: bool) -> Settings:
        if quick:
            return cls(True, 1, 0, 1000, 30, 20, 2, 3, 1, 200, 1)
        return cls(False, 5, 1, 10000, 90, 200, 5, 10, 3, 2000, 3)


@dataclass
class Result:
    """One scenario x server outcome. ``status`` is "ok", "unavailable: why" or "failed: why"."""

    scenario: str
    server: str
    status: str = "ok"
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Context:
    """Everything a scenario needs: settings, selected servers, tools found, logging."""

    settings: Settings
    server_names: list[str] | None
    webpy_problem: str | None
    files: Path
    log: Callable[[str], None]
    tools: dict[str, str | None] = field(default_factory=dict)

    @property
    def app_servers(self) -> list[Server]:
        return select_app_servers(self.server_names)

    @property
    def file_servers(self) -> list[Server]:
        return select_file_servers(self.server_names)


class ScenarioFailed(Exception):
    """The load ran but the server misbehaved; the message is the reason."""


Load = Callable[[Context, Running], tuple[dict[str, float], list[str]]]


@dataclass(frozen=True)
class Scenario:
    """A named scenario; ``load`` runs per server, ``run`` runs the whole scenario itself."""

    name: str
    title: str
    servers: Callable[[Context], list[Server]] | None = None
    load: Load | None = None
    run: Callable[[Context], list[Result]] | None = None
    probe_path: str = "/"
    needs: tuple[str, ...] = ()
    upload_only: bool = False
    repeat: bool = True  # run Settings.rounds rounds, interleaved across servers


# --------------------------------------------------------------------------- shared pieces


def webpy_problem() -> str | None:
    """Why webpy cannot be benchmarked in this checkout, or None if it looks runnable."""
    env = procs.bench_env()
    code = (
        "import importlib.util, webpy; "
        "assert importlib.util.find_spec('webpy.__main__'), 'webpy has no __main__ (no CLI)'"
    )
    proc = subprocess.run(
        [PY, "-c", code], cwd=procs.REPO, env=env, capture_output=True, text=True, timeout=60
    )
    if proc.returncode == 0:
        return None
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1][:200] if lines else f"import failed with code {proc.returncode}"


def make_files(directory: Path, quick: bool) -> None:
    """Create the static files once (random bytes, so no layer can compress them)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / PROBE_FILE).write_text("Hello, world!")
    _make_stylesheet(directory / CSS_FILE)
    for name, size in ((SMALL_FILE, MIB), (LARGE_FILE, 100 * MIB), (UPLOAD_FILE, UPLOAD_SIZE)):
        path = directory / name
        if path.exists() and path.stat().st_size == size:
            continue
        with open(path, "wb") as f:
            for _ in range(size // MIB):
                f.write(os.urandom(MIB))


def _make_stylesheet(path: Path) -> None:
    """200 KiB of plausible CSS (rules differ, so it compresses like a real sheet) and its .gz."""
    if path.exists() and (path.parent / (path.name + ".gz")).exists():
        return
    rules = []
    n = 0
    while sum(map(len, rules)) < 200 * 1024:
        rules.append(f".block-{n} > .item-{n % 37} {{ margin: {n % 13}px {n % 7}px; "
                     f"color: #{(n * 2654435761) % 0xFFFFFF:06x}; "
                     f"font: {10 + n % 9}px/1.{n % 5} sans-serif; }}\n")
        n += 1
    data = "".join(rules).encode()[: 200 * 1024]
    path.write_bytes(data)
    (path.parent / (path.name + ".gz")).write_bytes(gzip.compress(data, 9))


def css_gzip_load(ctx: Context, running: Running) -> tuple[dict[str, float], list[str]]:
    """wrk at 16 connections fetching the stylesheet with ``Accept-Encoding: gzip``."""
    s = ctx.settings
    headers = ("Accept-Encoding: gzip",)
    path = "/" + CSS_FILE
    if s.warmup_s:
        run_wrk(running.port, 16, s.warmup_s, path=path, headers=headers)
    w = run_wrk(running.port, 16, s.duration_s, path=path, headers=headers,
                log_name=f"css-gzip-{running.name}")
    _alive(running)
    return _wrk_metrics(w)


def _wrk_metrics(w: WrkResult) -> tuple[dict[str, float], list[str]]:
    metrics = {"rps": w.rps, "p50_ms": w.p50_ms, "p99_ms": w.p99_ms, "requests": w.requests}
    notes: list[str] = []
    if w.requests == 0:
        raise ScenarioFailed(
            "no request completed"
            + (f" ({w.error_summary()})" if w.errors and w.error_total else "")
        )
    if w.error_total:
        metrics["errors"] = w.error_total
        if w.error_total > 0.01 * w.requests:
            raise ScenarioFailed(f"wrk errors: {w.error_summary()} in {w.requests} requests")
        notes.append(f"wrk errors: {w.error_summary()}")
    return metrics, notes


def _alive(running: Running) -> None:
    if running.proc.poll() is not None:
        raise ScenarioFailed(
            f"server exited with code {running.proc.returncode}: {procs.log_tail(running.log)}"
        )


def _rss_mib(running: Running) -> float:
    return procs.rss_kib(running.pid) / 1024


# --------------------------------------------------------------------------- loads


def hello_load(connections: int, close: bool = False) -> Load:
    """wrk at ``connections`` connections (keep-alive, or a new connection per request)."""
    headers = ("Connection: close",) if close else ()

    def load(ctx: Context, running: Running) -> tuple[dict[str, float], list[str]]:
        s = ctx.settings
        tag = f"{'close' if close else 'hello'}-{connections}-{running.name}"
        if s.warmup_s:
            run_wrk(running.port, connections, s.warmup_s, headers=headers)
        user, system = procs.cpu_seconds(running.pid)
        w = run_wrk(running.port, connections, s.duration_s, headers=headers, log_name=tag)
        user_after, system_after = procs.cpu_seconds(running.pid)
        _alive(running)
        metrics, notes = _wrk_metrics(w)
        metrics["rss_mib"] = _rss_mib(running)
        # Where a server's time goes: its own code (user) or the kernel (sys), per request.
        metrics["user_us"] = (user_after - user) / w.requests * 1e6
        metrics["sys_us"] = (system_after - system) / w.requests * 1e6
        metrics["cpu_us"] = metrics["user_us"] + metrics["sys_us"]
        return metrics, notes

    return load


def _curl(args: list[str], timeout: float) -> str:
    curl = shutil.which("curl")
    if curl is None:
        raise ScenarioFailed("curl not found (install it: python bench/run.py --setup)")
    proc = subprocess.run(
        [*pin(CLIENT_CPU), curl, "-s", "-S", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise ScenarioFailed(f"curl exited {proc.returncode}: {proc.stderr.strip()[:200]}")
    return proc.stdout


def download_load(name: str, count: Callable[[Settings], int]) -> Load:
    """Download one file ``count`` times with one curl process (reusing the connection where the
    server allows it); MB/s is bytes over the summed per-transfer times, so curl's own start-up
    is not counted."""

    def load(ctx: Context, running: Running) -> tuple[dict[str, float], list[str]]:
        size = (ctx.files / name).stat().st_size
        url = f"http://{HOST}:{running.port}/{name}"
        fmt = "%{http_code} %{size_download} %{time_total} %{num_connects}\n"
        _curl(["-o", "/dev/null", url], timeout=120)  # warm the page cache and the server
        n = count(ctx.settings)
        args = ["-w", fmt]
        for _ in range(n):
            args += ["-o", "/dev/null", url]
        out = _curl(args, timeout=60 + n * 5)
        total_bytes = 0
        total_time = 0.0
        connects = 0
        for line in out.splitlines():
            code, got, secs, conns = line.split()
            if code != "200" or int(got) != size:
                raise ScenarioFailed(f"download answered {code} with {got} of {size} bytes")
            total_bytes += int(got)
            total_time += float(secs)
            connects += int(conns)
        if total_bytes != size * n:
            raise ScenarioFailed(f"{len(out.splitlines())} of {n} downloads completed")
        _alive(running)
        metrics = {"mbps": total_bytes / total_time / 1e6, "downloads": n}
        notes = [] if connects <= 1 else [f"{connects} connections for {n} downloads"]
        return metrics, notes

    return load


def upload_load(ctx: Context, running: Running) -> tuple[dict[str, float], list[str]]:
    """POST a 10 MiB body to /upload repeatedly; the app streams it and answers the byte count."""
    url = f"http://{HOST}:{running.port}/upload"
    path = ctx.files / UPLOAD_FILE
    n = ctx.settings.uploads
    args = [
        "--data-binary",
        f"@{path}",
        "-H",
        "Content-Type: application/octet-stream",
        "-H",
        "Expect:",
        "-w",
        "\n%{http_code} %{size_upload} %{time_total}\n",
    ]
    out = _curl([*args, *([url] * (n + 1))], timeout=60 + n * 10)
    lines = [line for line in out.splitlines() if line.strip()]
    if len(lines) != 2 * (n + 1):
        raise ScenarioFailed(f"unexpected curl output: {out[:200]!r}")
    total_bytes = 0
    total_time = 0.0
    for i in range(0, len(lines), 2):
        body, (code, sent, secs) = lines[i].strip(), lines[i + 1].split()
        if code != "200" or body != str(UPLOAD_SIZE):
            raise ScenarioFailed(f"upload answered {code} {body[:60]!r}, expected {UPLOAD_SIZE}")
        if i:  # the first upload is the warm-up
            total_bytes += int(sent)
            total_time += float(secs)
    _alive(running)
    return {"mbps": total_bytes / total_time / 1e6, "uploads": n}, []


def _read_json_line(proc: subprocess.Popen[str], deadline_s: float) -> dict[str, Any]:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout=deadline_s):
            raise ScenarioFailed(f"idle client gave no answer within {deadline_s:.0f}s")
        line = proc.stdout.readline()
    finally:
        sel.close()
    if not line:
        raise ScenarioFailed(f"idle client exited with code {proc.wait(timeout=10)}")
    result: dict[str, Any] = json.loads(line)
    return result


def idle_load(ctx: Context, running: Running) -> tuple[dict[str, float], list[str]]:
    """Hold N idle keep-alive connections from another process, then measure one active client.

    Reports server RSS growth while they are held and the active client's latency; a server that
    refuses, drops or closes the idle connections fails with the reason.
    """
    s = ctx.settings
    rss_before = procs.rss_kib(running.pid)
    cmd = [
        *pin(CLIENT_CPU),
        PY,
        "-m",
        "bench.clients.idle",
        "--port",
        str(running.port),
        "--count",
        str(s.idle_conns),
        "--deadline",
        str(s.idle_deadline_s),
        "--hold",
        "600",
    ]
    client = subprocess.Popen(
        cmd,
        cwd=procs.REPO,
        env=procs.bench_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert client.stdin is not None
    metrics: dict[str, float] = {}
    notes: list[str] = []
    try:
        opened = _read_json_line(client, s.idle_deadline_s + 30)
        rss_held = procs.rss_kib(running.pid)
        metrics["idle_ok"] = opened["ok"]
        metrics["open_s"] = opened["seconds"]
        problems: list[str] = []
        if opened["ok"] < s.idle_conns:
            reasons = "; ".join(f"{k}: {v}" for k, v in opened["reasons"].items())
            problems.append(
                f"{opened['ok']}/{s.idle_conns} idle connections established ({reasons})"
            )
        try:
            if running.proc.poll() is not None:
                raise WrkFailed("server is gone")
            w = run_wrk(running.port, 1, s.duration_s, log_name=f"idle-{running.name}")
            wm, wnotes = _wrk_metrics(w)
            metrics.update(rps=wm["rps"], p50_ms=wm["p50_ms"], p99_ms=wm["p99_ms"])
            notes += wnotes
        except (WrkFailed, ScenarioFailed) as exc:
            status = procs.http_probe(running.port) if running.proc.poll() is None else None
            answer = f" (a new request now gets {status})" if status and status != 200 else ""
            problems.append(f"active client: {exc}{answer}")
        if client.poll() is None:
            client.stdin.write("check\n")
            client.stdin.flush()
            alive = _read_json_line(client, 60)["alive"]
            metrics["alive_after"] = alive
            if alive < 0.99 * opened["ok"]:
                problems.append(
                    f"server closed {opened['ok'] - alive} of {opened['ok']} idle connections"
                )
        rss_end = procs.rss_kib(running.pid)
        metrics["rss_before_mib"] = rss_before / 1024
        if running.proc.poll() is None and rss_held:
            metrics["rss_growth_mib"] = (max(rss_held, rss_end) - rss_before) / 1024
            if opened["ok"]:
                metrics["kib_per_conn"] = (max(rss_held, rss_end) - rss_before) / opened["ok"]
        if running.proc.poll() is not None:
            problems.append(f"server exited: {procs.log_tail(running.log, 1)}")
        if problems:
            raise ScenarioFailed("; ".join(problems), metrics, notes)
        return metrics, notes
    finally:
        with contextlib.suppress(OSError):
            client.stdin.close()
        try:
            client.wait(timeout=30)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()


# --------------------------------------------------------------------------- per-server driver


def run_on_server(
    ctx: Context,
    scenario: Scenario,
    server: Server,
    argv_wrap: Callable[[list[str]], list[str]] | None = None,
    start_deadline_s: float = 30.0,
) -> Result:
    """Start ``server``, apply the scenario's load, stop it; never raises for server trouble."""
    result = Result(scenario.name, server.name, notes=list(server.notes))
    if server.package == "webpy":
        if ctx.webpy_problem:
            result.status = f"unavailable: {ctx.webpy_problem}"
            return result
        result.notes += webpy_limit_notes()
    for exe in (*server.needs, *scenario.needs):
        if not ctx.tools.get(exe):
            result.status = (
                f"unavailable: {exe} not found (install it: python bench/run.py --setup)"
            )
            return result
    port = procs.free_port()
    argv = server.argv(port, ctx.files)
    if argv_wrap:
        argv = argv_wrap(argv)
    try:
        running = procs.start_server(
            server.name, argv, port, scenario.probe_path, deadline_s=start_deadline_s
        )
    except ServerUnavailable as exc:
        kind = "unavailable" if server.package == "webpy" else "failed"
        result.status = f"{kind}: did not start: {exc}"
        return result
    assert scenario.load is not None
    try:
        metrics, notes = scenario.load(ctx, running)
        result.metrics.update(metrics)
        result.notes += notes
    except ScenarioFailed as exc:
        result.status = f"failed: {exc.args[0]}"
        if len(exc.args) > 2:
            result.metrics.update(exc.args[1])
            result.notes += exc.args[2]
    except (WrkFailed, subprocess.TimeoutExpired, OSError, ValueError) as exc:
        result.status = f"failed: {exc}"
    except Exception as exc:  # a bug in a load must not end the whole run
        result.status = f"failed: {type(exc).__name__}: {exc}"
    finally:
        peak = procs.peak_rss_kib(running.pid)
        if peak:
            result.metrics["peak_rss_mib"] = peak / 1024
        procs.stop_server(running)
    return result


def run_per_server(ctx: Context, scenario: Scenario) -> list[Result]:
    """Run the scenario on every server, in rounds that go through all servers in turn, so that
    a slow spell of the machine spreads over every server instead of hitting one."""
    assert scenario.servers is not None
    servers = scenario.servers(ctx)
    rounds = ctx.settings.rounds if scenario.repeat else 1
    runs: dict[str, list[Result]] = {s.name: [] for s in servers}
    for k in range(rounds):
        for server in servers:
            done = runs[server.name]
            if done and done[-1].status.startswith("unavailable"):
                continue
            if scenario.upload_only and not server.upload:
                done.append(Result(scenario.name, server.name, "unavailable: no upload app"))
                continue
            label = f"[{scenario.name}] {server.name}" + (
                f" (round {k + 1}/{rounds})" if rounds > 1 else ""
            )
            ctx.log(f"{label} ...")
            result = run_on_server(ctx, scenario, server)
            ctx.log(f"{label}: {describe(result)}")
            done.append(result)
    results = [combine(runs[s.name]) for s in servers]
    if rounds > 1:
        for result in results:
            ctx.log(f"[{scenario.name}] {result.server} median: {describe(result)}")
    return results


def combine(rounds: list[Result]) -> Result:
    """Median of each metric over the rounds that succeeded; a failed round becomes a note."""
    good = [r for r in rounds if r.ok]
    if not good:
        return rounds[0]
    first = good[0]
    metrics = {
        key: statistics.median(r.metrics[key] for r in good)
        for key in first.metrics
        if all(key in r.metrics for r in good)
    }
    notes = list(dict.fromkeys(n for r in good for n in r.notes))
    if len(rounds) > 1:
        metrics["rounds"] = len(good)
        main = "rps" if "rps" in metrics else "mbps" if "mbps" in metrics else None
        if main:
            unit = "req/s" if main == "rps" else "MB/s"
            values = " / ".join(f"{r.metrics[main]:,.0f}" for r in good)
            notes.append(f"rounds: {values} {unit} (median reported)")
    failed = [r.status for r in rounds if not r.ok]
    if failed:
        notes.append(f"{len(failed)} of {len(rounds)} rounds failed: {failed[0]}")
    return Result(first.scenario, first.server, "ok", metrics, notes)


def describe(result: Result) -> str:
    """One log line for a result."""
    m = result.metrics
    parts = []
    if "rps" in m:
        parts.append(f"{m['rps']:,.0f} req/s")
    if "p99_ms" in m:
        parts.append(f"p50 {m.get('p50_ms', float('nan')):.2f} ms p99 {m['p99_ms']:.2f} ms")
    if "mbps" in m:
        parts.append(f"{m['mbps']:,.0f} MB/s")
    if "rss_growth_mib" in m:
        parts.append(f"RSS +{m['rss_growth_mib']:.1f} MiB")
    if "cycles_per_s" in m:
        parts.append(f"{m['cycles_per_s']:,.0f} cycles/s")
    if "instr_per_req" in m:
        parts.append(f"{m['instr_per_req']:,.0f} instructions/request")
    text = ", ".join(parts)
    return text if result.ok else f"{result.status}" + (f" [{text}]" if text else "")


# --------------------------------------------------------------------------- whole-scenario runs


def _json_subprocess(cmd: list[str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        cmd,
        cwd=procs.REPO,
        env=procs.bench_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise ScenarioFailed(err[-1][:200] if err else f"exited with code {proc.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_open_websockets(ctx: Context) -> list[Result]:
    """1,000 open WebSockets on webpy's threaded server (8 threads), a message a second each:
    the server's memory, and a plain HTTP client's p99 with them open against without."""
    result = Result("websockets", "webpy-threaded")
    sockets, seconds = (200, 3) if ctx.settings.quick else (1000, 10)
    cmd = [PY, "bench/open_websockets.py", "--sockets", str(sockets), "--seconds", str(seconds)]
    try:
        data = _json_subprocess(cmd, timeout=4 * seconds + 120)
    except (ScenarioFailed, subprocess.TimeoutExpired) as exc:
        result.status = f"failed: {exc}"
        return [result]
    if not data.get("ok"):
        result.status = f"failed: opened {data.get('opened')}, errors {data.get('errors')}"
    result.metrics = {
        "sockets": data["sockets"], "rss_before_mib": data["rss_before_mib"],
        "rss_growth_mib": data["rss_with_sockets_mib"] - data["rss_before_mib"],
        "p99_ms_alone": data["p99_ms_alone"], "p99_ms_with_sockets": data["p99_ms_with_sockets"],
        "p99_ratio": data["p99_ratio"], "echoes": data.get("echoes", 0),
    }
    return [result]


def run_inmemory(ctx: Context) -> list[Result]:
    """In-process test clients: webpy's memory transport, falcon's and starlette's TestClient."""
    results = []
    names = ["falcon", "starlette"]
    if any(s.package == "webpy" for s in ctx.app_servers):
        names.insert(0, "webpy")
    for name in names:
        label = f"{name}-testclient" if name != "webpy" else "webpy-memory"
        result = Result("inmemory", label)
        if name == "webpy" and ctx.webpy_problem:
            result.status = f"unavailable: {ctx.webpy_problem}"
        else:
            cmd = [
                *pin(SERVER_CPU),
                PY,
                "-m",
                "bench.clients.inmemory",
                name,
                "--seconds",
                str(ctx.settings.inmemory_s),
            ]
            try:
                data = _json_subprocess(cmd, timeout=ctx.settings.inmemory_s + 60)
                result.metrics["rps"] = data["rps"]
            except (ScenarioFailed, subprocess.TimeoutExpired) as exc:
                kind = "unavailable" if name == "webpy" else "failed"
                result.status = f"{kind}: {exc}"
        if name == "starlette":
            result.notes.append("TestClient used as a context manager (one portal thread)")
        if name == "falcon":
            result.notes.append("simulate_get() calls the WSGI app directly; no HTTP is parsed")
        ctx.log(f"[inmemory] {label}: {describe(result)}")
        results.append(result)
    return results


def run_h11_ceiling(ctx: Context) -> list[Result]:
    """Plain h11 parse + serialise cycles per second on the server CPU, no I/O."""
    result = Result("h11-ceiling", "h11")
    cmd = [
        *pin(SERVER_CPU),
        PY,
        "-m",
        "bench.h11_ceiling",
        "--seconds",
        str(ctx.settings.inmemory_s),
    ]
    try:
        data = _json_subprocess(cmd, timeout=ctx.settings.inmemory_s + 60)
        result.metrics["cycles_per_s"] = data["cycles_per_s"]
        result.notes.append(f"h11 {data['h11']}")
    except (ScenarioFailed, subprocess.TimeoutExpired) as exc:
        result.status = f"failed: {exc}"
    ctx.log(f"[h11-ceiling] {describe(result)}")
    return [result]


def run_callgrind_scenario(ctx: Context) -> list[Result]:
    from bench.callgrind import run_callgrind  # valgrind plumbing lives apart

    return run_callgrind(ctx)


KV_SCRIPT = Path(__file__).resolve().parent / "wrk_kv.lua"


def kv_load(ctx: Context, running: Running) -> tuple[dict[str, float], list[str]]:
    """The key-value REST cycle (80% GET, 20% PUT of small JSON documents), 16 connections."""
    s = ctx.settings
    run_wrk(running.port, 16, max(s.warmup_s, 1), script=KV_SCRIPT)  # every key written
    user, system = procs.cpu_seconds(running.pid)
    w = run_wrk(running.port, 16, s.duration_s, script=KV_SCRIPT, log_name=f"kv-{running.name}")
    user_after, system_after = procs.cpu_seconds(running.pid)
    _alive(running)
    metrics, notes = _wrk_metrics(w)
    metrics["user_us"] = (user_after - user) / w.requests * 1e6
    metrics["sys_us"] = (system_after - system) / w.requests * 1e6
    return metrics, notes


def _interop(ctx: Context) -> list[Server]:
    return select_interop_servers(ctx.server_names)


def _kv(ctx: Context) -> list[Server]:
    return select_kv_servers(ctx.server_names)


def _app(ctx: Context) -> list[Server]:
    return ctx.app_servers


def _files(ctx: Context) -> list[Server]:
    return ctx.file_servers


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "hello-16",
            "Hello world, keep-alive, 16 connections",
            _app,
            hello_load(16),
            needs=("wrk",),
        ),
        Scenario(
            "hello-256",
            "Hello world, keep-alive, 256 connections",
            _app,
            hello_load(256),
            needs=("wrk",),
        ),
        Scenario(
            "close",
            "Hello world, a new connection per request (16 at a time)",
            _app,
            hello_load(16, close=True),
            needs=("wrk",),
        ),
        Scenario(
            "interop-16",
            "Hosted apps: a WSGI and an ASGI hello app, keep-alive, 16 connections",
            _interop,
            hello_load(16),
            needs=("wrk",),
        ),
        Scenario(
            "kv-16",
            "Key-value JSON REST API, 80% GET / 20% PUT, keep-alive, 16 connections",
            _kv,
            kv_load,
            probe_path="/kv/probe",
            needs=("wrk",),
        ),
        Scenario(
            "static-css-gzip",
            "200 KiB stylesheet with Accept-Encoding: gzip (precompressed .gz beside it), "
            "16 connections",
            _files,
            css_gzip_load,
            probe_path="/" + PROBE_FILE,
            needs=("wrk",),
        ),
        Scenario(
            "static-1m",
            "1 MiB static file download",
            _files,
            download_load(SMALL_FILE, lambda s: s.downloads_small),
            probe_path="/" + PROBE_FILE,
            needs=("curl",),
        ),
        Scenario(
            "static-100m",
            "100 MiB static file download",
            _files,
            download_load(LARGE_FILE, lambda s: s.downloads_large),
            probe_path="/" + PROBE_FILE,
            needs=("curl",),
        ),
        Scenario(
            "upload",
            "10 MiB upload (POST /upload, streamed)",
            _app,
            upload_load,
            needs=("curl",),
            upload_only=True,
        ),
        Scenario(
            "idle",
            "Idle keep-alive connections held + one active client",
            _app,
            idle_load,
            needs=("wrk",),
            repeat=False,  # 10,000 connections per server: one round keeps the run short
        ),
        Scenario("inmemory", "In-process test client, hello world", run=run_inmemory),
        Scenario("websockets", "1,000 open WebSockets and a plain HTTP client",
                 run=run_open_websockets),
        Scenario("h11-ceiling", "h11 alone: parse + serialise, no I/O", run=run_h11_ceiling),
        Scenario(
            "callgrind", "Instructions per request under callgrind", run=run_callgrind_scenario
        ),
    ]
}

ALIASES = {"hello": ["hello-16", "hello-256"], "static": ["static-1m", "static-100m"]}
DEFAULT_ORDER = [
    "h11-ceiling",
    "hello-16",
    "hello-256",
    "close",
    "kv-16",
    "interop-16",
    "upload",
    "static-css-gzip",
    "static-1m",
    "static-100m",
    "idle",
    "inmemory",
    "websockets",
    "callgrind",
]
QUICK_SKIP = {"callgrind"}


def expand(names: list[str] | None, quick: bool) -> list[str]:
    """Scenario names from ``--only`` (aliases allowed), in the canonical order."""
    if not names:
        return [n for n in DEFAULT_ORDER if not (quick and n in QUICK_SKIP)]
    wanted: set[str] = set()
    for name in names:
        if name in ALIASES:
            wanted.update(ALIASES[name])
        elif name in SCENARIOS:
            wanted.add(name)
        else:
            raise SystemExit(
                f"unknown scenario {name!r}; known: {', '.join([*DEFAULT_ORDER, *ALIASES])}"
            )
    return [n for n in DEFAULT_ORDER if n in wanted]


def run_scenario(ctx: Context, name: str) -> list[Result]:
    scenario = SCENARIOS[name]
    if scenario.run is not None:
        return scenario.run(ctx)
    return run_per_server(ctx, scenario)
