"""Customers and their link to a billable (the customer state is applied in ``state``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from ..identity import billable_from_external_id, billables_from_external_ids
from ..models import (
    Customer,
)
from ..models.convert import as_uuid, text, to_datetime
from .guard import Outcome, save_snapshot, version_of

logger = logging.getLogger("django_polar.mirror")

#: Keys of the customer-state object that are not the customer itself.
STATE_KEYS = ("active_subscriptions", "granted_benefits")


def billable_of(customer: Customer | None) -> models.Model | None:
    """The billable behind a customer: its external id first, then the stored link."""
    if customer is None:
        return None
    billable = billable_from_external_id(customer.external_id)
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
    freed = [
        pk for pk, ext in holders.values_list("pk", "external_id") if pk != claims.get(ext or "")
    ]
    if freed:
        Customer.objects.filter(pk__in=freed).update(external_id=None)


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
    billables = billables_from_external_ids(c.external_id for c in candidates) if candidates else {}
    claims: dict[Any, tuple[ContentType, str]] = {}
    for customer in candidates:
        billable = billables.get(customer.external_id or "")
        if billable is not None:
            ct = ContentType.objects.get_for_model(billable, for_concrete_model=False)
            claims[customer.pk] = (ct, str(billable.pk))
    if not claims:
        return
    wanted = models.Q()
    for ct, claimed_id in claims.values():
        wanted |= models.Q(billable_type=ct, billable_id=claimed_id)
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


def mark_customer_deleted(pk: Any, *, when: datetime | None = None) -> bool:
    """Record that Polar deleted the customer ``pk`` (its DELETE answers 204 with no
    body; the ``customer.deleted`` webhook that follows brings the full snapshot).
    Returns whether a live row was marked."""
    key = as_uuid(pk)
    if key is None:
        return False
    marked = Customer.objects.filter(pk=key, deleted_at__isnull=True).update(
        deleted_at=when or timezone.now()
    )
    return bool(marked)
