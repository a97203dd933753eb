"""Run webpy and its peers side by side and write BENCHMARKS.md and bench/ratios.png.

python bench/run.py --setup                 # install tools and Python packages
python bench/run.py                         # every scenario, every server (~15 minutes)
python bench/run.py --quick                 # smoke run, about 3 minutes
python bench/run.py --only hello-16,idle --servers webpy-threaded,waitress
python bench/run.py --profile hello-16      # webpy under cProfile, top functions printed
python bench/run.py --only callgrind        # instructions per request under valgrind
python bench/run.py --report-only           # re-render from bench/out/results.json
python bench/run.py --only static-css-gzip --merge   # redo one scenario of the last full run
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import machine, procs, report
from bench.procs import OUT
from bench.scenarios import (
    SCENARIOS,
    Context,
    Settings,
    expand,
    make_files,
    run_scenario,
)
from bench.scenarios import webpy_problem as find_webpy_problem
from bench.servers import known_server_names

RESULTS = OUT / "results.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short durations, small counts")
    p.add_argument(
        "--only",
        help=f"comma-separated scenarios (aliases: hello, static); known: {', '.join(SCENARIOS)}",
    )
    p.add_argument(
        "--servers",
        help="comma-separated peers to run next to webpy (webpy's own servers always run unless "
        f"one is named); known: {', '.join(known_server_names())}",
    )
    p.add_argument(
        "--profile",
        metavar="SCENARIO",
        help="run SCENARIO against webpy under a "
        "profiler (webpy-threaded unless --servers names webpy-trio)",
    )
    p.add_argument("--profiler", choices=["cprofile", "pyinstrument"], default="cprofile")
    p.add_argument("--callgrind", action="store_true", help="same as --only callgrind")
    p.add_argument("--ordering", action="store_true",
                   help="run bench/ordering.py instead: what per-resource ordering costs with "
                   "one process, worker processes and PostgreSQL")
    p.add_argument("--setup", action="store_true", help="install tools and packages, then exit")
    p.add_argument("--report-only", action="store_true", help="re-render the last results")
    p.add_argument(
        "--merge",
        action="store_true",
        help="with --only: replace those scenarios' results in the last full run "
        "(bench/out/results.json), say so in BENCHMARKS.md, and re-render it",
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="keep results in bench/out/results-TIME.json only; leave BENCHMARKS.md alone",
    )
    return p.parse_args(argv)


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"{stamp} {message}", file=sys.stderr, flush=True)


def merged(full: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """The full run's results with `part`'s scenarios replaced, and a line saying so."""
    redone = set(part["meta"]["scenarios"])
    meta = part["meta"]
    full["results"] = [r for r in full["results"] if r["scenario"] not in redone]
    full["results"] += part["results"]
    full["meta"].setdefault("merged", []).append(
        f"{', '.join(sorted(redone))}: measured again at {meta['finished']} by "
        f"`{meta['command']}` (other processes used {meta['noise']['others_pct']:.0f}% of the "
        "CPUs then), replacing this run's figures.")
    return full


def render(data: dict[str, object]) -> None:
    meta = data["meta"]
    results = data["results"]
    assert isinstance(meta, dict) and isinstance(results, list)
    report.write_markdown(meta, results)
    report.write_chart(meta, results)
    log(
        f"wrote {report.BENCHMARKS.relative_to(procs.REPO)} and "
        f"{report.CHART.relative_to(procs.REPO)}"
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.setup:
        return machine.setup()
    if args.report_only:
        render(json.loads(RESULTS.read_text()))
        return 0
    if args.ordering:
        from bench import ordering

        return ordering.main(["--duration", "1"] if args.quick else [])

    names = [s for s in (args.servers or "").split(",") if s] or None
    unknown = [n for n in names or [] if n not in known_server_names()]
    if unknown:
        raise SystemExit(f"unknown servers {unknown}; known: {', '.join(known_server_names())}")
    only = ["callgrind"] if args.callgrind else [s for s in (args.only or "").split(",") if s]
    settings = Settings.make(args.quick)
    nofile = procs.raise_nofile()
    tools = machine.find_tools()
    for problem in machine.cli_tools_problem(tools):
        log("MISSING: " + problem)
    if args.quick is False and nofile < 10500:
        log(f"RLIMIT_NOFILE is {nofile}: the idle scenario needs ~10,100 descriptors")

    webpy_problem = find_webpy_problem()
    if webpy_problem:
        log(f"webpy unavailable ({webpy_problem}); its rows will say so, peers still run")
    files = OUT / "files"
    make_files(files, args.quick)
    ctx = Context(settings, names, webpy_problem, files, log, tools)

    if args.profile:
        from bench.profiling import run_profile

        return run_profile(ctx, args.profile, args.profiler)

    scenarios = expand(only or None, args.quick)
    cpu_before = machine.cpu_seconds()
    if cpu_before["load1"] > 0.5:
        log(f"the machine is busy (load average {cpu_before['load1']:.1f}): numbers will be noisy")
    started = time.monotonic()
    results = []
    for name in scenarios:
        results += run_scenario(ctx, name)
    seconds = time.monotonic() - started
    noise = machine.noise(cpu_before, machine.cpu_seconds())
    command = "python bench/run.py" + "".join(" " + shlex.quote(a) for a in argv)
    meta = {
        "command": command,
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": seconds,
        "settings": asdict(settings),
        "scenarios": scenarios,
        "machine": machine.describe_machine(tools),
        "noise": noise,
    }
    data = {"meta": meta, "results": [asdict(r) for r in results]}
    if args.merge:
        data = merged(json.loads(RESULTS.read_text()), data)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT / f"results-{stamp}.json").write_text(json.dumps(data, indent=1))
    if not args.no_report:
        # results.json always matches BENCHMARKS.md, for --report-only.
        RESULTS.write_text(json.dumps(data, indent=1))
    log(
        f"finished {len(scenarios)} scenarios in {seconds / 60:.1f} minutes; other processes "
        f"used {noise['others_pct']:.0f}% of the CPUs meanwhile, steal {noise['steal_pct']:.0f}%"
    )
    if not args.no_report:
        render(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
