"""The customer-state snapshot: a customer's active subscriptions and granted benefits.

It builds on both ``customers`` (the customer itself) and ``billing`` (the subscription's
columns), so it has a module of its own above them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from ..models import Benefit, BenefitGrant, Customer, Product, Subscription, SubscriptionStatus
from ..models.convert import as_uuid, text, to_datetime
from .billing import subscription_values
from .customers import upsert_customer
from .guard import ensure_stub, save_snapshot, version_of

logger = logging.getLogger("django_polar.mirror")


def apply_customer_state(data: dict[str, Any], *, event_time: datetime | None = None) -> Customer:
    """Mirror a customer state (``customer.state_changed``, ``GET .../state``).

    The listed subscriptions and grants are upserted from the snapshot (each under its own
    version guard). The state lists every active subscription and granted benefit, so a
    local one it omits, last written before the state was taken, has ended: it is marked
    canceled / revoked without moving its ``modified_at``, so the object's own event (which
    carries the real status and is newer than what we stored) still applies when it comes.

    The state's version is the moment it was true: the webhook's timestamp, or the time it
    was fetched from the API (take it just before the request and pass it as
    ``event_time``). Without ``event_time`` the state counts as fetched now. The
    customer's ``modified_at`` is never its version: it moves when the customer is edited,
    not when a subscription ends, and would leave ended subscriptions active.
    """
    state_time = event_time or timezone.now()
    with transaction.atomic():
        customer = upsert_customer(data, event_time=state_time)
        newer = models.Q(state_at__isnull=True) | models.Q(state_at__lte=state_time)
        if "active_meters" in data:  # the meters' balances are as of state_time
            Customer.objects.filter(newer, pk=customer.pk).update(state_at=state_time)
        listed_subs = set()
        for item in data.get("active_subscriptions") or []:
            listed_subs.add(_apply_state_subscription(customer, item, state_time))
        listed_grants = set()
        for item in data.get("granted_benefits") or []:
            listed_grants.add(_apply_state_grant(customer, item, state_time))
        _end_unlisted(customer, listed_subs, listed_grants, state_time)
    return customer


def _state_status(item: dict[str, Any], state_time: datetime) -> str:
    """The billing status behind a customer-state subscription's access status, at the
    moment the state was true (Polar's clock, not ours: a trial that had ended when the
    state was taken is over, whatever this server's clock says)."""
    status = item.get("status")
    if status in SubscriptionStatus.values:  # older API versions send the billing status
        return str(status)
    if status == "disabled":
        return SubscriptionStatus.PAST_DUE
    trial_end = to_datetime(item.get("trial_end"))
    if trial_end is not None and trial_end > state_time:
        return SubscriptionStatus.TRIALING
    return SubscriptionStatus.ACTIVE


def _apply_state_subscription(
    customer: Customer, item: dict[str, Any], event_time: datetime
) -> Any:
    product_id = as_uuid(item.get("product_id"))
    if product_id is not None:
        ensure_stub(Product, product_id, name="")
    values = subscription_values(item, customer_id=customer.pk, product_id=product_id)
    # 2026-10 states report access ("granted"/"disabled"), not the billing status.
    values["status"] = _state_status(item, event_time)
    pk = as_uuid(item.get("id"))
    save_snapshot(Subscription, pk, version_of(item, event_time), values, item, partial=True)
    return pk


def _apply_state_grant(
    customer: Customer, item: dict[str, Any], event_time: datetime | None
) -> Any:
    benefit_id = as_uuid(item.get("benefit_id"))
    ensure_stub(Benefit, benefit_id, type=text(item.get("benefit_type"), 32))
    values = {
        "customer_id": customer.pk,
        "benefit_id": benefit_id,
        "is_granted": True,
        "is_revoked": False,
        "granted_at": to_datetime(item.get("granted_at")),
        "revoked_at": None,
        "properties": item.get("properties") or {},
        "created_at": to_datetime(item.get("created_at")),
    }
    pk = as_uuid(item.get("id"))
    save_snapshot(BenefitGrant, pk, version_of(item, event_time), values, item, partial=True)
    return pk


def _end_unlisted(
    customer: Customer, listed_subs: set[Any], listed_grants: set[Any], state_time: datetime
) -> None:
    older = models.Q(modified_at__isnull=True) | models.Q(modified_at__lt=state_time)
    ended = (
        Subscription.objects.select_for_update()
        .filter(older, customer=customer)
        .filter(status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING])
        .exclude(pk__in=listed_subs)
    )
    for sub in ended:
        logger.info("Customer state no longer lists subscription %s: marking it canceled", sub.pk)
        Subscription.objects.filter(pk=sub.pk).update(status=SubscriptionStatus.CANCELED)
    BenefitGrant.objects.filter(
        older, customer=customer, is_granted=True, is_revoked=False
    ).exclude(pk__in=listed_grants).update(is_granted=False, is_revoked=True, revoked_at=state_time)
