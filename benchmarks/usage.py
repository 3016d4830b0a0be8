"""Usage metering: how fast events are recorded, how few calls carry them, how fast a
backlog drains at Polar's rate limit.

For each database (SQLite, and PostgreSQL when ``--postgres`` names one) a child process
sets Django up on a fresh database and measures:

- recording one by one: ``record_usage`` in autocommit (a commit per event) and inside one
  transaction (what a request recording several events does);
- recording in bulk: ``record_usage_many`` with 1,000 events per call;
- ingest calls per 10,000 events: what ``usage.flush()`` sends (target 10);
- flush throughput against the emulator (in this process, 20 ms latency per request) held
  to Polar's limit of 300 requests a minute (rolling window, 429 + Retry-After beyond).
  The floor is events / 1,000 per call / 300 calls per minute: at most 300,000 events a
  minute, 5,000 a second.

    .venv/bin/python benchmarks/usage.py \\
        --postgres postgres://postgres@127.0.0.1:5432/bench_usage --markdown BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from database import ensure_database  # noqa: E402  (benchmarks/ is sys.path[0] as a script)
from sections import write_section  # noqa: E402

START, END = "<!-- usage:start -->", "<!-- usage:end -->"
RATE_PER_MINUTE = 300
LATENCY = 0.02


def child(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    url = os.environ["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    import django
    from django.conf import settings

    django.setup()
    settings.POLAR = {**settings.POLAR, "USAGE_SENDING": "cron", "SERVER": "emulator"}
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)  # a reused PostgreSQL database

    from django_polar import usage
    from django_polar.client import use_transport
    from django_polar.models import UsageEvent, UsageIngest
    from polar_emulator import Emulator
    from tests.testapp.models import User

    emu = Emulator("default", autodeliver=False)
    out: dict[str, Any] = {"database": connection.vendor}
    with use_transport(emu.transport()):
        user = User.objects.create_user("bench", "bench@example.com")
        user.get_or_create_polar_customer()

        def rate(fn: Any, count: int) -> dict[str, int]:
            """Events per second of wall time, and per second of this process's CPU."""
            started, cpu = time.perf_counter(), time.process_time()
            fn(count)
            wall, used = time.perf_counter() - started, time.process_time() - cpu
            return {"wall": round(count / wall), "cpu": round(count / max(used, 1e-9))}

        def one_by_one(count: int) -> None:
            for _ in range(count):
                user.record_usage("api_call", {"tokens": 12})

        def in_one_transaction(count: int) -> None:
            with transaction.atomic():
                one_by_one(count)

        def in_bulk(count: int) -> None:
            for _ in range(count // 1000):
                user.record_usage_many([{"name": "api_call", "metadata": {"tokens": 12}}] * 1000)

        out["one_by_one_autocommit"] = rate(one_by_one, args.single)
        out["one_by_one_transaction"] = rate(in_one_transaction, args.single)
        out["bulk"] = rate(in_bulk, args.bulk)
        UsageEvent.objects.all().delete()

        user.record_usage_many(["api_call"] * 10_000)
        report = usage.flush()
        out["calls_per_10k"] = report.calls
        UsageEvent.objects.all().delete()
        UsageIngest.objects.all().delete()

        emu.faults.rate_limit = RATE_PER_MINUTE
        emu.faults.latency = LATENCY
        user.record_usage_many(["api_call"] * args.backlog)
        started = time.perf_counter()
        report = usage.flush()
        wall = time.perf_counter() - started
        out["flush"] = {
            "events": args.backlog,
            "sent": report.sent,
            "calls": report.calls,
            "duplicates": report.duplicates,
            "wall_seconds": round(wall, 2),
            "events_per_second": round(report.sent / wall),
            "floor_seconds": round(args.backlog / 1000 / RATE_PER_MINUTE * 60, 2),
        }
    return out


def run(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    if database_url.startswith("postgres"):
        os.environ["DATABASE_URL"] = database_url
        ensure_database()
    command = [
        sys.executable,
        __file__,
        "--child",
        "--single",
        str(args.single),
        "--bulk",
        str(args.bulk),
        "--backlog",
        str(args.backlog),
    ]
    done = subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def section(results: list[dict[str, Any]], command: str, load: list[float]) -> str:
    lines = [
        START,
        "## Usage metering (`benchmarks/usage.py`)",
        "",
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; load average "
        f"{load} before (1/5/15 min).",
        f"Command: `{command}`",
        "",
        "Recording writes one `UsageEvent` row and nothing else (no call to Polar); *one by "
        "one* is `record_usage` per event, committed each time (autocommit) or inside one "
        "transaction; *bulk* is `record_usage_many` with 1,000 events per call. Targets: "
        ">= 1,000/s one by one, >= 5,000/s in bulk, 10 ingest calls per 10,000 events. "
        "Each cell is events per second of wall time / per second of the recording "
        "process's CPU time (the second stays meaningful on a loaded machine; it leaves "
        "out the PostgreSQL server's own CPU and, for autocommit, the fsync waits).",
        "",
        "| database | one by one, autocommit ev/s | one by one, one transaction ev/s "
        "| bulk ev/s | ingest calls per 10,000 events |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        cells = [
            f"{r[k]['wall']:,} / {r[k]['cpu']:,}"
            for k in ("one_by_one_autocommit", "one_by_one_transaction", "bulk")
        ]
        lines.append(f"| {r['database']} | {' | '.join(cells)} | {r['calls_per_10k']} |")
    lines += [
        "",
        f"Flush: the emulator (in the flushing process, {int(LATENCY * 1000)} ms per request) "
        f"answers 429 + Retry-After past {RATE_PER_MINUTE} requests a minute. *Floor* is "
        "events / 1,000 per call / 300 calls per minute (Polar's sustained maximum, 5,000 "
        "events/s); below the limit a backlog drains faster than that, bound by the "
        "database and the emulator.",
        "",
        "| database | events | ingest calls | wall s | events/s | floor s | duplicates |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        f = r["flush"]
        lines.append(
            f"| {r['database']} | {f['events']:,} | {f['calls']} | {f['wall_seconds']} | "
            f"{f['events_per_second']:,} | {f['floor_seconds']} | {f['duplicates']} |"
        )
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--single", type=int, default=5000, help="events recorded one by one")
    parser.add_argument("--bulk", type=int, default=50_000, help="events recorded in bulk")
    parser.add_argument("--backlog", type=int, default=50_000, help="events flushed")
    parser.add_argument("--postgres", help="a PostgreSQL DATABASE_URL to measure as well")
    parser.add_argument("--markdown", type=Path, help="rewrite this file's usage section")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    load = [round(x, 1) for x in os.getloadavg()]
    sqlite = f"sqlite:///{Path(tempfile.gettempdir()) / 'django-polar-usage-bench.sqlite3'}"
    results = [run(sqlite, args)]
    if args.postgres:
        results.append(run(args.postgres, args))
    shown = " ".join(a for a in sys.argv[1:])
    text = section(results, f".venv/bin/python benchmarks/usage.py {shown}", load)
    print(text)
    if args.markdown:
        write_section(args.markdown, START, END, text)


if __name__ == "__main__":
    main()
