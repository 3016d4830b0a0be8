"""Background processing proven with a real worker process (django-tasks-db's db_worker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

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
