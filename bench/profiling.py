"""``--profile SCENARIO``: run one scenario against a webpy server running under a profiler.

The server is webpy's normal command line wrapped by ``bench.profile_server``; it is stopped with
SIGINT (a KeyboardInterrupt in the server's main thread) and given a minute to write the profile
before it is killed. Numbers measured while profiling are slower than real and are not reported.
"""

from __future__ import annotations

import signal
import sys

from bench import procs
from bench.procs import OUT
from bench.scenarios import SCENARIOS, Context, Result, describe
from bench.servers import APP_SERVERS, FILE_SERVERS, Server

PY = sys.executable


def _pick_server(ctx: Context, scenario_name: str) -> Server:
    """The first selected webpy server fitting the scenario (threaded unless --servers says)."""
    file_scenario = scenario_name.startswith("static")
    registry = FILE_SERVERS if file_scenario else APP_SERVERS
    names = ctx.server_names or ["webpy-threaded"]
    for name in names:
        for server in registry.values():
            if server.package == "webpy" and (server.name == name or server.family == name):
                return server
    raise SystemExit(f"--profile needs a webpy server; got --servers {','.join(names)}")


def run_profile(ctx: Context, scenario_name: str, profiler: str) -> int:
    scenario = SCENARIOS.get(scenario_name)
    if scenario is None or scenario.load is None:
        runnable = [n for n, s in SCENARIOS.items() if s.load is not None]
        raise SystemExit(f"--profile takes one of: {', '.join(runnable)}")
    if ctx.webpy_problem:
        print(f"webpy unavailable: {ctx.webpy_problem}", file=sys.stderr)
        return 1
    server = _pick_server(ctx, scenario_name)
    prefix = OUT / f"profile-{scenario_name}-{server.name}"
    OUT.mkdir(parents=True, exist_ok=True)
    port = procs.free_port()
    argv = server.argv(port, ctx.files)
    assert argv[:3] == [PY, "-m", "webpy"], argv
    wrapped = [
        PY,
        "-m",
        "bench.profile_server",
        "--out",
        str(prefix),
        "--profiler",
        profiler,
        *argv[2:],
    ]
    # argv[2:] is "webpy ARGS...": the wrapper takes the module name then its arguments.
    try:
        running = procs.start_server(
            f"profile-{server.name}", wrapped, port, scenario.probe_path, deadline_s=60
        )
    except procs.ServerUnavailable as exc:
        print(f"webpy did not start under the profiler: {exc}", file=sys.stderr)
        return 1
    try:
        metrics, _notes = scenario.load(ctx, running)
        print(
            f"[profile] {scenario_name} under {profiler} (slowed by the profiler): "
            f"{describe(Result(scenario_name, server.name, metrics=metrics))}"
        )
    except Exception as exc:  # report, still collect the profile
        print(f"[profile] load failed: {exc}", file=sys.stderr)
    finally:
        procs.stop_server(running, grace_s=60, first=signal.SIGINT)
    report = prefix.with_suffix(".txt")
    if not report.exists():
        print(f"no profile written; see {running.log}", file=sys.stderr)
        return 1
    print(report.read_text())
    written = [p.name for p in OUT.glob(prefix.name + ".*")]
    print(f"profile files: {', '.join(sorted(written))} in {OUT}")
    return 0
