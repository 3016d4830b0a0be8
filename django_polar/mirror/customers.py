"""Customers, their link to a billable, and the customer-state snapshot."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from ..models import (
    Benefit,
    BenefitGrant,
    Customer,
    Product,
    Subscription,
    SubscriptionStatus,
)
from .guard import Outcome, as_uuid, ensure_stub, save_snapshot, text, to_datetime, version_of

logger = logging.getLogger("django_polar.mirror")

#: Keys of the customer-state object that are not the customer itself.
STATE_KEYS = ("active_subscriptions", "granted_benefits")


def resolve_billable(external_id: str | None) -> models.Model | None:
    """The billable a customer's ``external_id`` names, or None.

    The one place webhooks turn an external id into a project object; the parsing lives
    with the Billable mixin (``billable_from_external_id``) so it cannot drift from the
    derivation.
    """
    if not external_id:
        return None
    from ..billable import billable_from_external_id

    return billable_from_external_id(external_id)


def billable_of(customer: Customer | None) -> models.Model | None:
    """The billable behind a customer: its external id first, then the stored link."""
    if customer is None:
        return None
    billable = resolve_billable(customer.external_id)
    if billable is not None:
        return billable
    if customer.billable_type_id and customer.billable_id:
        return customer.billable
    return None


def customer_values(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "external_id": data.get("external_id") or None,
        "email": text(data.get("email"), 320),
        "name": text(data.get("name"), 256),
        "type": text(data.get("type"), 32) or "individual",
        "created_at": to_datetime(data.get("created_at")),
        "deleted_at": to_datetime(data.get("deleted_at")),
    }


def release_external_ids(claims: Mapping[str, Any]) -> None:
    """Free external ids held by deleted customers: ``claims`` maps each external id to
    the customer about to hold it (Polar lets a new customer reuse a deleted one's).

    One read and at most one write, however many claims (``polar_sync`` passes a page).
    """
    claims = {external_id: pk for external_id, pk in claims.items() if external_id}
    if not claims:
        return
    holders = Customer.objects.filter(external_id__in=claims, deleted_at__isnull=False)
    freed = [pk for pk, ext in holders.values_list("pk", "external_id") if pk != claims[ext]]
    if freed:
        Customer.objects.filter(pk__in=freed).update(external_id=None)


def resolve_billables(external_ids: Iterable[str | None]) -> dict[str, models.Model]:
    """``{external_id: billable}`` for many customers at once (one query per billable model)."""
    from ..billable import billables_from_external_ids

    return billables_from_external_ids(external_ids)


def link_billable(customer: Customer) -> None:
    """Record which billable a customer belongs to (see ``link_billables``)."""
    link_billables([customer])


def link_billables(customers: Sequence[Customer]) -> None:
    """Record which billable each customer belongs to, found through its external id.

    A deleted customer releases its billable so a new customer can take it; a billable
    already linked to another live customer is left alone (logged), never stolen. The
    webhook path passes one customer, ``polar_sync`` a page: the same rules, a few queries.
    """
    released = [c for c in customers if c.deleted_at is not None and c.billable_id is not None]
    if released:
        Customer.objects.filter(pk__in=[c.pk for c in released]).update(
            billable_type=None, billable_id=None
        )
        for customer in released:
            customer.billable_type, customer.billable_id = None, None
    candidates = [
        c for c in customers if c.deleted_at is None and c.billable_id is None and c.external_id
    ]
    billables = resolve_billables(c.external_id for c in candidates) if candidates else {}
    claims: dict[Any, tuple[ContentType, str]] = {}
    for customer in candidates:
        billable = billables.get(customer.external_id)
        if billable is not None:
            ct = ContentType.objects.get_for_model(billable, for_concrete_model=False)
            claims[customer.pk] = (ct, str(billable.pk))
    if not claims:
        return
    wanted = models.Q()
    for ct, billable_id in claims.values():
        wanted |= models.Q(billable_type=ct, billable_id=billable_id)
    holders = Customer.objects.filter(wanted).exclude(pk__in=list(claims))
    live, freed = set(), []
    for pk, type_id, billable_id, gone in holders.values_list(
        "pk", "billable_type_id", "billable_id", "deleted_at"
    ):
        if gone is None:
            live.add((type_id, billable_id))
        else:
            freed.append(pk)
    if freed:
        Customer.objects.filter(pk__in=freed).update(billable_type=None, billable_id=None)
    linked = []
    for customer in candidates:
        if customer.pk not in claims:
            continue
        ct, billable_id = claims[customer.pk]
        if (ct.pk, billable_id) in live:
            logger.warning(
                "Customer %s names billable %s, which is already linked to another customer",
                customer.pk,
                customer.external_id,
            )
            continue
        customer.billable_type, customer.billable_id = ct, billable_id
        linked.append(customer)
    if linked:
        Customer.objects.bulk_update(linked, ["billable_type", "billable_id"])


def upsert_customer(data: dict[str, Any], *, event_time: datetime | None = None) -> Customer:
    """Mirror a Polar customer (any of its shapes: Customer, the copy nested in a
    subscription or order, or the customer part of a customer state).

    Every shape carries the same fields, so the JSON is merged rather than replaced.
    """
    return _upsert_customer(data, event_time)[0]


def _upsert_customer(data: dict[str, Any], event_time: datetime | None) -> tuple[Customer, Outcome]:
    pk = as_uuid(data.get("id"))
    if pk is None:
        raise ValueError("Polar customer without an id")
    raw = {k: v for k, v in data.items() if k not in STATE_KEYS}
    values = customer_values(data)
    with transaction.atomic():
        release_external_ids({values["external_id"]: pk})
        customer, outcome = save_snapshot(
            Customer, pk, version_of(data, event_time), values, raw, partial=True
        )
        if outcome is not Outcome.SKIPPED_OLDER or customer.billable_id is None:
            link_billable(customer)
    return customer, outcome


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
        return status
    if status == "disabled":
        return SubscriptionStatus.PAST_DUE
    trial_end = to_datetime(item.get("trial_end"))
    if trial_end is not None and trial_end > state_time:
        return SubscriptionStatus.TRIALING
    return SubscriptionStatus.ACTIVE


def _apply_state_subscription(
    customer: Customer, item: dict[str, Any], event_time: datetime
) -> Any:
    from .billing import subscription_values

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
    customer: Customer, listed_subs: set, listed_grants: set, state_time: datetime
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
