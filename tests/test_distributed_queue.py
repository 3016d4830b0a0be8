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
