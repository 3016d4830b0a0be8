"""Faults tried against the webhook inbox with a real distributed queue, and their outcome.

For each backend (django-tasks-rq on the local Redis with two ``rqworker`` processes, and
django-tasks-db with two ``db_worker`` processes), signed events are posted through
gunicorn (2 workers) while the workers run: ``--events`` distinct ``subscription.created``
events and ``--duplicates`` re-deliveries of some of them (Polar's retries). One worker is
killed with SIGKILL (its whole process group: mid-job) once a quarter of the events are
applied. When the survivors are idle, ``polar_webhooks retry-failed --stale-after 0`` runs
(the cron line of docs/reliability.md, without waiting the 5 minutes), then the outcome is
counted: answers by class, events lost, events applied twice (a ``webhook_event_processed``
receiver logs every application), tasks left RUNNING. Rewrites its table in
docs/reliability.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_faults \\
        .venv/bin/python benchmarks/faults.py [--events 2000] [--duplicates 200]

tests/test_distributed_queue.py runs the same ``run()`` smaller, in CI.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_YmVuY2htYXJrLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3"
REDIS_URL = os.environ.get("FAULT_REDIS_URL", "redis://127.0.0.1:6379/1")
MARK_START, MARK_END = "<!-- faults:start -->", "<!-- faults:end -->"
WORKERS = {
    "rq": ["rqworker", "default", "--job-class", "django_tasks_rq.Job"],
    "db": ["db_worker", "--no-startup-delay", "--interval", "0.1"],
}


@dataclass
class Outcome:
    backend: str
    distinct: int
    duplicates: int
    requests: int = 0
    answers: Counter = field(default_factory=Counter)  # "2xx", "4xx", "5xx", "error"
    killed_after_applied: int = 0
    pending_before_recovery: int = 0
    running_tasks_before_recovery: int = 0
    recovered_by_retry_failed: int = 0
    retry_failed_exit: int | None = None
    processed: int = 0
    stored: int = 0
    lost: int = 0
    applied_twice: int = 0
    subscriptions: int = 0
    running_tasks_after: int = 0
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        data["answers"] = dict(self.answers)
        return data


def subprocess_env(backend: str, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.fault_settings",
        "DATABASE_URL": database_url,
        "FAULT_BACKEND": backend,
        "FAULT_REDIS_URL": REDIS_URL,
        "PYTHONPATH": str(ROOT),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reset_state() -> None:
    """Empty the inbox, the mirror, the database queue, the applied log and Redis db."""
    import redis
    from django.apps import apps
    from django.db import connection

    from django_polar.models import WebhookEvent

    polar = apps.get_app_config("django_polar")
    tables = [m._meta.db_table for m in polar.get_models(include_auto_created=True)]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS fault_applied (webhook_id varchar(255))")
        cursor.execute(
            "TRUNCATE fault_applied, django_tasks_database_dbtaskresult, "
            + ", ".join(tables)
            + " CASCADE"
        )
    assert not WebhookEvent.objects.exists()
    redis.Redis.from_url(REDIS_URL).flushdb()


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A child in its own process group, so a SIGKILL takes its forked job process too."""
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = start(
        ["gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "django.core.wsgi:get_wsgi_application()"],
        env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/polar/webhook/"
    for _ in range(200):
        try:
            if httpx.post(url, content=b"{}", timeout=1).status_code == 400:  # unsigned
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError("gunicorn did not start")


def deliveries(distinct: int, duplicates: int, seed: int = 7) -> tuple[list, list[str]]:
    """Signed (body, headers) to post, duplicates mixed into the second half; and the
    subscription ids that must end up mirrored."""
    from tests import polar_payloads as pp

    prod_id = pp.new_id()
    prod = pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], [pp.benefit(pp.new_id())])
    firsts, sub_ids = [], []
    for _ in range(distinct):
        sub = pp.subscription(pp.new_id(), pp.customer(pp.new_id()), prod, modified=pp.T0)
        body = pp.body_of(pp.envelope("subscription.created", sub))
        firsts.append((body, pp.sign(body, SECRET)))
        sub_ids.append(sub["id"])
    rng = random.Random(seed)
    again = [rng.choice(firsts) for _ in range(duplicates)]
    half = len(firsts) // 2
    tail = firsts[half:] + again
    rng.shuffle(tail)
    return firsts[:half] + tail, sub_ids


def post_all(url: str, items: list, outcome: Outcome, concurrency: int = 4) -> None:
    lock = threading.Lock()

    def worker(chunk: list) -> None:
        with httpx.Client(timeout=30) as client:
            for body, headers in chunk:
                try:
                    status = client.post(url, content=body, headers=headers).status_code
                    kind = f"{status // 100}xx"
                except httpx.HTTPError:
                    kind = "error"
                with lock:
                    outcome.requests += 1
                    outcome.answers[kind] += 1

    threads = [
        threading.Thread(target=worker, args=(items[i::concurrency],)) for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def processed_count() -> int:
    from django.db import close_old_connections

    from django_polar.models import WebhookEvent

    close_old_connections()
    return WebhookEvent.objects.filter(status="processed").count()


def kill_when(worker: subprocess.Popen, threshold: int, outcome: Outcome, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        applied = processed_count()
        if applied >= threshold:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            outcome.killed_after_applied = applied
            return
        time.sleep(0.05)


def wait_idle(expected: int, timeout: float, quiet_for: float = 5.0) -> None:
    """Until every event is applied, or nothing changed for ``quiet_for`` seconds."""
    last, since = -1, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = processed_count()
        if now >= expected:
            return
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet_for:
            return
        time.sleep(0.2)


def end_dead_sessions() -> None:
    """End the database sessions of processes that are gone (a SIGKILLed worker's lingers
    until PostgreSQL notices), so the database can be dropped right after a run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def running_tasks() -> int:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(status="RUNNING").count()


def run(backend: str, distinct: int, duplicates: int, database_url: str) -> Outcome:
    """One fault run; Django in this process must be set up on ``database_url``."""
    from django.db import connection

    from django_polar.models import Subscription, WebhookEvent

    reset_state()
    env = subprocess_env(backend, database_url)
    outcome = Outcome(backend, distinct, duplicates)
    items, sub_ids = deliveries(distinct, duplicates)
    started = time.monotonic()
    web, url = serve(env)
    workers = [start(["django", *WORKERS[backend]], env) for _ in range(2)]
    try:
        killer = threading.Thread(
            target=kill_when,
            args=(workers[0], max(distinct // 4, 1), outcome, time.monotonic() + 600),
        )
        killer.start()
        post_all(url, items, outcome)
        killer.join()
        wait_idle(distinct, timeout=600)
        outcome.pending_before_recovery = WebhookEvent.objects.filter(status="pending").count()
        outcome.running_tasks_before_recovery = running_tasks()
        before = processed_count()
        recovery = subprocess.run(
            [sys.executable, "-m", "django", "polar_webhooks", "retry-failed",
             "--stale-after", "0"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        outcome.retry_failed_exit = recovery.returncode
        outcome.recovered_by_retry_failed = processed_count() - before
    finally:
        for proc in [*workers, web]:
            stop(proc)
        end_dead_sessions()
    outcome.seconds = round(time.monotonic() - started, 1)
    outcome.stored = WebhookEvent.objects.count()
    outcome.processed = processed_count()
    outcome.subscriptions = Subscription.objects.filter(pk__in=sub_ids).count()
    outcome.lost = distinct - outcome.subscriptions
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT webhook_id FROM fault_applied GROUP BY webhook_id "
            "HAVING COUNT(*) > 1) AS twice"
        )
        outcome.applied_twice = cursor.fetchone()[0]
    outcome.running_tasks_after = running_tasks()
    return outcome


def markdown(outcomes: list[Outcome], args: argparse.Namespace) -> list[str]:
    cpu = platform.processor() or platform.machine()
    lines = [
        MARK_START,
        f"Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL and Redis on localhost.",
        f"Command: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_faults "
        f".venv/bin/python benchmarks/faults.py --events {args.events} "
        f"--duplicates {args.duplicates}`",
        "",
        "| backend | requests | 2xx / 4xx / 5xx / errors | worker SIGKILLed after | "
        "pending after the kill | tasks left RUNNING | applied by `retry-failed` | "
        "events lost | applied twice | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        a = o.answers
        lines.append(
            f"| {o.backend} ({o.distinct} + {o.duplicates} duplicates) | {o.requests} | "
            f"{a['2xx']} / {a['4xx']} / {a['5xx']} / {a['error']} | "
            f"{o.killed_after_applied} applied | {o.pending_before_recovery} | "
            f"{o.running_tasks_before_recovery} (after: {o.running_tasks_after}) | "
            f"{o.recovered_by_retry_failed} | {o.lost} | {o.applied_twice} | {o.seconds} |"
        )
    lines.append(MARK_END)
    return lines


def write_docs(lines: list[str]) -> None:
    path = ROOT / "docs" / "reliability.md"
    text = path.read_text()
    head, _, rest = text.partition(MARK_START)
    _, _, tail = rest.partition(MARK_END)
    path.write_text(head + "\n".join(lines) + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--duplicates", type=int, default=200)
    parser.add_argument("--backends", default="rq,db")
    parser.add_argument("--no-docs", action="store_true", help="Print, do not rewrite docs.")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (it is emptied).")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from database import ensure_database

    ensure_database()
    os.environ.update(DJANGO_SETTINGS_MODULE="benchmarks.fault_settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    outcomes = []
    for backend in args.backends.split(","):
        outcome = run(backend, args.events, args.duplicates, os.environ["DATABASE_URL"])
        print(outcome.row(), flush=True)
        outcomes.append(outcome)
    lines = markdown(outcomes, args)
    print("\n".join(lines))
    if not args.no_docs:
        write_docs(lines)


if __name__ == "__main__":
    main()
