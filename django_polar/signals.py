"""Signals for webhook events, sent after the mirror is updated and committed.

    from django_polar import signals

    @receiver(signals.for_event("subscription.canceled"))
    def on_cancel(sender, event, obj, billable, **kwargs):
        ...  # sender is the event type; obj the mirrored Subscription; billable your model

Receivers run through ``send_robust``: a failing receiver is logged and never undoes the
mirror or fails the webhook.
"""

from __future__ import annotations

import threading

from django.dispatch import Signal

#: Every event type Polar 2026-10 sends (the spec's 41 plus subscription.migrated).
EVENT_TYPES: tuple[str, ...] = (
    "benefit.created",
    "benefit.updated",
    "benefit_grant.created",
    "benefit_grant.cycled",
    "benefit_grant.revoked",
    "benefit_grant.updated",
    "checkout.created",
    "checkout.expired",
    "checkout.updated",
    "customer.created",
    "customer.deleted",
    "customer.state_changed",
    "customer.updated",
    "customer_seat.assigned",
    "customer_seat.claimed",
    "customer_seat.revoked",
    "discount.created",
    "discount.deleted",
    "discount.updated",
    "member.created",
    "member.deleted",
    "member.updated",
    "order.created",
    "order.paid",
    "order.refunded",
    "order.updated",
    "organization.updated",
    "product.created",
    "product.updated",
    "refund.created",
    "refund.updated",
    "subscription.active",
    "subscription.canceled",
    "subscription.created",
    "subscription.cycled",
    "subscription.migrated",
    "subscription.past_due",
    "subscription.paused",
    "subscription.resumed",
    "subscription.revoked",
    "subscription.uncanceled",
    "subscription.updated",
)

#: Sent once per newly stored event, before it is applied (duplicates are not sent).
#: sender=WebhookEvent, kwargs: event.
webhook_received = Signal()

#: Sent after every successful application (processed or ignored), once committed.
#: sender=the event type (str), kwargs: event, obj (mirrored row or None), billable (or None).
webhook_event_processed = Signal()

#: Sent when applying an event raised; the event is stored as failed with the traceback.
#: sender=the event type (str), kwargs: event, error.
webhook_event_failed = Signal()

_by_type: dict[str, Signal] = {event_type: Signal() for event_type in EVENT_TYPES}
_lock = threading.Lock()


def for_event(event_type: str) -> Signal:
    """The signal sent for one event type, same kwargs as ``webhook_event_processed``.

    Types Polar adds later get a signal too, so receivers never need an app upgrade.
    """
    signal = _by_type.get(event_type)
    if signal is None:
        with _lock:
            signal = _by_type.setdefault(event_type, Signal())
    return signal


#: Sent once per committed transaction that recorded usage (``USAGE_SENDING = "task"``):
#: the task layer enqueues one flush for it. sender=UsageEvent, no kwargs.
usage_flush_requested = Signal()
