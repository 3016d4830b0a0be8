"""Background work through Django's tasks framework.

``django.tasks`` on Django 6, the ``django-tasks`` backport below it (imported here only).
Tasks take primary keys, set no queue or priority, and are enqueued on commit; they work
with the immediate backend too (which cannot defer: retries are then left to the
``polar_webhooks retry-failed`` and ``polar_usage flush`` commands, run from cron).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.apps import apps
from django.db import transaction
from django.utils import timezone

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # the backport, same API
    from django_tasks import task  # type: ignore[no-redef]

from . import usage
from .client import background
from .errors import WorkerLost
from .webhooks.dispatch import process_event

logger = logging.getLogger("django_polar.webhooks")
usage_logger = logging.getLogger("django_polar.usage")


@task
def process_webhook_event(event_pk: int) -> str:
    """Apply one stored webhook event; schedule its retry when it failed."""
    with background():  # a handler or receiver calling Polar gets the worker's budget
        event = process_event(event_pk)
    if event.status == "failed" and event.next_attempt_at is not None:
        schedule_retry(event.pk, event.next_attempt_at)
    return event.status


def release_abandoned_tasks(stale_after: timedelta) -> int:
    """Mark failed the webhook tasks of the database backend (django-tasks-db) that have
    been RUNNING for longer than ``stale_after``: their worker died mid-task (a killed
    ``db_worker`` never finishes its row, and nothing else ever would). Their events are
    still ``pending`` and ``retry-failed`` applies them. Returns how many were released.

    RQ needs nothing of the kind: a dead worker's job is moved out of RQ's started registry
    by the next worker's maintenance, and its event is applied by ``retry-failed`` too.
    """
    if not apps.is_installed("django_tasks_db"):
        return 0
    from django_tasks_db.models import DBTaskResult

    started_before = timezone.now() - stale_after
    abandoned = DBTaskResult.objects.running().filter(
        task_path=process_webhook_event.module_path, started_at__lte=started_before
    )
    released = 0
    for result in abandoned:
        result.set_failed(WorkerLost(f"worker {result.worker_ids[-1:]} died running this task"))
        released += 1
    if released:
        logger.warning("Released %d webhook task(s) left RUNNING by a dead worker", released)
    return released


def enqueue_event(event_pk: int) -> None:
    """Enqueue processing once the current transaction commits (the row must be visible)."""
    transaction.on_commit(lambda: process_webhook_event.enqueue(event_pk))


def schedule_retry(event_pk: int, when: datetime) -> bool:
    """Enqueue a retry at ``when`` if the backend can defer; else ``polar_webhooks
    retry-failed`` (run it from cron) picks the event up. Returns whether it was queued."""
    if not process_webhook_event.get_backend().supports_defer:
        logger.info(
            "Webhook event %s failed; backend cannot defer, left for retry-failed", event_pk
        )
        return False
    deferred = process_webhook_event.using(run_after=when)
    transaction.on_commit(lambda: deferred.enqueue(event_pk))
    return True


@task
def send_usage_events(event_pks: list[int] | None = None) -> int:
    """Flush the usage outbox (every due row; ``event_pks`` is accepted for tasks queued
    by earlier versions). When Polar failed or throttled, one deferred retry follows, at
    its Retry-After or with backoff. Returns how many events Polar acknowledged."""
    with background():  # nobody waits on a task: Polar's Retry-After is worth waiting out
        report = usage.flush()
    if report.retry_at is not None:
        schedule_usage_retry(report.retry_at)
    return report.sent


def schedule_usage_retry(when: datetime) -> bool:
    """Flush again at ``when`` if the backend can defer; else ``polar_usage flush`` (cron)
    sends the rows. Returns whether a retry was queued."""
    if not send_usage_events.get_backend().supports_defer:
        usage_logger.info("Usage events not sent to Polar; left for `polar_usage flush`")
        return False
    deferred = send_usage_events.using(run_after=when)
    transaction.on_commit(lambda: deferred.enqueue())
    return True


def enqueue_usage_flush(**kwargs: object) -> bool:
    """Receiver of ``usage_flush_requested``: one flush task per committed transaction.

    The immediate backend would run the flush inside the request that recorded the usage
    (the very wait the outbox removes), so nothing is queued there; the ``django_polar.W010``
    check says to run ``polar_usage flush`` from cron or use a worker backend.
    """
    if runs_inline(send_usage_events.get_backend()):
        return False
    send_usage_events.enqueue()
    return True


def runs_inline(backend: object) -> bool:
    """Whether a task backend runs tasks in the enqueuing process, immediately."""
    return type(backend).__name__ == "ImmediateBackend"
