"""Describe the machine and the software under test, and find (or install) the external tools.

Benchmark numbers mean nothing without the CPU, kernel, Python and package versions next to them,
and a missing tool must be reported plainly rather than show up as a confusing failure.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter

from bench.procs import REPO, pinning_available
from bench.servers import dist_version, nginx_path

PACKAGES = [
    "webpy",
    "h11",
    "trio",
    "waitress",
    "cheroot",
    "uvicorn",
    "hypercorn",
    "falcon",
    "starlette",
    "httpx",
    "matplotlib",
    "pyinstrument",
]
APT_PACKAGES = {
    "wrk": "wrk",
    "nginx": "nginx-light",
    "curl": "curl",
    "valgrind": "valgrind",
    "taskset": "util-linux",
}


def find_tools() -> dict[str, str | None]:
    return {
        "wrk": shutil.which("wrk"),
        "curl": shutil.which("curl"),
        "nginx": nginx_path(),
        "taskset": shutil.which("taskset"),
        "valgrind": shutil.which("valgrind"),
    }


def _first_line(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return out[0].strip() if out else "unknown"


def tool_versions(tools: dict[str, str | None]) -> dict[str, str]:
    flags = {"wrk": ["-v"], "curl": ["--version"], "nginx": ["-v"], "valgrind": ["--version"]}
    versions = {}
    for name, flag in flags.items():
        path = tools.get(name)
        line = _first_line([path, *flag]) if path else "not found"
        if name == "wrk":
            line = line.split(" Copyright")[0]
        versions[name] = line.replace("nginx version: ", "")
    return versions


def cpu_description() -> dict[str, str]:
    models: Counter[str] = Counter()
    mhz = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    models[value.strip()] += 1
                elif key == "cpu MHz" and not mhz:
                    mhz = value.strip()
    except OSError:
        pass
    model = ", ".join(f"{n} x {m}" for m, n in models.items()) or platform.processor()
    return {"cpu": model, "cpu_mhz": mhz, "logical_cpus": str(os.cpu_count())}


def memory_total() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _sysctl(name: str) -> str:
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def describe_machine(tools: dict[str, str | None]) -> dict[str, object]:
    uname = os.uname()
    return {
        **cpu_description(),
        "memory": memory_total(),
        "uname": f"{uname.sysname} {uname.release} {uname.version} {uname.machine}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]} ({sys.executable})",
        "packages": {name: dist_version(name) for name in PACKAGES},
        "tools": tool_versions(tools),
        "nofile_limit": str(resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
        "somaxconn": _sysctl("net.core.somaxconn"),
        "pinning": "server on CPU 0, client on CPU 1 (taskset)"
        if pinning_available()
        else "none (taskset missing or a single CPU): numbers are less reliable",
    }


def _run(cmd: list[str]) -> bool:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO, check=False).returncode == 0


def setup() -> int:
    """Install what the suite needs: Debian tools (if root with apt-get) and the Python packages.

    A failed ``pip install -e .[trio]`` (webpy not installable yet) is reported, not fatal: the
    runner marks webpy unavailable and still measures the peers.
    """
    missing = [APT_PACKAGES[name] for name, path in find_tools().items() if not path]
    if missing:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            _run(["apt-get", "update"])
            env_ok = _run(["apt-get", "install", "-y", "--no-install-recommends", *missing])
            if not env_ok:
                print(f"could not install {', '.join(missing)}", file=sys.stderr)
        else:
            print(
                f"missing tools: {', '.join(missing)}; install them with your package manager "
                "(Debian: apt-get install " + " ".join(missing) + ")",
                file=sys.stderr,
            )
    ok = _run(
        [sys.executable, "-m", "pip", "install", "-r", str(REPO / "bench" / "requirements.txt")]
    )
    if not _run([sys.executable, "-m", "pip", "install", "-e", f"{REPO}[trio]"]):
        print("webpy itself did not install; the peers can still be measured", file=sys.stderr)
    still = [name for name, path in find_tools().items() if not path]
    if still:
        print(f"still missing: {', '.join(still)}", file=sys.stderr)
    return 0 if ok and not still else 1


def cli_tools_problem(tools: dict[str, str | None]) -> list[str]:
    """One line per missing tool, with what it disables."""
    uses = {
        "wrk": "hello/close/idle scenarios",
        "curl": "static and upload scenarios",
        "nginx": "the nginx static-file reference",
        "taskset": "CPU pinning",
        "valgrind": "the callgrind scenario",
    }
    return [
        f"{name} not found: no {uses[name]} (python bench/run.py --setup installs it)"
        for name, path in tools.items()
        if not path
    ]


def cpu_seconds() -> dict[str, float]:
    """Machine-wide busy and steal CPU seconds (from /proc/stat) and this process tree's own.

    Taken before and after a run, the difference tells how much CPU other processes (or the
    hypervisor, as steal) took meanwhile: the noise the numbers were measured under.
    """
    hz = os.sysconf("SC_CLK_TCK")
    busy = steal = 0.0
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        busy = (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / hz
        steal = fields[7] / hz if len(fields) > 7 else 0.0
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return {
        "busy": busy,
        "steal": steal,
        "own": own,
        "wall": time.monotonic(),
        "load1": os.getloadavg()[0],
    }


def noise(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU share used by processes outside this run, and steal, over the run's wall time."""
    wall = max(after["wall"] - before["wall"], 1e-9)
    cpus = os.cpu_count() or 1
    others = (after["busy"] - before["busy"]) - (after["own"] - before["own"])
    return {
        "others_pct": max(0.0, 100 * others / (wall * cpus)),
        "steal_pct": 100 * (after["steal"] - before["steal"]) / (wall * cpus),
        "loadavg_start": before.get("load1", float("nan")),
    }
