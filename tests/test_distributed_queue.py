"""A real distributed queue: gunicorn, two worker processes, one SIGKILLed mid-run.

The same fault run as ``benchmarks/faults.py`` (whose 2,000-event figures are in
docs/reliability.md), smaller: django-tasks-rq on the local Redis (db 1) with two
``rqworker`` processes, and django-tasks-db with two ``db_worker`` processes. After
``polar_webhooks retry-failed`` (the cron job), every distinct event is applied exactly
once and every delivery was answered 2xx.
"""

from __future__ import annotations

import pytest
from django.db import connection

from benchmarks import faults

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.parametrize("backend", ["rq", "db"])
def test_every_event_is_applied_exactly_once_after_a_worker_is_killed(backend):
    outcome = faults.run(backend, distinct=80, duplicates=20, database_url=database_url())
    assert outcome.requests == 100
    assert outcome.answers == {"2xx": 100}, outcome.row()  # no 4xx/5xx: nothing to resend
    assert outcome.killed_after_applied >= 20  # the SIGKILL happened mid-run
    assert outcome.retry_failed_exit == 0
    assert outcome.stored == 80 and outcome.processed == 80
    assert outcome.subscriptions == 80 and outcome.lost == 0
    assert outcome.applied_twice == 0
    assert outcome.running_tasks_after == 0  # nothing left RUNNING by the dead worker


def test_a_task_a_killed_db_worker_left_running_is_released_and_its_event_applied(client, settings):
    import os
    import signal
    import time

    from django.core.management import call_command
    from django.test import override_settings
    from django_tasks_db.models import DBTaskResult

    from django_polar.models import Subscription, WebhookEvent
    from tests.test_webhook_view import deliver, sub_payload

    data = sub_payload()
    polar_task = {**settings.POLAR, "WEBHOOK_PROCESSING": "task"}
    db_tasks = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with override_settings(TASKS=db_tasks, POLAR=polar_task):
        assert deliver(client, "subscription.created", data).status_code == 200
    env = {**faults.subprocess_env("db", database_url()), "FAULT_APPLY_DELAY": "60"}
    worker = faults.start(["django", *faults.WORKERS["db"]], env)
    try:
        for _ in range(300):  # the worker claimed the task and sleeps inside the apply
            if DBTaskResult.objects.filter(status="RUNNING").exists():
                break
            time.sleep(0.1)
        else:
            pytest.fail("the db_worker never started the task")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        faults.end_dead_sessions()
    assert WebhookEvent.objects.get().status == "pending"
    assert DBTaskResult.objects.get().status == "RUNNING"  # forever, without retry-failed

    with override_settings(TASKS=db_tasks):
        call_command("polar_webhooks", "retry-failed", "--stale-after", "0")
    task = DBTaskResult.objects.get()
    assert task.status == "FAILED"
    assert task.exception_class_path == "django_polar.errors.WorkerLost"
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("processed", 1)  # the killed attempt wrote nothing
    assert Subscription.objects.filter(pk=data["id"]).exists()
