"""Turn a run's results (bench/out/results.json) into BENCHMARKS.md and bench/ratios.png.

Ratios are oriented so that above 1 always means webpy did better: throughput is webpy / peer,
latency and memory growth are peer / webpy. Only numbers from the same run are compared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import REPO
from bench.servers import APP_SERVERS, FILE_SERVERS, KV_SERVERS

BENCHMARKS = REPO / "BENCHMARKS.md"
CHART = REPO / "bench" / "ratios.png"

Results = list[dict[str, Any]]


@dataclass(frozen=True)
class RatioColumn:
    """One ratio column: a scenario's metric and which way is better."""

    label: str
    scenario: str
    metric: str
    higher_is_better: bool = True


APP_COLUMNS = (
    RatioColumn("hello 16 conns req/s", "hello-16", "rps"),
    RatioColumn("hello 256 conns req/s", "hello-256", "rps"),
    RatioColumn("conn per request req/s", "close", "rps"),
    RatioColumn("10 MiB upload MB/s", "upload", "mbps"),
    RatioColumn("idle: active p99", "idle", "p99_ms", higher_is_better=False),
    RatioColumn("idle: RSS growth", "idle", "rss_growth_mib", higher_is_better=False),
)
FILE_COLUMNS = (
    RatioColumn("200 KiB CSS, gzip, req/s", "static-css-gzip", "rps"),
    RatioColumn("1 MiB file MB/s", "static-1m", "mbps"),
    RatioColumn("100 MiB file MB/s", "static-100m", "mbps"),
)
MEMORY_COLUMNS = (RatioColumn("test client req/s", "inmemory", "rps"),)
INTEROP_COLUMNS = (RatioColumn("hello 16 conns req/s", "interop-16", "rps"),
                   RatioColumn("CPU per request", "interop-16", "cpu_us",
                               higher_is_better=False))
KV_COLUMNS = (
    RatioColumn("key-value API req/s", "kv-16", "rps"),
    RatioColumn("key-value API p99", "kv-16", "p99_ms", higher_is_better=False),
)

Row = tuple[str, list[float | None]]


@dataclass(frozen=True)
class RatioTable:
    """Comparisons that share columns: HTTP servers, file servers or test clients."""

    title: str
    labels: list[str]
    rows: list[Row]


def _index(results: Results) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["scenario"], r["server"]): r for r in results}


def _value(
    idx: dict[tuple[str, str], dict[str, Any]], scenario: str, server: str, metric: str
) -> float | None:
    r = idx.get((scenario, server))
    if not r or r["status"] != "ok":
        return None
    v = r["metrics"].get(metric)
    return float(v) if v is not None and math.isfinite(v) else None


def comparisons(
    results: Results,
) -> list[tuple[str, tuple[RatioColumn, ...], list[tuple[str, str]]]]:
    """Per table: its title, columns and the (webpy side, peer) pairs present in the run."""
    servers = {r["server"] for r in results}
    app: list[tuple[str, str]] = []
    if "webpy-threaded" in servers:
        app += [
            ("webpy-threaded", s)
            for s in APP_SERVERS
            if s in servers and APP_SERVERS[s].package != "webpy"
        ]
    if "webpy-trio" in servers and "hypercorn-trio" in servers:
        app.append(("webpy-trio", "hypercorn-trio"))
    files = [
        (webpy, s)
        for webpy in ("webpy-static", "webpy-trio-static")
        if webpy in servers
        for s in ("nginx", "http.server", "sendfile-loop")
        if s in servers
    ]
    memory = [
        ("webpy-memory", s)
        for s in ("falcon-testclient", "starlette-testclient")
        if "webpy-memory" in servers and s in servers
    ]
    kv = [("webpy-threaded-kv", s) for s in KV_SERVERS
          if s != "webpy-threaded-kv" and s in servers and "webpy-threaded-kv" in servers]
    interop = [(webpy, s) for webpy, peers in (
        ("webpy-wsgi", ("waitress", "cheroot", "gunicorn-gthread")),
        ("webpy-asgi", ("hypercorn-trio", "uvicorn"))) if webpy in servers
        for s in peers if s in servers]
    return [
        ("HTTP servers", APP_COLUMNS, app),
        ("Hosted WSGI and ASGI apps", INTEROP_COLUMNS, interop),
        ("Key-value JSON REST API (the seed's example, as each framework's users write it)",
         KV_COLUMNS, kv),
        ("Static files", FILE_COLUMNS, files),
        ("In-process test clients", MEMORY_COLUMNS, memory),
    ]


def ratio_tables(results: Results) -> list[RatioTable]:
    """Ratios per table, keeping only columns with at least one number."""
    idx = _index(results)
    tables = []
    for title, columns, pairs in comparisons(results):
        rows: list[Row] = []
        for webpy, peer in pairs:
            cells: list[float | None] = []
            for col in columns:
                a = _value(idx, col.scenario, webpy, col.metric)
                b = _value(idx, col.scenario, peer, col.metric)
                if a is None or b is None or a <= 0 or b <= 0:
                    cells.append(None)
                else:
                    cells.append(a / b if col.higher_is_better else b / a)
            rows.append((f"{webpy} vs {peer}", cells))
        used = [i for i in range(len(columns)) if any(r[1][i] is not None for r in rows)]
        if used:
            tables.append(
                RatioTable(
                    title,
                    [columns[i].label for i in used],
                    [(name, [cells[i] for i in used]) for name, cells in rows],
                )
            )
    return tables


# --------------------------------------------------------------------------- formatting


def _fmt(v: Any, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return f"{v:,.{digits}f}"


def _short_status(status: str) -> str:
    return status.split(":", 1)[0]


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _cell(r: dict[str, Any] | None, metric: str, digits: int = 0) -> str:
    if r is None:
        return ""
    if r["status"] != "ok":
        return _short_status(r["status"])
    return _fmt(r["metrics"].get(metric), digits)


def _order(results: Results, scenarios: set[str]) -> list[str]:
    known = [
        *APP_SERVERS,
        *FILE_SERVERS,
        "webpy-memory",
        "falcon-testclient",
        "starlette-testclient",
        "h11",
    ]
    present = {r["server"] for r in results if r["scenario"] in scenarios}
    return [s for s in known if s in present] + sorted(present - set(known))


def _cpu_cell(result: dict[str, Any] | None) -> str:
    metrics = result["metrics"] if result else {}
    if "user_us" not in metrics:
        return ""
    return f"{metrics['user_us']:.0f} + {metrics['sys_us']:.0f}"


def absolute_sections(results: Results) -> list[str]:
    idx = _index(results)
    out: list[str] = []
    ceiling = _value(idx, "h11-ceiling", "h11", "cycles_per_s")

    http = {"hello-16", "hello-256", "close"}
    if any(r["scenario"] in http for r in results):
        out += ["### Hello world (wrk -t1, req/s and latency in ms)", ""]
        header = [
            "server",
            "16 conns req/s",
            "p50",
            "p99",
            "256 conns req/s",
            "p50",
            "p99",
            "conn/request req/s",
            "p99",
            "16 conns req/s ÷ h11 ceiling",
            "CPU µs/request user + sys (16 conns)",
            "peak RSS MiB (16 conns)",
        ]
        rows = []
        for server in _order(results, http):
            h16, h256, cl = (idx.get((s, server)) for s in ("hello-16", "hello-256", "close"))
            rps16 = _value(idx, "hello-16", server, "rps")
            pct = _fmt(rps16 / ceiling, 2) if rps16 and ceiling else ""
            rows.append(
                [
                    server,
                    _cell(h16, "rps"),
                    _cell(h16, "p50_ms", 2),
                    _cell(h16, "p99_ms", 2),
                    _cell(h256, "rps"),
                    _cell(h256, "p50_ms", 2),
                    _cell(h256, "p99_ms", 2),
                    _cell(cl, "rps"),
                    _cell(cl, "p99_ms", 2),
                    pct,
                    _cpu_cell(h16),
                    _fmt(h16["metrics"].get("peak_rss_mib"), 1) if h16 else "",
                ]
            )
        out += [*_table(header, rows), ""]

    ws = next((r for r in results if r["scenario"] == "websockets"), None)
    if ws is not None:
        out += ["### Open WebSockets on the threaded server (8 threads; "
                "bench/open_websockets.py)", ""]
        m = ws["metrics"]
        out += [*_table(
            ["sockets", "RSS before MiB", "RSS growth MiB", "plain p99 ms alone",
             "plain p99 ms with sockets", "ratio (goal ≤ 2)", "status"],
            [[_fmt(m.get("sockets")), _fmt(m.get("rss_before_mib"), 1),
              _fmt(m.get("rss_growth_mib"), 1), _fmt(m.get("p99_ms_alone"), 2),
              _fmt(m.get("p99_ms_with_sockets"), 2), _fmt(m.get("p99_ratio"), 2),
              _short_status(ws["status"])]]), ""]

    if any(r["scenario"] == "interop-16" for r in results):
        out += ["### Hosted WSGI and ASGI hello apps (wrk -t1 -c16; req/s, ms)", ""]
        rows = [[s, _cell(idx.get(("interop-16", s)), "rps"),
                 _cell(idx.get(("interop-16", s)), "p99_ms", 2),
                 _cpu_cell(idx.get(("interop-16", s)))]
                for s in _order(results, {"interop-16"})]
        out += [*_table(["server", "req/s", "p99", "CPU µs/request user + sys"], rows), ""]

    if any(r["scenario"] == "kv-16" for r in results):
        out += ["### Key-value JSON REST API (wrk -t1 -c16, 80% GET / 20% PUT, "
                "req/s and latency in ms)", ""]
        rows = [[s, _cell(idx.get(("kv-16", s)), "rps"), _cell(idx.get(("kv-16", s)), "p50_ms", 2),
                 _cell(idx.get(("kv-16", s)), "p99_ms", 2), _cpu_cell(idx.get(("kv-16", s)))]
                for s in _order(results, {"kv-16"})]
        out += [*_table(["server", "req/s", "p50", "p99", "CPU µs/request user + sys"], rows), ""]

    if any(r["scenario"] == "upload" for r in results):
        out += ["### 10 MiB upload (curl, POST /upload, body streamed by the app)", ""]
        rows = [[s, _cell(idx.get(("upload", s)), "mbps")] for s in _order(results, {"upload"})]
        out += [*_table(["server", "MB/s"], rows), ""]

    if any(r["scenario"] == "static-css-gzip" for r in results):
        out += ["### 200 KiB stylesheet, Accept-Encoding: gzip (wrk -t1 -c16; req/s, ms)", ""]
        rows = [[s, _cell(idx.get(("static-css-gzip", s)), "rps"),
                 _cell(idx.get(("static-css-gzip", s)), "p99_ms", 2)]
                for s in _order(results, {"static-css-gzip"})]
        out += [*_table(["server", "req/s", "p99"], rows), ""]

    static = {"static-1m", "static-100m"}
    if any(r["scenario"] in static for r in results):
        out += ["### Static file download (curl, MB/s = 10^6 bytes/s)", ""]
        rows = [
            [
                s,
                _cell(idx.get(("static-1m", s)), "mbps"),
                _cell(idx.get(("static-100m", s)), "mbps"),
            ]
            for s in _order(results, static)
        ]
        out += [*_table(["server", "1 MiB file", "100 MiB file"], rows), ""]

    if any(r["scenario"] == "idle" for r in results):
        out += ["### Idle keep-alive connections held, one active client (wrk -c1)", ""]
        header = [
            "server",
            "held",
            "still open at end",
            "RSS before MiB",
            "RSS growth MiB",
            "KiB/conn",
            "active req/s",
            "p50 ms",
            "p99 ms",
            "status",
        ]
        rows = []
        for s in _order(results, {"idle"}):
            r = idx[("idle", s)]
            m = r["metrics"]
            rows.append(
                [
                    s,
                    _fmt(m.get("idle_ok")),
                    _fmt(m.get("alive_after")),
                    _fmt(m.get("rss_before_mib"), 1),
                    _fmt(m.get("rss_growth_mib"), 1),
                    _fmt(m.get("kib_per_conn"), 1),
                    _fmt(m.get("rps")),
                    _fmt(m.get("p50_ms"), 2),
                    _fmt(m.get("p99_ms"), 2),
                    r["status"].replace("|", "/"),
                ]
            )
        out += [*_table(header, rows), ""]

    if any(r["scenario"] in ("inmemory", "h11-ceiling") for r in results):
        out += ["### In-process (no sockets)", ""]
        rows = []
        for s in _order(results, {"inmemory"}):
            rows.append([s, "test client GET /", _cell(idx.get(("inmemory", s)), "rps")])
        if ("h11-ceiling", "h11") in idx:
            rows.append(
                [
                    "h11 alone",
                    "parse + serialise cycles (the h11 ceiling)",
                    _cell(idx[("h11-ceiling", "h11")], "cycles_per_s"),
                ]
            )
        out += [*_table(["what", "loop", "per second"], rows), ""]

    if any(r["scenario"] == "callgrind" for r in results):
        out += ["### Instructions per request (callgrind, sequential keep-alive GETs)", ""]
        rows = [
            [s, _cell(idx.get(("callgrind", s)), "instr_per_req")]
            for s in _order(results, {"callgrind"})
        ]
        out += [*_table(["server", "instructions / request"], rows), ""]
    return out


def ratio_section(results: Results) -> list[str]:
    out = ["## Ratios: webpy against each peer (above 1 = webpy better)", ""]
    out.append(
        "Throughput columns are webpy / peer; latency and RSS-growth columns are peer / webpy, "
        "so every column reads the same way. n/a: one side has no number (see Failures)."
    )
    out.append("")
    tables = ratio_tables(results)
    if not tables:
        out += ["No ratios in this run: webpy produced no numbers (see Failures below).", ""]
    for table in tables:
        rows = [
            [name, *[_fmt(c, 2) if c is not None else "n/a" for c in cells]]
            for name, cells in table.rows
        ]
        out += [f"### {table.title}", "", *_table(["comparison", *table.labels], rows), ""]
    idx = _index(results)
    ceiling = _value(idx, "h11-ceiling", "h11", "cycles_per_s")
    notes = []
    for server in ("webpy-threaded", "webpy-trio"):
        rps = _value(idx, "hello-16", server, "rps")
        if rps and ceiling:
            notes.append(
                f"- {server} at 16 connections serves {rps:,.0f} req/s = "
                f"{rps / ceiling:.2f} of the h11 ceiling ({ceiling:,.0f} cycles/s)."
            )
    if notes:
        out += [*notes, ""]
    out += [f"![ratios]({CHART.relative_to(REPO)})", ""]
    return out


def servers_section(results: Results, meta: dict[str, Any]) -> list[str]:
    packages = meta["machine"]["packages"]
    tools = meta["machine"]["tools"]
    python = meta["machine"]["python"].split(" (")[0]
    present = {r["server"] for r in results}
    rows = []
    for reg in (APP_SERVERS, FILE_SERVERS):
        for s in reg.values():
            if s.name not in present:
                continue
            if s.package == "python":
                version = python
            elif s.package == "nginx":
                version = tools.get("nginx", "").replace("nginx version: ", "")
            else:
                version = f"{s.package} {packages.get(s.package, '?')}"
            extra = {
                n
                for r in results
                if r["server"] == s.name
                for n in r["notes"]
                if n.startswith(("limits raised", "webpy's CLI has no"))
            }
            notes = [*s.notes, *sorted(extra)]
            rows.append([s.name, version, s.description, "; ".join(notes) or "defaults"])
    if not rows:
        return []
    commands = []
    for reg in (APP_SERVERS, FILE_SERVERS):
        for s in reg.values():
            if s.name in present and s.package != "nginx":
                argv = ["python", *s.argv(0, Path("DIR"))[1:]]
                line = " ".join(argv).replace("--port 0", "--port PORT").replace(":0 ", ":PORT ")
                commands.append(f"- {s.name}: `taskset -c 0 {line}`")
    if "nginx" in present:
        commands.append(
            "- nginx: `taskset -c 0 nginx -p bench/out/nginx -c bench/out/nginx/nginx.conf` "
            "(config generated by bench/servers.py)"
        )
    return [
        "## Servers and their settings",
        "",
        *_table(["name", "version", "what", "changed from defaults (why)"], rows),
        "",
        "Command lines (run from the repository root with PYTHONPATH set to it):",
        "",
        *commands,
        "",
    ]


def failures_section(results: Results) -> list[str]:
    bad = [r for r in results if r["status"] != "ok"]
    noted = [
        r
        for r in results
        if r["status"] == "ok" and any("errors" in n or "failed" in n for n in r["notes"])
    ]
    if not bad and not noted:
        return []
    out = ["## Failures, unavailable servers and notes", ""]
    for r in bad:
        out.append(f"- **{r['scenario']} / {r['server']}**: {r['status']}")
    for r in noted:
        extra = [n for n in r["notes"] if "errors" in n or "failed" in n]
        out.append(f"- {r['scenario']} / {r['server']}: {'; '.join(extra)}")
    return [*out, ""]


def machine_section(meta: dict[str, Any]) -> list[str]:
    m = meta["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    tools = ", ".join(" ".join(v.split()[:2]) for v in m["tools"].values())
    return [
        "## Machine",
        "",
        f"- CPU: {m['cpu']} ({m['logical_cpus']} logical CPUs, {m['cpu_mhz']} MHz), "
        f"memory {m['memory']}",
        f"- Kernel: `{m['uname']}`",
        f"- Python: {m['python']}",
        f"- Packages: {pk}",
        f"- Tools: {tools}",
        f"- Pinning: {m['pinning']}; RLIMIT_NOFILE {m['nofile_limit']}, "
        f"net.core.somaxconn {m['somaxconn']}",
        *noise_lines(meta),
        "",
    ]


def noise_lines(meta: dict[str, Any]) -> list[str]:
    """How busy the machine was with other work during the run: the numbers' error bar."""
    n = meta.get("noise")
    if not n:
        return []
    line = (
        f"- Background load: other processes used {n['others_pct']:.0f}% of the CPUs during the "
        f"run, hypervisor steal {n['steal_pct']:.0f}%, load average {n['loadavg_start']:.1f} "
        "at the start."
    )
    if n["others_pct"] > 10 or n["steal_pct"] > 5:
        line += " **The machine was busy: treat these numbers as rough.**"
    return [line]


def method_section(meta: dict[str, Any]) -> list[str]:
    s = meta["settings"]
    return [
        "## Method",
        "",
        "- Everything runs on loopback (127.0.0.1). Each server runs pinned to CPU 0, every client "
        "(wrk, curl, the idle-connection holder) pinned to CPU 1.",
        "- Each scenario starts a fresh server process and waits (bounded poll, no fixed sleep) "
        "until `GET` answers 200, then stops it with SIGTERM (SIGKILL if needed).",
        f"- Hello world: `wrk -t1 -cN -d{s['duration_s']:g}s --latency`"
        + (f" after a {s['warmup_s']:g}s warm-up" if s["warmup_s"] else " (no warm-up)")
        + "; a new connection per request is `-H 'Connection: close'`. The h11 ceiling column "
        "divides by the cycles/s of `bench/h11_ceiling.py`; of the peers only uvicorn and "
        "hypercorn use h11, so for the others it is only a scale.",
        f"- Files: one curl process downloads the file {s['downloads_small']} times (1 MiB) or "
        f"{s['downloads_large']} times (100 MiB), reusing the connection where the server allows; "
        "MB/s is bytes over the summed transfer times.",
        f"- Upload: one curl process POSTs a 10 MiB body {s['uploads']} times (after one warm-up); "
        "each app streams it in 64 KiB reads and answers the byte count, which is checked.",
        f"- Idle: a separate process opens {s['idle_conns']:,} keep-alive connections in batches, "
        "sends one GET on each and holds them; then `wrk -c1` measures an active client. RSS is "
        "VmRSS from /proc (server process and children).",
        "- In-process: each test client in its own process, hello world in a loop bounded by "
        f"time ({s['inmemory_s']:g}s) and count. The h11 ceiling is `bench/h11_ceiling.py`.",
        f"- Every HTTP, upload and file scenario runs {s.get('rounds', 1)} round(s), each round "
        "going through all servers in turn (a fresh process each time); the table shows the median "
        "per metric, and results.json keeps each round in its notes. The idle scenario runs once. "
        "Compare ratios within a run, not absolute numbers across runs or machines.",
        "",
    ]


def write_markdown(meta: dict[str, Any], results: Results, path: Path = BENCHMARKS) -> None:
    minutes = meta["seconds"] / 60
    lines = ["# Benchmarks", ""]
    if meta["settings"]["quick"]:
        lines += [
            "> **Quick smoke run**: short durations and small counts; these numbers only "
            "show that the suite works. Run without `--quick` for real figures.",
            "",
        ]
    n = meta.get("noise")
    if n and (n["others_pct"] > 10 or n["steal_pct"] > 5):
        lines += [
            f"> **Busy machine**: other processes used {n['others_pct']:.0f}% of the CPUs during "
            "this run; absolute numbers and ratios are noisier than usual.",
            "",
        ]
    lines += [
        f"Generated {meta['finished']} by `{meta['command']}` ({minutes:.1f} minutes).",
        "",
        *(f"> Merged: {line}\n" for line in meta.get("merged", [])),
        "Reproduce: `python bench/run.py --setup` (installs wrk, nginx, curl, valgrind and the "
        "Python packages), then `python bench/run.py` (full run) or `python bench/run.py --quick`. "
        "`--only SCENARIO[,..]` and `--servers NAME[,..]` narrow a run; `--profile SCENARIO` runs "
        "webpy under cProfile; `--only callgrind` counts instructions per request.",
        "",
    ]
    lines += ratio_section(results)
    lines += ["## Absolute numbers", ""]
    lines += absolute_sections(results)
    lines += failures_section(results)
    lines += servers_section(results, meta)
    lines += machine_section(meta)
    lines += method_section(meta)
    path.write_text("\n".join(lines).rstrip() + "\n")


# --------------------------------------------------------------------------- chart


def write_chart(meta: dict[str, Any], results: Results, path: Path = CHART) -> None:
    """Small multiples: one panel per ratio column, bars per comparison, log scale, line at 1.

    Without any webpy number the chart shows the peers' absolute req/s instead, so it still says
    something and states why.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    panels = [
        (label, [(name, cells[k]) for name, cells in t.rows if cells[k] is not None])
        for t in ratio_tables(results)
        for k, label in enumerate(t.labels)
    ]
    title_suffix = " (quick smoke run)" if meta["settings"]["quick"] else ""
    if panels:
        n = len(panels)
        cols = min(3, n)
        nrows = math.ceil(n / cols)
        tallest = max(len(p[1]) for p in panels)
        fig, axes = plt.subplots(
            nrows, cols, figsize=(5.6 * cols, (0.42 * tallest + 1.3) * nrows + 0.6), squeeze=False
        )
        for i, (label, pairs) in enumerate(panels):
            ax = axes[i // cols][i % cols]
            names = [p[0].replace(" vs ", "\nvs ") for p in pairs][::-1]
            values = [p[1] for p in pairs][::-1]
            colors = ["tab:green" if v >= 1 else "tab:red" for v in values]
            # Bars grow from 1 in either direction, on a log axis symmetric around 1.
            ax.barh(names, [v - 1 for v in values], left=1, color=colors)
            ax.axvline(1.0, color="black", linewidth=1)
            ax.set_xscale("log")
            span = max(max(values) * 1.5, 1.5 / min(values), 2.2)
            ax.set_xlim(1 / span, span)
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(label, fontsize=10)
            ax.tick_params(axis="y", labelsize=7)
            ax.tick_params(axis="x", labelsize=8)
            for y, v in enumerate(values):
                ax.text(
                    v,
                    y,
                    f" {v:.2f} ",
                    va="center",
                    ha="left" if v >= 1 else "right",
                    fontsize=7,
                )
        for j in range(n, nrows * cols):
            axes[j // cols][j % cols].axis("off")
        fig.suptitle("webpy vs peers, same run (above 1 = webpy better)" + title_suffix)
    else:
        idx = _index(results)
        scen = [("hello-16", "16 conns"), ("hello-256", "256 conns"), ("close", "conn/request")]
        servers = _order(results, {s for s, _ in scen})
        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.8 / len(scen)
        for k, (sname, slabel) in enumerate(scen):
            vals = [_value(idx, sname, s, "rps") or 0.0 for s in servers]
            ax.bar([i + k * width for i in range(len(servers))], vals, width, label=slabel)
        ax.set_xticks([i + width for i in range(len(servers))], servers, rotation=20, fontsize=8)
        ax.set_ylabel("req/s")
        ax.legend(fontsize=8)
        ax.set_title(
            "No webpy numbers in this run (unavailable): peers' absolute req/s" + title_suffix,
            fontsize=10,
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
