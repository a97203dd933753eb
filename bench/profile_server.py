"""Run a module (webpy's CLI) under a profiler until SIGINT/SIGTERM, then save the profile.

cProfile sees only the thread that enabled it, and the threaded transport does its work in worker
threads, so every thread started later gets its own profiler (``Thread.run`` is wrapped) and all
are merged at the end. pyinstrument samples only the main thread: use it for the trio transport.

Usage: python -m bench.profile_server --out PREFIX [--profiler cprofile|pyinstrument] MODULE ARGS...
Writes PREFIX.prof (cProfile, for snakeviz/pstats) or PREFIX.html (pyinstrument) and PREFIX.txt.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import runpy
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

TOP = 30


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_module(module: str, args: list[str]) -> None:
    sys.argv = [module, *args]
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        runpy.run_module(module, run_name="__main__", alter_sys=True)


def profile_cprofile(module: str, args: list[str], out: Path) -> str:
    profiles: list[cProfile.Profile] = []
    original_run = threading.Thread.run

    def run(self: threading.Thread, *a: Any, **kw: Any) -> None:
        profiler = cProfile.Profile()
        profiles.append(profiler)
        profiler.enable()
        try:
            original_run(self, *a, **kw)
        finally:
            profiler.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main = cProfile.Profile()
    main.enable()
    try:
        _run_module(module, args)
    finally:
        main.disable()
    stats = pstats.Stats(main)
    for profiler in list(profiles):
        # A thread that never ran any Python code has no stats and raises TypeError.
        with contextlib.suppress(TypeError):
            stats.add(profiler)
    stats.dump_stats(str(out.with_suffix(".prof")))
    text = io.StringIO()
    report = pstats.Stats(str(out.with_suffix(".prof")), stream=text)
    report.strip_dirs()
    text.write(f"=== top {TOP} by cumulative time ({len(profiles) + 1} threads merged) ===\n")
    report.sort_stats("cumulative").print_stats(TOP)
    text.write(f"=== top {TOP} by own time (tottime) ===\n")
    report.sort_stats("tottime").print_stats(TOP)
    return text.getvalue()


def profile_pyinstrument(module: str, args: list[str], out: Path) -> str:
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
    try:
        _run_module(module, args)
    finally:
        profiler.stop()
    out.with_suffix(".html").write_text(profiler.output_html())
    return str(profiler.output_text(unicode=False, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--profiler", choices=["cprofile", "pyinstrument"], default="cprofile")
    parser.add_argument("module")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    if ns.profiler == "cprofile":
        text = profile_cprofile(ns.module, ns.args, ns.out)
    else:
        text = profile_pyinstrument(ns.module, ns.args, ns.out)
    ns.out.with_suffix(".txt").write_text(text)


if __name__ == "__main__":
    main()
