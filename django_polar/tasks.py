"""Background work through Django's tasks framework.

``django.tasks`` on Django 6, the ``django-tasks`` backport below it (imported here only).
Tasks take primary keys, set no queue or priority, and are enqueued on commit; they work
with the immediate backend too (which cannot defer: retries are then left to the
``polar_webhooks retry-failed`` and ``polar_usage flush`` commands, run from cron).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # the backport, same API
    from django_tasks import task  # type: ignore[no-redef]

from .webhooks.dispatch import process_event

logger = logging.getLogger("django_polar.webhooks")
usage_logger = logging.getLogger("django_polar.usage")

#: Deferred retries of a usage event before it is left to ``polar_usage flush`` (cron).
#: Counting the first send, with the backoff (1, 2, 4 ... minutes) that spans ~8.5 hours.
USAGE_RETRY_ATTEMPTS = 10


@task
def process_webhook_event(event_pk: int) -> str:
    """Apply one stored webhook event; schedule its retry when it failed."""
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


@task
def send_usage_events(event_pks: list[int] | None = None) -> int:
    """Send pending usage events (those of ``event_pks``, or all) to Polar.

    Events of ``event_pks`` still pending afterwards get another deferred retry, with
    backoff; a run over all pending events (a periodic job) schedules nothing itself.
    """
    from .billable import send_usage_events as send
    from .models import UsageEvent

    pending = UsageEvent.objects.filter(ingested_at__isnull=True)
    if event_pks is None:
        return send()
    sent = send(pending.filter(pk__in=event_pks))
    left = list(pending.filter(pk__in=event_pks).values_list("pk", "attempts"))
    if left:
        schedule_usage_retry([pk for pk, _ in left], min(attempts for _, attempts in left))
    return sent


def schedule_usage_retry(event_pks: list[int], attempts: int) -> bool:
    """Retry sending these usage events later, if the backend can defer and they have
    attempts left; else ``polar_usage flush`` sends them. Returns whether it was queued."""
    from .webhooks.dispatch import backoff

    if attempts >= USAGE_RETRY_ATTEMPTS or not send_usage_events.get_backend().supports_defer:
        usage_logger.info(
            "%d usage event(s) not sent to Polar; left for `polar_usage flush`", len(event_pks)
        )
        return False
    deferred = send_usage_events.using(run_after=timezone.now() + backoff(attempts))
    transaction.on_commit(lambda: deferred.enqueue(list(event_pks)))
    return True
