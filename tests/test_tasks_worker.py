"""Background processing proven with a real worker process (django-tasks-db's db_worker)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from django_polar.models import Subscription, WebhookEvent
from tests import polar_payloads as pp
from tests.test_webhook_view import deliver, sub_payload

ROOT = Path(__file__).resolve().parent.parent
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def run_worker() -> subprocess.CompletedProcess:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--settings=tests.worker_settings",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_events_are_applied_by_a_separate_worker_process(client, settings):
    polar_task = {**settings.POLAR, "WEBHOOK_PROCESSING": "task"}
    subs = [sub_payload() for _ in range(3)]
    with override_settings(TASKS=DB_TASKS, POLAR=polar_task):
        for data in subs:
            assert deliver(client, "subscription.created", data).status_code == 200
        # an update delivered before its create, and a customer event
        later = {**subs[0], "modified_at": pp.iso(pp.T0.replace(hour=13)), "status": "past_due"}
        assert deliver(client, "subscription.updated", later).status_code == 200
    # acknowledged, stored, not applied: the web process did not do the work
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"pending"}
    assert not Subscription.objects.exists()

    result = run_worker()
    assert result.returncode == 0, result.stderr[-2000:]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert Subscription.objects.count() == 3
    assert Subscription.objects.get(pk=subs[0]["id"]).status == "past_due"


@contextmanager
def subscription_writes_refused():
    """A real failure inside the worker process: PostgreSQL refuses subscription writes
    (as a broken handler or a locked table would) until the block ends ("bug fixed")."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION polar_test_refuse() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'subscription writes refused'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER polar_test_refuse BEFORE INSERT OR UPDATE ON polar_subscription "
            "FOR EACH ROW EXECUTE FUNCTION polar_test_refuse()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS polar_test_refuse ON polar_subscription")
            cursor.execute("DROP FUNCTION IF EXISTS polar_test_refuse()")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failure_in_the_worker_is_retried_later_with_backoff(client, settings):
    from django_tasks_db.models import DBTaskResult

    polar_task = {**settings.POLAR, "WEBHOOK_PROCESSING": "task"}
    data = sub_payload()
    with override_settings(TASKS=DB_TASKS, POLAR=polar_task):
        assert deliver(client, "subscription.created", data).status_code == 200
    with subscription_writes_refused():
        result = run_worker()
    assert result.returncode == 0, result.stderr[-2000:]

    event = WebhookEvent.objects.get()
    assert event.status == "failed" and event.attempts == 1
    assert "subscription writes refused" in event.last_error
    assert event.next_attempt_at is not None
    assert timedelta(seconds=30) < event.next_attempt_at - timezone.now() <= timedelta(minutes=1)
    assert not Subscription.objects.exists()  # the failed attempt wrote nothing
    retry = DBTaskResult.objects.get(status="READY")  # the first task finished, a retry waits
    assert retry.task_path == "django_polar.tasks.process_webhook_event"
    assert retry.args_kwargs["args"] == [event.pk]
    assert abs(retry.run_after - event.next_attempt_at) < timedelta(seconds=5)

    # Not due yet: a worker run now leaves it alone.
    assert run_worker().returncode == 0
    assert WebhookEvent.objects.get().attempts == 1

    # The fault is gone; time passes (moved forward by moving the retry's time back).
    now = timezone.now()
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=now)
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=now)
    result = run_worker()
    assert result.returncode == 0, result.stderr[-2000:]
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")
    assert Subscription.objects.get(pk=data["id"]).status == data["status"]
    assert not DBTaskResult.objects.filter(status="READY").exists()
