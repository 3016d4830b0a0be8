"""Background work through Django's tasks framework.

``django.tasks`` on Django 6, the ``django-tasks`` backport below it (imported here only).
Tasks take primary keys, set no queue or priority, and are enqueued on commit; they work
with the immediate backend too (which cannot defer: retries are then left to the
``polar_webhooks retry-failed`` and ``polar_usage flush`` commands, run from cron).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # the backport, same API
    from django_tasks import task  # type: ignore[no-redef]

from . import customer_sync, usage
from .client import background
from .conf import polar_settings
from .errors import PolarNetworkError, PolarRateLimitError, PolarServerError, WorkerLost
from .identity import billable_models
from .webhooks.dispatch import process_event

logger = logging.getLogger("django_polar.webhooks")
usage_logger = logging.getLogger("django_polar.usage")
customer_logger = logging.getLogger("django_polar.customers")


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


# -- the Polar customer follows its billable (customer_sync.py) ----------------------------

#: Failures worth another try later; a 422 (e.g. the email is another customer's) is not.
TRANSIENT = (PolarNetworkError, PolarServerError, PolarRateLimitError)
CUSTOMER_RETRIES = 5


@task
def push_polar_customer(customer_pk: str, attempt: int = 0) -> str:
    """Send a billable's new email and name to its Polar customer (a no-op when the
    mirror already has them, so duplicates cost one query)."""
    with background():
        try:
            return customer_sync.push(customer_pk)
        except TRANSIENT:
            if not _retry_customer(push_polar_customer, attempt, customer_pk):
                raise
            return "retrying"


@task
def delete_polar_customer(customer_pk: str, anonymize: bool = False, attempt: int = 0) -> str:
    """Delete a deleted billable's customer in Polar (``anonymize``: scrub its data too)."""
    with background():
        try:
            return customer_sync.delete(customer_pk, anonymize)
        except TRANSIENT:
            if not _retry_customer(delete_polar_customer, attempt, customer_pk, anonymize):
                raise
            return "retrying"


def _retry_customer(task_: Any, attempt: int, *args: Any) -> bool:
    """Queue attempt + 1 with backoff (1, 2, 4, 8, 16 minutes) when the backend can defer;
    else, or after CUSTOMER_RETRIES, ``polar_customers push`` (cron) sends it."""
    if attempt + 1 >= CUSTOMER_RETRIES or not task_.get_backend().supports_defer:
        customer_logger.warning(
            "Polar customer %s not updated; left for `polar_customers push`", args[0]
        )
        return False
    later = task_.using(run_after=timezone.now() + timedelta(minutes=2**attempt))
    later.enqueue(*args, attempt=attempt + 1)
    return True


def _customer_tasks_run(task_: Any) -> bool:
    """Whether a save or delete starts anything now: CUSTOMER_SYNC "inline", or "task"
    with a backend that is not the immediate one (which would run the task inside the
    request that saved the billable; the cron pass sends it instead). When not, the
    receivers return before any query."""
    mode = polar_settings.CUSTOMER_SYNC
    return mode == "inline" or (mode == "task" and not runs_inline(task_.get_backend()))


def _run_customer_task(task_: Any, *args: Any) -> None:
    """After the commit: in this process ("inline") or as a task ("task")."""
    if polar_settings.CUSTOMER_SYNC == "inline":
        transaction.on_commit(lambda: _call_quietly(task_, *args))
    else:
        transaction.on_commit(lambda: task_.enqueue(*args))


def _call_quietly(task_: Any, *args: Any) -> None:
    """Run a customer task in this process; a failure is logged, never raised into the
    request that already committed (the change stays pending for the cron pass)."""
    try:
        task_.call(*args)
    except Exception:
        customer_logger.exception(
            "Sending customer %s to Polar failed; left for `polar_customers push`", args[0]
        )


def on_billable_saved(
    sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any
) -> None:
    """``post_save`` of every billable model (connected by ``connect_customer_sync``); a
    new row has no Polar customer yet, so nothing to compare."""
    if raw or created or not _customer_tasks_run(push_polar_customer):
        return
    for pk in customer_sync.to_push(instance, kwargs.get("update_fields")):
        _run_customer_task(push_polar_customer, pk)


def on_billable_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``post_delete`` of every billable model: the customer pks are read now, while the
    row's link still finds them; the task needs nothing else. With CUSTOMER_SYNC "off"
    a deletion still runs as a task."""
    if polar_settings.CUSTOMER_ON_DELETE == "keep":
        return
    if polar_settings.CUSTOMER_SYNC != "inline" and runs_inline(
        delete_polar_customer.get_backend()
    ):
        return
    anonymize = customer_sync.anonymizes()
    for pk in customer_sync.to_delete(instance):
        _run_customer_task(delete_polar_customer, pk, anonymize)


def connect_customer_sync() -> None:
    """Connect the receivers to every billable model (AppConfig.ready)."""
    for model in billable_models():
        assert issubclass(model, models.Model)  # billable_models() lists installed models
        label = model._meta.label_lower
        post_save.connect(
            on_billable_saved, sender=model, dispatch_uid=f"django_polar.customer_sync:{label}"
        )
        post_delete.connect(
            on_billable_deleted, sender=model, dispatch_uid=f"django_polar.customer_delete:{label}"
        )
