"""What per-resource ordering costs, from one process to several servers on one PostgreSQL.

The seed's key-value REST cycle (PUT a key, GET it, DELETE it, each
connection on its own keys) and a hot variant (every connection on the same
4 keys, one PUT for three GETs, so requests really wait for each other) are
run with wrk at 16 connections against:

====================  ========================================================
``1p``                one process, 8 threads, a dict, in-process locks
``1p-sqlite``         the same with the SQLiteStore the next rows need
``2p-unordered``      2 worker processes, SQLiteStore, no locks (``ordered = False``)
``2p-files``          2 worker processes, SQLiteStore, `FileLocks`
``pg-unordered``      2 servers, PostgresStore, no locks
``pg-locks``          2 servers, PostgresStore, `PostgresLocks`
====================  ========================================================

Each ordered server counts, per process, the locks it took, how many had to
wait, the time spent inside lock calls and the time spent waiting; the
report gives them per request. The cost of ordering is an ordered row
against its unordered twin. The server(s) run on one CPU and wrk (one thread
per connection, so each connection runs its cycle in order) on the other;
PostgreSQL, when started here, shares wrk's CPU.

``lockcost`` measures one lock cycle (hold, try_acquire, release, drop) per
backend in one thread, without HTTP: wall time, and with ``--callgrind``
instructions (the difference of two runs of different lengths, so start-up
cancels out).

    python -m bench.ordering [--duration 5] [--postgres CONNINFO] [--callgrind]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from bench.procs import (
    CLIENT_CPU,
    HOST,
    OUT,
    REPO,
    Running,
    bench_env,
    cpu_seconds,
    free_port,
    pin,
    start_server,
    stop_server,
)
from bench.wrk import LUA as REPORT_LUA
from bench.wrk import WrkResult, parse, wrk_path

CONNECTIONS = 16
HOT_KEYS = 4

#: Lua for wrk: one connection per thread, so a thread's requests are one connection's, in order.
CYCLE_LUA = """
local counter = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
function init(args)
  mode = args[1] or "cycle"
  prefix = args[2] or ""
end
function request()
  local n = counter
  counter = counter + 1
  if mode == "hot" then
    local key = "/kv/hot" .. (n % %(hot)d)
    if n %% 4 == 0 then return wrk.format("PUT", key, nil, "value-" .. n) end
    return wrk.format("GET", key)
  end
  local key = "/kv/" .. prefix .. id .. "-" .. (math.floor(n / 3) %% 100)
  local step = n %% 3
  if step == 0 then return wrk.format("PUT", key, nil, "value-" .. n) end
  if step == 1 then return wrk.format("GET", key) end
  return wrk.format("DELETE", key)
end
""".replace("%(hot)d", str(HOT_KEYS)).replace("%%", "%")

CONFIGS = {
    # name: (servers, processes, store, locks)
    "1p": (1, 1, "dict", "local"),
    "1p-sqlite": (1, 1, "sqlite", "local"),
    "2p-unordered": (1, 2, "sqlite", "none"),
    "2p-files": (1, 2, "sqlite", "files"),
    "pg-unordered": (2, 1, "postgres", "none"),
    "pg-locks": (2, 1, "postgres", "postgres"),
}


# -- the server side (python -m bench.ordering serve ...) ------------------------------------


class LockStats:
    """A lock table wrapper that counts and times what the locks do in this process."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.taken = 0
        self.waited = 0
        self.lock_seconds = 0.0
        self.wait_seconds = 0.0

    def hold(self, key: str) -> _TimedLock:
        return _TimedLock(self.table.hold(key), self)

    def drop(self, key: str) -> None:
        self.table.drop(key)

    def __len__(self) -> int:
        return len(self.table)

    def report(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "taken": self.taken, "waited": self.waited,
                "lock_seconds": self.lock_seconds, "wait_seconds": self.wait_seconds}


class _TimedLock:
    __slots__ = ("lock", "stats")

    def __init__(self, lock: Any, stats: LockStats) -> None:
        self.lock, self.stats = lock, stats

    def try_acquire(self, exclusive: bool) -> bool:
        start = time.perf_counter()
        taken = bool(self.lock.try_acquire(exclusive))
        self.stats.lock_seconds += time.perf_counter() - start
        self.stats.taken += taken
        return taken

    def acquire(self, exclusive: bool) -> None:
        start = time.perf_counter()
        self.lock.acquire(exclusive)
        spent = time.perf_counter() - start
        self.stats.lock_seconds += spent
        self.stats.wait_seconds += spent
        self.stats.taken += 1
        self.stats.waited += 1

    def release(self, exclusive: bool) -> None:
        start = time.perf_counter()
        self.lock.release(exclusive)
        self.stats.lock_seconds += time.perf_counter() - start


def serve(config: str, port: int, data: str, conninfo: str) -> None:
    import webpy as web
    from webpy.app.locks import ReadWriteLock, ResourceLocks
    from webpy.app.locks_files import FileLocks
    from webpy.app.locks_postgres import PostgresLocks
    from webpy.app.store import PostgresStore, SQLiteStore

    _, processes, store_kind, locks_kind = CONFIGS[config]
    saved: MutableMapping[str, bytes]
    if store_kind == "dict":
        saved = {}
    elif store_kind == "sqlite":
        saved = SQLiteStore(os.path.join(data, "store.sqlite3"))
    else:
        saved = PostgresStore(conninfo)

    class Handler(web.HTTPHandler):  # the seed's, as in examples/keyvalue.py
        ordered = locks_kind != "none"

        def do_get(self) -> tuple[int, bytes]:
            try:
                return 200, saved[self.groups[0]]
            except KeyError:
                raise web.HTTPError(404) from None

        def do_put(self) -> tuple[int, str]:
            saved[self.groups[0]] = self.request.body
            return 200, "Accepted"

        def do_delete(self) -> tuple[int, str]:
            try:
                del saved[self.groups[0]]
            except KeyError:
                raise web.HTTPError(404) from None
            return 200, "Deleted"

    class Stats(web.HTTPHandler):
        ordered = False

        def do_get(self) -> tuple[int, str]:
            self.response.headers["Content-Type"] = "application/json"
            return 200, json.dumps(stats.report())

    tables = {"local": lambda: ResourceLocks(ReadWriteLock),
              "none": lambda: ResourceLocks(ReadWriteLock),
              "files": lambda: FileLocks(os.path.join(data, "locks")),
              "postgres": lambda: PostgresLocks(conninfo)}
    stats = LockStats(tables[locks_kind]())
    server = web.HTTPServer((HOST, port), {"/_stats": Stats, "/kv/(.*)": Handler},
                            processes=processes, threads=8, locks=stats)
    server.serve_forever()


# -- the load side ----------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster in a temporary folder (as the `postgres` user under root)."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    binaries = Path(folders[0]) if folders else Path(shutil.which("initdb") or "initdb").parent
    folder = Path(tempfile.mkdtemp(prefix="webpy-bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = str(folder / "data")

    def run(*command: str) -> None:
        subprocess.run([*prefix, *pin(CLIENT_CPU), *command], check=True, capture_output=True)

    run(str(binaries / "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync")
    run(str(binaries / "pg_ctl"), "start", "-w", "-D", data, "-l", str(folder / "log"),
        "-o", f"-p {port} -k {folder} -c listen_addresses={HOST} -c max_connections=200")
    try:
        yield f"host={HOST} port={port} user=postgres dbname=postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            run(str(binaries / "pg_ctl"), "stop", "-m", "fast", "-D", data)
        shutil.rmtree(folder, ignore_errors=True)


def _wrk(ports: list[int], mode: str, duration: float, script: Path, connections: int
         ) -> list[WrkResult]:
    """wrk against each port at once, the connections split between them."""
    exe = wrk_path()
    if exe is None:
        raise SystemExit("wrk not found")
    per = max(connections // len(ports), 1)
    runs = [subprocess.Popen(
        [*pin(CLIENT_CPU), exe, f"-t{per}", f"-c{per}", f"-d{duration:.0f}s", "--latency",
         "--timeout=5s", "-s", str(script), f"http://{HOST}:{port}/", "--", mode, f"s{port}-"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for port in ports]
    texts = [run.communicate(timeout=duration + 60)[0] for run in runs]
    logs = OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for port, text in zip(ports, texts, strict=True):
        (logs / f"wrk-ordering-{mode}-{port}.txt").write_text(text)
    return [parse(text) for text in texts]


def _stats(port: int, processes: int) -> list[dict[str, Any]]:
    """Each worker's lock counters (a new connection per ask until every worker answered)."""
    import http.client

    seen: dict[int, dict[str, Any]] = {}
    for _ in range(200):
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        connection.request("GET", "/_stats")
        report = json.loads(connection.getresponse().read())
        connection.close()
        seen[report["pid"]] = report
        if len(seen) == processes:
            break
    return list(seen.values())


def _seed_hot_keys(port: int) -> None:
    import http.client

    for number in range(HOT_KEYS):
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        connection.request("PUT", f"/kv/hot{number}", body=b"seed")
        connection.getresponse().read()
        connection.close()


def measure(config: str, mode: str, duration: float, conninfo: str, script: Path,
            connections: int = CONNECTIONS) -> dict[str, Any]:
    servers, processes, _, locks_kind = CONFIGS[config]
    data = tempfile.mkdtemp(prefix="webpy-bench-ordering-")
    running: list[Running] = []
    try:
        for number in range(servers):
            port = free_port()
            running.append(start_server(
                f"ordering-{config}-{mode}-{number}",
                [sys.executable, "-m", "bench.ordering", "serve", config, str(port), data,
                 conninfo], port, probe_path="/_stats", env=bench_env()))
        if mode == "hot":
            _seed_hot_keys(running[0].port)
        database = _postmaster(conninfo) if CONFIGS[config][2] == "postgres" else None
        pids = [server.pid for server in running] + ([database] if database else [])
        before = [cpu_seconds(pid) for pid in pids]
        results = _wrk([server.port for server in running], mode, duration, script, connections)
        after = [cpu_seconds(pid) for pid in pids]
        reports = [report for server in running for report in _stats(server.port, processes)]
    finally:
        for server in running:
            stop_server(server)
        shutil.rmtree(data, ignore_errors=True)
    requests = sum(result.requests for result in results)
    taken = sum(report["taken"] for report in reports)
    used = [sum(end) - sum(start) for start, end in zip(before, after, strict=True)]
    return {
        "config": config, "mode": mode, "locks": locks_kind,
        "rps": sum(result.rps for result in results),
        "p50_ms": max(result.p50_ms for result in results),
        "p99_ms": max(result.p99_ms for result in results),
        "errors": sum(result.error_total for result in results),
        "requests": requests,
        "locks_per_request": taken / requests if requests else 0.0,
        "waited_share": (sum(report["waited"] for report in reports) / taken) if taken else 0.0,
        "lock_us_per_request": (sum(report["lock_seconds"] for report in reports) * 1e6
                                / requests) if requests else 0.0,
        "wait_us_per_request": (sum(report["wait_seconds"] for report in reports) * 1e6
                                / requests) if requests else 0.0,
        "cpu_us_per_request": sum(used[:len(running)]) * 1e6 / requests if requests else 0.0,
        "db_cpu_us_per_request": (sum(used[len(running):]) * 1e6 / requests
                                  if requests and database else 0.0),
    }


def _postmaster(conninfo: str) -> int | None:
    """The PostgreSQL server's process id, so its CPU time can be counted (None if remote)."""
    import psycopg

    with psycopg.connect(conninfo) as connection:
        row = connection.execute("SHOW data_directory").fetchone()
    try:
        return int(Path(str(row[0]), "postmaster.pid").read_text().split()[0]) if row else None
    except OSError:
        return None


# -- one lock cycle, without HTTP ----------------------------------------------------------


def _tables(conninfo: str, folder: str) -> dict[str, Any]:
    from webpy.app.locks import ReadWriteLock, ResourceLocks
    from webpy.app.locks_files import FileLocks

    tables: dict[str, Any] = {"local": ResourceLocks(ReadWriteLock),
                              "files": FileLocks(os.path.join(folder, "locks"))}
    if conninfo:
        from webpy.app.locks_postgres import PostgresLocks

        tables["postgres"] = PostgresLocks(conninfo)
    return tables


def lock_cycles(table: Any, count: int) -> None:
    for number in range(count):
        key = f"/kv/{number % 64}"
        exclusive = number % 4 == 0
        lock = table.hold(key)
        assert lock.try_acquire(exclusive)
        lock.release(exclusive)
        table.drop(key)


def lockcost(conninfo: str, callgrind: bool) -> dict[str, dict[str, float]]:
    folder = tempfile.mkdtemp(prefix="webpy-bench-lockcost-")
    costs: dict[str, dict[str, float]] = {}
    try:
        for name, table in _tables(conninfo, folder).items():
            count = 2000 if name == "postgres" else 50_000
            lock_cycles(table, 100)  # warm: connections opened, statements prepared
            start = time.perf_counter()
            lock_cycles(table, count)
            costs[name] = {"us_per_cycle": (time.perf_counter() - start) * 1e6 / count}
            if callgrind and shutil.which("valgrind"):
                small, large = (200, 400) if name == "postgres" else (2000, 4000)
                counts = [_callgrind_instructions(name, n, conninfo, folder)
                          for n in (small, large)]
                costs[name]["instructions_per_cycle"] = (counts[1] - counts[0]) / (large - small)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return costs


def _callgrind_instructions(name: str, count: int, conninfo: str, folder: str) -> int:
    out = Path(folder) / f"callgrind-{name}-{count}.out"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                    sys.executable, "-m", "bench.ordering", "cycles", name, str(count), folder,
                    conninfo], cwd=REPO, env=bench_env(), check=True, capture_output=True)
    for line in out.read_text().splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError("no callgrind summary")


# -- entry point ---------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        serve(argv[1], int(argv[2]), argv[3], argv[4])
        return 0
    if argv[:1] == ["cycles"]:
        name, count, folder, conninfo = argv[1], int(argv[2]), argv[3], argv[4]
        table = _tables(conninfo, folder)[name]
        lock_cycles(table, 100)
        lock_cycles(table, count)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--postgres", default="", help="a conninfo; default: start a cluster")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--modes", default="cycle,hot")
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--connections", type=int, default=CONNECTIONS,
                        help="in all (2 for one per PostgreSQL server: latency without queueing)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    script = OUT / "ordering.lua"
    script.write_text(CYCLE_LUA + "\n" + REPORT_LUA.read_text())
    with contextlib.ExitStack() as stack:
        conninfo = args.postgres or stack.enter_context(throwaway_postgres())
        rows = [measure(config, mode, args.duration, conninfo, script, args.connections)
                for mode in filter(None, args.modes.split(","))
                for config in filter(None, args.configs.split(","))]
        costs = lockcost(conninfo, args.callgrind)
    (OUT / "ordering.json").write_text(json.dumps({"rows": rows, "lockcost": costs}, indent=1))
    print(f"{'config':14} {'mode':6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} "
          f"{'locks/req':>9} {'waited':>7} {'lock us/req':>11} {'wait us/req':>11} "
          f"{'cpu us/req':>10} {'db cpu us/req':>13}")
    for row in rows:
        print(f"{row['config']:14} {row['mode']:6} {row['rps']:8.0f} {row['p50_ms']:7.2f} "
              f"{row['p99_ms']:7.2f} {row['errors']:4d} {row['locks_per_request']:9.2f} "
              f"{row['waited_share']:7.1%} {row['lock_us_per_request']:11.1f} "
              f"{row['wait_us_per_request']:11.1f} {row['cpu_us_per_request']:10.0f} "
              f"{row['db_cpu_us_per_request']:13.0f}")
    for name, cost in costs.items():
        extra = (f", {cost['instructions_per_cycle']:,.0f} instructions"
                 if "instructions_per_cycle" in cost else "")
        print(f"lock cycle {name:9} {cost['us_per_cycle']:8.1f} us{extra}")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench-ordering"
    sys.exit(main(sys.argv[1:]))
