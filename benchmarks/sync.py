"""How fast ``polar_sync`` rebuilds a large mirror, against Polar's rate limit.

    .venv/bin/python benchmarks/sync.py                       # SQLite file database
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_sync .venv/bin/python benchmarks/sync.py

Polar (the emulator, in its own process behind a real HTTP server, so it competes for
neither the GIL nor the sync's memory) serves 10,000 customers, 10,000 subscriptions and
20,000 orders with 50 ms latency per request and 300 requests/minute (429 + Retry-After
beyond). ``polar_sync customers subscriptions orders`` then runs on an empty database.

Reported: wall time against the floor the rate limit sets (pages / allowed rate + one
latency), API calls (from the server's own count, 429s included), rows written per second
and peak memory; then peak memory of customer-only runs at 10k and 50k objects (each in a
fresh process) to show that memory does not grow with the number of objects.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from database import ensure_database  # benchmarks/ is sys.path[0] when run as a script
from sections import write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LATENCY = 0.05
RATE = 300


# -- the emulator process ---------------------------------------------------------------------


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 64


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def serve(
    port: int, customers: int, subscriptions: int, orders: int, latency: float, rate: int
) -> None:
    """Seed an emulator and serve it until killed; /_bench/stats counts requests."""
    from polar_emulator import Emulator

    emu = Emulator(rng_seed=1)
    started = time.monotonic()
    emu.bulk_seed(customers=customers, subscriptions=subscriptions, orders=orders)
    seeded = time.monotonic() - started
    emu.faults.latency = latency
    emu.faults.rate_limit = rate
    stats: dict[str, Any] = {"requests": 0, "statuses": {}, "handler_seconds": 0.0}
    lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/_bench/stats":
            start_response("200 OK", [("content-type", "application/json")])
            with lock:
                return [json.dumps({**stats, "seed_seconds": seeded}).encode()]
        captured: dict[str, str] = {}

        def capture(status: str, headers: list[tuple[str, str]]) -> Any:
            captured["status"] = status.split()[0]
            return start_response(status, headers)

        began = time.monotonic()
        body = emu.api_wsgi_app(environ, capture)
        with lock:
            stats["handler_seconds"] += time.monotonic() - began - latency
            stats["requests"] += 1
            stats["statuses"][captured["status"]] = stats["statuses"].get(captured["status"], 0) + 1
        return body

    server = make_server(
        "127.0.0.1", port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    print("ready", flush=True)
    server.serve_forever()


def start_emulator(customers: int, subscriptions: int, orders: int) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [
        sys.executable,
        __file__,
        "--serve",
        str(port),
        str(customers),
        str(subscriptions),
        str(orders),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline() if proc.stdout else ""
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError("the emulator server did not start")
    return proc, port


def server_stats(port: int) -> dict[str, Any]:
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/_bench/stats", timeout=10).json()


# -- the sync process -------------------------------------------------------------------------


def run_sync(port: int, kinds: list[str], trace: bool) -> dict[str, Any]:
    """Set Django up on a fresh database, sync ``kinds`` and measure (in this process)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault(
        "DATABASE_URL",
        f"sqlite:///{Path(tempfile.gettempdir()) / 'django-polar-sync-bench.sqlite3'}",
    )
    import django
    from django.conf import settings

    settings_url = os.environ["DATABASE_URL"]
    if settings_url.startswith("sqlite:///"):
        Path(settings_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    django.setup()
    settings.POLAR = {
        **settings.POLAR,
        "SERVER": "emulator",
        "EMULATOR_URL": f"http://127.0.0.1:{port}",
        "RETRY_MAX_WAIT": 60.0,
    }
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)  # a reused PostgreSQL database
    from django_polar.sync import Syncer

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    started = time.monotonic()
    syncer = Syncer(rate_per_minute=RATE)
    results = syncer.run(kinds)
    wall = time.monotonic() - started
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "kinds": kinds,
        "wall_seconds": round(wall, 2),
        "results": [r.as_dict() for r in results],
        "objects": sum(r.fetched for r in results),
        "rows_written": sum(r.created + r.updated for r in results),
        "failed": sum(r.failed for r in results),
        "engine_api_calls": sum(r.api_calls for r in results),
        "write_seconds": round(sum(r.write_seconds for r in results), 2),
        "pages": sum(max(r.pages, 1) for r in results),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_peak_mib": round(rss_peak / 1024, 1),
        "traced_peak_mib": round(traced_peak / 2**20, 2) if traced_peak is not None else None,
        "database": connection.vendor,
    }


def scenario(
    customers: int, subscriptions: int, orders: int, kinds: list[str], trace: bool
) -> dict[str, Any]:
    proc, port = start_emulator(customers, subscriptions, orders)
    try:
        args = [sys.executable, __file__, "--sync", str(port), ",".join(kinds)]
        if trace:
            args.append("--trace")
        out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        report = json.loads(out.stdout.strip().splitlines()[-1])
        report["server"] = server_stats(port)
    finally:
        proc.kill()
        proc.wait()
    pages = report["pages"]
    report["floor_seconds"] = round(pages * 60 / RATE + LATENCY, 2)
    report["vs_floor"] = round(report["wall_seconds"] / report["floor_seconds"], 3)
    report["rows_per_second"] = round(report["rows_written"] / report["wall_seconds"], 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--serve", nargs=4, type=int, metavar=("PORT", "C", "S", "O"), help=argparse.SUPPRESS
    )
    parser.add_argument("--sync", nargs=2, metavar=("PORT", "KINDS"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-main", action="store_true", help="Only the memory runs.")
    parser.add_argument("--skip-memory", action="store_true", help="Only the 40k-object run.")
    parser.add_argument("--json", type=Path, help="Also write the raw results here.")
    parser.add_argument(
        "--markdown",
        type=Path,
        help="Write the results into this file's sync section (BENCHMARKS.md).",
    )
    parser.add_argument(
        "--from-json", type=Path, help="Render --markdown from saved --json results."
    )
    args = parser.parse_args()
    ensure_database()
    if args.from_json:
        write_section(
            args.markdown or ROOT / "BENCHMARKS.md",
            START,
            END,
            render_markdown(json.loads(args.from_json.read_text())),
        )
        return
    if args.serve:
        port, c, s, o = args.serve
        serve(port, c, s, o, LATENCY, RATE)
        return
    if args.sync:
        port, kinds = args.sync
        print(json.dumps(run_sync(int(port), kinds.split(","), args.trace)))
        return

    reports: dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPUs ({platform.machine()}), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        "command": " ".join(
            ([f"DATABASE_URL={os.environ['DATABASE_URL']}"] if "DATABASE_URL" in os.environ else [])
            + [".venv/bin/python", "benchmarks/sync.py", *sys.argv[1:]]
        ),
        "load_before": [round(x, 1) for x in os.getloadavg()],
    }
    if not args.skip_main:
        main_run = scenario(
            10_000, 10_000, 20_000, ["customers", "subscriptions", "orders"], trace=False
        )
        reports["main"] = main_run
        print(_describe("10k customers + 10k subscriptions + 20k orders", main_run), flush=True)
    if not args.skip_memory:
        for size in (10_000, 50_000):
            run = scenario(size, 0, 0, ["customers"], trace=True)
            reports[f"memory_{size}"] = run
            print(_describe(f"{size:,} customers (memory run)", run), flush=True)
        small, large = reports["memory_10000"], reports["memory_50000"]
        reports["memory_ratio_rss"] = round(large["rss_peak_mib"] / small["rss_peak_mib"], 3)
        reports["memory_ratio_traced"] = round(
            large["traced_peak_mib"] / small["traced_peak_mib"], 3
        )
        print(
            f"peak memory 50k / 10k: RSS {reports['memory_ratio_rss']}x, "
            f"Python heap {reports['memory_ratio_traced']}x"
        )
    reports["load_after"] = [round(x, 1) for x in os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))
    if args.markdown:
        write_section(args.markdown, START, END, render_markdown(reports))


START, END = "<!-- sync:start -->", "<!-- sync:end -->"


def render_markdown(reports: dict[str, Any]) -> str:
    """The BENCHMARKS.md section for one run of this script."""
    rows = []
    for key, title in (("main", "10k customers + 10k subscriptions + 20k orders"),
                       ("main_sqlite", "the same, SQLite file database"),
                       ("memory_10000", "10k customers (memory run, tracemalloc on)"),
                       ("memory_50000", "50k customers (memory run, tracemalloc on)")):  # fmt: skip
        run = reports.get(key)
        if not run:
            continue
        server = run["server"]
        throttled = server["statuses"].get("429", 0)
        rows.append(
            f"| {title} | {run['database']} | {run['objects']:,} | {run['pages']} | "
            f"{run['floor_seconds']} | {run['wall_seconds']} | **{run['vs_floor']}x** | "
            f"{server['requests']} ({throttled} x 429) | {run['rows_per_second']:,.0f} | "
            f"{run['write_seconds']} | {run['rss_peak_mib']} | "
            f"{run['traced_peak_mib'] if run['traced_peak_mib'] is not None else '-'} |"
        )
    lines = [
        START,
        "## Sync (`benchmarks/sync.py`)",
        "",
        f"Machine: {reports['machine']}; load average {reports['load_before']} before, "
        f"{reports['load_after']} after (1/5/15 min).",
        f"Command: `{reports['command']}`",
        "",
        "The emulator runs in its own process behind a threaded HTTP server with 50 ms latency "
        "per request and Polar's limit of 300 requests/minute (rolling window, 429 + "
        "Retry-After beyond). `Syncer.run()` (what `polar_sync` runs) starts on an empty "
        "database. *Floor* = pages / (300 per minute) + one latency: no client can be faster "
        "without being throttled. *Writer busy* is the time the calling thread spent writing "
        "pages (the rest it waited for Polar). Peak RSS is the sync process's whole "
        "`ru_maxrss` (Python, Django, the database driver); heap is tracemalloc's peak "
        "during the run.",
        "",
        "| run | database | objects | pages | floor s | wall s | vs floor | API calls | "
        "rows/s | writer busy s | peak RSS MiB | heap peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    if "memory_ratio_rss" in reports:
        lines += [
            "",
            f"Peak memory at 50k objects vs 10k: RSS **{reports['memory_ratio_rss']}x**, Python "
            f"heap **{reports['memory_ratio_traced']}x** (target <= 1.2x): pages are streamed, "
            "at most 8 are held at once.",
        ]
    lines += [
        "",
        "Memory runs trace every allocation (tracemalloc roughly doubles the CPU cost of "
        "Python code), which makes them writer-bound: their wall times are not the speed "
        "result.",
    ]
    if reports.get("notes"):
        lines += ["", reports["notes"]]
    lines.append(END)
    return "\n".join(lines)


def _describe(title: str, report: dict[str, Any]) -> str:
    server = report["server"]
    return (
        f"{title} [{report['database']}]: {report['objects']:,} objects in "
        f"{report['wall_seconds']}s (floor {report['floor_seconds']}s, {report['vs_floor']}x), "
        f"{server['requests']} API calls ({server['statuses']}), "
        f"{report['rows_per_second']:,} rows/s, failed {report['failed']}, "
        f"writer busy {report['write_seconds']}s, emulator busy {server['handler_seconds']:.1f}s, "
        f"RSS peak {report['rss_peak_mib']} MiB"
        + (
            f", Python heap peak {report['traced_peak_mib']} MiB"
            if report["traced_peak_mib"]
            else ""
        )
    )


if __name__ == "__main__":
    main()
