"""Keep the Polar customer true to its billable without hand calls.

A billable saved with another email or name than its mirrored customer has is pushed to
Polar after the commit (``POLAR["CUSTOMER_SYNC"]``); a deleted billable's customer is kept,
deleted or deleted and anonymized in Polar (``POLAR["CUSTOMER_ON_DELETE"]``). Both go
through ``django_polar.tasks``, so no request waits on Polar.

The outbox is the data itself: what is still to send is the difference between the
billables and the mirror (the mirror takes Polar's answer, so a pushed change stops
differing), and a customer whose billable row is gone. ``pending()`` finds both and
``manage.py polar_customers push`` (cron) sends them, so a failed or never-queued task
(the immediate backend queues nothing) is made good on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from . import mirror
from .client import get_client
from .conf import polar_settings
from .errors import PolarNotFoundError, PolarValidationError
from .identity import BillableIdentity
from .models import Customer

logger = logging.getLogger("django_polar.customers")

#: Saves that cannot change what Polar shows (``django.contrib.auth`` updates
#: ``last_login`` on every login): skipped without a query.
IGNORED_UPDATE_FIELDS = frozenset({"last_login"})


def changes(billable: Any, customer: Customer) -> dict[str, str]:
    """The fields of ``customer`` (the mirror) that differ from the billable's hooks.

    An empty email or name on the billable side is not pushed: Polar keeps the one it has
    (a team may have no email of its own)."""
    wanted = {"email": billable.get_polar_email() or "", "name": billable.get_polar_name() or ""}
    have = {"email": customer.email or "", "name": customer.name or ""}
    return {k: v for k, v in wanted.items() if v and v != have[k]}


def customers_of(billable: Any) -> models.QuerySet[Customer]:
    """The live mirrored customers of ``billable`` (by external id or stored link)."""
    return Customer.objects.live().filter(billable._polar_customer_q())


# -- what a save or a delete starts (the receivers are in django_polar.tasks) -------------


def to_push(billable: Any, update_fields: Any = None) -> list[str]:
    """The customers to push after ``billable`` was saved: those whose mirrored email or
    name differ from its hooks (none when CUSTOMER_SYNC is "off")."""
    if polar_settings.CUSTOMER_SYNC == "off":
        return []
    if update_fields is not None and set(update_fields) <= IGNORED_UPDATE_FIELDS:
        return []
    return [str(c.pk) for c in customers_of(billable) if changes(billable, c)]


def to_delete(billable: Any) -> list[str]:
    """The customers to delete in Polar now that ``billable`` is being deleted
    (CUSTOMER_ON_DELETE "delete" or "anonymize"; none for "keep"). Only their pks are
    kept: the work goes on once the billable row is gone."""
    if polar_settings.CUSTOMER_ON_DELETE == "keep":
        return []
    return [str(pk) for pk in customers_of(billable).values_list("pk", flat=True)]


def anonymizes() -> bool:
    return bool(polar_settings.CUSTOMER_ON_DELETE == "anonymize")


# -- the work itself -----------------------------------------------------------------------


def push(customer_pk: str) -> str:
    """Send the billable's email and name to its Polar customer when they differ from the
    mirror, and store Polar's answer. Returns what happened: "updated", "unchanged",
    "gone" (no live customer or no billable) or "refused" (Polar's 422, e.g. the email
    belongs to another customer: logged, not retried)."""
    customer = Customer.objects.live().filter(pk=customer_pk).first()
    billable = mirror.billable_of(customer)
    if customer is None or billable is None:
        return "gone"
    payload = changes(billable, customer)
    if not payload:
        return "unchanged"
    try:
        data = get_client().update_customer(str(customer.pk), payload)
    except PolarValidationError as exc:
        logger.warning("Polar refused the new details of customer %s: %s", customer.pk, exc)
        return "refused"
    mirror.upsert_customer(data)
    return "updated"


def delete(customer_pk: str, anonymize: bool) -> str:
    """Delete the customer in Polar (``anonymize``: and scrub its personal data), then
    mark the mirror row deleted. Returns "deleted" or "gone" (already deleted)."""
    try:
        get_client().delete_customer(customer_pk, anonymize=True if anonymize else None)
        outcome = "deleted"
    except PolarNotFoundError:
        outcome = "gone"
    mirror.mark_customer_deleted(customer_pk)
    return outcome


# -- the cron pass -------------------------------------------------------------------------


@dataclass
class PushReport:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


def pending() -> Iterator[tuple[str, str]]:
    """``("push", pk)`` for every linked live customer whose billable's email or name
    differ, ``("delete", pk)`` for every one whose billable row is gone (only when
    CUSTOMER_ON_DELETE deletes). One query per billable model and 500 customers."""
    deleting = polar_settings.CUSTOMER_ON_DELETE != "keep"
    syncing = polar_settings.CUSTOMER_SYNC != "off"
    linked = Customer.objects.live().filter(billable_id__isnull=False).order_by("pk")
    for ct_id in linked.values_list("billable_type", flat=True).distinct():
        model = ContentType.objects.get_for_id(ct_id).model_class()
        if model is None or not issubclass(model, BillableIdentity):
            continue
        rows = linked.filter(billable_type_id=ct_id)
        for start in range(0, rows.count(), 500):
            chunk = list(rows[start : start + 500])
            billables = model._default_manager.in_bulk(
                [model._meta.pk.to_python(c.billable_id) for c in chunk]
            )
            for customer in chunk:
                billable = billables.get(model._meta.pk.to_python(customer.billable_id))
                if billable is None:
                    if deleting:
                        yield "delete", str(customer.pk)
                elif syncing and changes(billable, customer):
                    yield "push", str(customer.pk)


def push_pending() -> PushReport:
    """Send everything ``pending()`` finds, one customer at a time (one failure never
    stops the rest; it stays pending for the next run)."""
    report = PushReport()
    anonymize = anonymizes()
    for action, pk in list(pending()):
        try:
            outcome = push(pk) if action == "push" else delete(pk, anonymize)
        except Exception:
            logger.exception("Sending customer %s to Polar failed; left for the next run", pk)
            outcome = "failed"
        report.add(outcome)
    return report
