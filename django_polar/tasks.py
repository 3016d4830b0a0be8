"""Background work through Django's tasks framework.

``django.tasks`` on Django 6, the ``django-tasks`` backport below it (imported here only).
Tasks take primary keys, set no queue or priority, and are enqueued on commit; they work
with the immediate backend too.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

try:  # Django >= 6.0
    from django.tasks import task  # type: ignore[import-not-found]
except ImportError:  # the backport
    from django_tasks import task

logger = logging.getLogger("django_polar.webhooks")


@task
def process_webhook_event(event_pk: int) -> str:
    """Apply one stored webhook event; schedule its retry when it failed."""
    from .webhooks.dispatch import process_event

    event = process_event(event_pk)
    if event.status == "failed" and event.next_attempt_at is not None:
        schedule_retry(event.pk, event.next_attempt_at)
    return event.status


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
