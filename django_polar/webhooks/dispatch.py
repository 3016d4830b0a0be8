"""Apply a stored webhook event to the mirror: the type -> handler table lives here.

A new event type is one line in ``HANDLERS`` (or ``UNMIRRORED``). Applying runs in its
own transaction with the event row locked, so one event is never applied twice at once;
a failure rolls the mirror back, leaves the event ``failed`` with its traceback and a
``next_attempt_at`` (exponential backoff, up to WEBHOOK_MAX_ATTEMPTS), and never loses it.

Foreign keys are deferred (PostgreSQL and SQLite check them at COMMIT), so a handler that
writes a row naming a missing parent would "succeed" and then fail the commit, after the
savepoint that was meant to contain it. ``apply`` therefore checks the constraints before
it leaves the savepoint, and a commit that fails anyway is recorded on the event in a
fresh transaction: nothing is ever left ``pending`` with no trace.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from .. import entitlements, mirror, signals
from ..conf import polar_settings
from ..errors import MalformedEvent
from ..models import Customer, WebhookEvent, WebhookEventStatus
from ..retry import backoff

logger = logging.getLogger("django_polar.webhooks")

Handler = Callable[..., models.Model]

HANDLERS: dict[str, Handler] = {
    "customer.created": mirror.upsert_customer,
    "customer.updated": mirror.upsert_customer,
    "customer.deleted": mirror.upsert_customer,
    "customer.state_changed": mirror.apply_customer_state,
    "product.created": mirror.upsert_product,
    "product.updated": mirror.upsert_product,
    "benefit.created": mirror.upsert_benefit,
    "benefit.updated": mirror.upsert_benefit,
    "benefit_grant.created": mirror.upsert_benefit_grant,
    "benefit_grant.updated": mirror.upsert_benefit_grant,
    "benefit_grant.cycled": mirror.upsert_benefit_grant,
    "benefit_grant.revoked": mirror.upsert_benefit_grant,
    "order.created": mirror.upsert_order,
    "order.updated": mirror.upsert_order,
    "order.paid": mirror.upsert_order,
    "order.refunded": mirror.upsert_order,
    "refund.created": mirror.upsert_refund,
    "refund.updated": mirror.upsert_refund,
    "customer_seat.assigned": mirror.upsert_seat,
    "customer_seat.claimed": mirror.upsert_seat,
    "customer_seat.revoked": mirror.upsert_seat,
    "member.created": mirror.upsert_member,
    "member.updated": mirror.upsert_member,
    "member.deleted": mirror.delete_member,
    **{
        f"subscription.{name}": mirror.upsert_subscription
        for name in (
            "created updated active canceled uncanceled revoked past_due paused resumed "
            "cycled migrated"
        ).split()
    },
}

#: Stored, marked ``ignored`` (nothing in the mirror depends on them) and still signalled.
UNMIRRORED: frozenset[str] = frozenset(
    {
        "checkout.created",
        "checkout.updated",
        "checkout.expired",
        "discount.created",
        "discount.updated",
        "discount.deleted",
        "organization.updated",
    }
)


#: A pending event older than this was stranded (see ``next_due``).
STALE_PENDING_AFTER = timedelta(minutes=5)


def apply(event: WebhookEvent) -> tuple[models.Model | None, str]:
    """Apply one event to the mirror; returns (row or None, resulting status)."""
    payload = event.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise MalformedEvent("Malformed event: the body is not a JSON object with a 'data' object")
    handler = HANDLERS.get(event.type)
    if handler is None:
        return None, WebhookEventStatus.IGNORED
    return handler(payload["data"], event_time=event.timestamp), WebhookEventStatus.PROCESSED


def mirror_tables() -> list[str]:
    """The tables handlers write (every django_polar table but the inbox's own)."""
    return [
        model._meta.db_table
        for model in apps.get_app_config("django_polar").get_models(include_auto_created=True)
        if model is not WebhookEvent
    ]


def check_deferred_constraints() -> None:
    """Raise IntegrityError now for a deferred constraint the writes so far violate.

    Django's ``check_constraints``: ``SET CONSTRAINTS ALL IMMEDIATE`` on PostgreSQL (checks
    only the pending rows), ``PRAGMA foreign_key_check`` of the mirror tables on SQLite.
    """
    connection.check_constraints(table_names=mirror_tables())


def mark_failed(event: WebhookEvent, exc: BaseException) -> None:
    """Set the failure fields: status, traceback, and the next retry (none once out of
    attempts, or for a malformed event that no retry can fix)."""
    event.status = WebhookEventStatus.FAILED
    event.last_error = "".join(traceback.format_exception(exc))
    retry = event.attempts < polar_settings.WEBHOOK_MAX_ATTEMPTS and not isinstance(
        exc, MalformedEvent
    )
    event.next_attempt_at = timezone.now() + backoff(event.attempts) if retry else None


EVENT_STATE_FIELDS = ["status", "attempts", "last_error", "next_attempt_at", "processed_at"]


def _apply_locked(
    event_pk: int, force: bool
) -> tuple[WebhookEvent, Any, BaseException | None] | WebhookEvent:
    """One attempt under the row lock; the bare event when there was nothing to do."""
    error: BaseException | None = None
    obj = None
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if event.status in (WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED) and not force:
            return event
        event.attempts += 1
        try:
            with transaction.atomic():
                obj, status = apply(event)
                # Benefit access may have flipped: its hooks run once this commits.
                entitlements.record_transitions([entitlements.customer_id_of(obj)])
                check_deferred_constraints()
        except Exception as exc:
            error = exc
            mark_failed(event, exc)
        else:
            event.status = status
            event.last_error = ""
            event.next_attempt_at = None
            event.processed_at = timezone.now()
        event.save(update_fields=EVENT_STATE_FIELDS)
    return event, obj, error


def record_commit_failure(event_pk: int, exc: BaseException) -> WebhookEvent:
    """The attempt's transaction failed to commit (and rolled back): record the attempt
    and the error in a fresh transaction, so the event is retried with backoff and
    WEBHOOK_MAX_ATTEMPTS still stops it."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        event.attempts += 1
        mark_failed(event, exc)
        event.save(update_fields=EVENT_STATE_FIELDS)
    return event


def process_event(event_pk: int, *, force: bool = False) -> WebhookEvent:
    """Apply a stored event (idempotent: a processed or ignored one is left alone unless
    ``force``), then send its signals once committed. Never raises for a handler failure,
    nor for a failure to commit the attempt (both are recorded on the event)."""
    try:
        attempt = _apply_locked(event_pk, force)
    except DatabaseError as exc:
        if connection.in_atomic_block:
            raise  # the caller's transaction is broken; it cannot record anything
        logger.exception("Committing webhook event %s failed", event_pk)
        attempt = record_commit_failure(event_pk, exc), None, exc
    if isinstance(attempt, WebhookEvent):
        return attempt  # already processed or ignored
    event, obj, error = attempt
    if error is not None:
        logger.warning(
            "Applying webhook event %s (%s) failed, attempt %s: %r",
            event.webhook_id,
            event.type,
            event.attempts,
            error,
        )
        send_failed_signal(event, error)
    else:
        send_processed_signals(event, obj)
    return event


def replay(event: WebhookEvent) -> WebhookEvent:
    """Apply an event again, whatever its status (admin action, ``polar_webhooks replay``)."""
    return process_event(event.pk, force=True)


def billable_for(obj: Any) -> Any:
    """The billable behind a mirrored row (through its customer), or None."""
    if isinstance(obj, Customer):
        return mirror.billable_of(obj)
    customer_id = getattr(obj, "customer_id", None)
    if customer_id is None:
        return None
    return mirror.billable_of(Customer.objects.filter(pk=customer_id).first())


def send_processed_signals(event: WebhookEvent, obj: Any) -> None:
    """Send ``webhook_event_processed`` and the event's own signal once the transaction
    commits: a caller's transaction (admin replay under ATOMIC_REQUESTS, a test) would
    otherwise show receivers rows that are not committed yet, or that roll back."""

    def send() -> None:
        typed = signals.for_event(event.type)
        if not (typed.has_listeners() or signals.webhook_event_processed.has_listeners()):
            return
        billable = billable_for(obj)
        for signal in (signals.webhook_event_processed, typed):
            send_signal(signal, event, obj=obj, billable=billable)

    transaction.on_commit(send, robust=True)


def send_failed_signal(event: WebhookEvent, error: BaseException) -> None:
    """Send ``webhook_event_failed`` once the failure (status, traceback) is committed."""
    transaction.on_commit(
        lambda: send_signal(signals.webhook_event_failed, event, error=error), robust=True
    )


def send_signal(signal: Any, event: WebhookEvent, sender: Any = None, **kwargs: Any) -> None:
    """Send ``signal`` about ``event`` (sender: the event type unless given); a receiver
    that raises is logged and never stops the others nor the inbox."""
    sender = event.type if sender is None else sender
    for receiver, result in signal.send_robust(sender=sender, event=event, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "Receiver %r of webhook event %s (%s) raised",
                receiver,
                event.webhook_id,
                event.type,
                exc_info=result,
            )


def next_due(
    now: datetime | None = None, *, stale_after: timedelta = STALE_PENDING_AFTER
) -> models.QuerySet[WebhookEvent]:
    """Events ``retry-failed`` applies: failed ones whose retry time has come, and pending
    ones received more than ``stale_after`` ago.

    In inline mode an event is applied after the answer is sent; a process that dies in
    between leaves it ``pending`` with nobody to apply it. Applying is idempotent and
    locks the row, so taking one that a slow worker is still about to apply is harmless.
    """
    now = now or timezone.now()
    due = models.Q(status=WebhookEventStatus.FAILED, next_attempt_at__lte=now)
    stale = models.Q(status=WebhookEventStatus.PENDING, received_at__lte=now - stale_after)
    return WebhookEvent.objects.filter(due | stale)
