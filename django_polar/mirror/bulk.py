"""Many objects of one kind at once (``polar_sync``), under the same version guard.

One locked read of the existing rows, one ``bulk_create`` and one ``bulk_update`` per
kind (plus the same for nested customers, products, prices and benefits), instead of a
few queries per object.

Inserts never use ``ignore_conflicts``: on SQLite that is ``INSERT OR IGNORE``, which also
drops rows that break NOT NULL while the counts say "created". Only the rows found
missing are inserted; if the insert fails (another worker created one meanwhile, or the
database refuses one), each is retried alone, and a refused one is logged and counted
in ``failed``, never lost quietly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from ..models import (
    Benefit,
    BenefitGrant,
    Customer,
    Member,
    Order,
    Price,
    Product,
    Refund,
    Seat,
    Subscription,
)
from ..models.base import PolarObject
from ..models.convert import as_uuid, pick
from . import billing, catalog, customers, seats
from .guard import Outcome, ensure_stub, is_older, save_snapshot, version_of

logger = logging.getLogger("django_polar.mirror")

KINDS: dict[str, type[PolarObject]] = {
    "customer": Customer,
    "benefit": Benefit,
    "product": Product,
    "price": Price,
    "subscription": Subscription,
    "order": Order,
    "benefit_grant": BenefitGrant,
    "refund": Refund,
    "member": Member,
    "seat": Seat,
}

#: Kinds whose abridged shapes are merged into the stored JSON.
MERGED_KINDS = {"customer"}


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_older: int = 0
    #: Objects the database refused (e.g. a required field missing); logged, not stored.
    failed: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.skipped_older + self.failed


_nested_id = billing.nested_id


def _values(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """The row's columns: the very functions the single upserts use, one per kind."""
    if kind == "customer":
        return customers.customer_values(item)
    if kind == "benefit":
        return pick(item, catalog.BENEFIT_FIELDS)
    if kind == "product":
        return pick(item, catalog.PRODUCT_FIELDS)
    if kind == "price":
        return catalog.price_values(item)
    if kind == "subscription":
        return billing.subscription_values(
            item, customer_id=_nested_id(item, "customer"), product_id=_nested_id(item, "product")
        )
    if kind == "order":
        return billing.order_values(item)
    if kind == "benefit_grant":
        return billing.grant_values(item)
    if kind == "member":
        return seats.member_values(item)
    if kind == "seat":
        return pick(item, seats.SEAT_FIELDS)
    return pick(item, billing.REFUND_FIELDS)


def _nested(items: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [i[key] for i in items if isinstance(i.get(key), dict) and i[key].get("id")]


def _stubs(model: type[PolarObject], ids: Iterable[Any], **defaults: Any) -> None:
    """Placeholder rows (no version) for ids named but not present, so FKs hold.

    Only the missing ids are inserted (one read, usually no write at all); when another
    worker inserts one meanwhile, each is created alone with ``get_or_create``.
    """
    ids = {i for i in ids if i is not None}
    if not ids:
        return
    manager = model._default_manager
    missing = ids - set(manager.filter(pk__in=ids).values_list("pk", flat=True))
    if not missing:
        return
    try:
        with transaction.atomic():
            manager.bulk_create([model(id=i, **defaults) for i in missing])
    except IntegrityError:
        for pk in missing:
            ensure_stub(model, pk, **defaults)


def _insert_missing(
    model: type[PolarObject], rows: list[tuple[PolarObject, dict[str, Any]]], merge: bool
) -> list[Outcome | None]:
    """Insert rows not found by the locked read; one outcome per row (None: refused).

    One plain ``bulk_create`` first. If it fails, each row is inserted alone: a row
    another worker created in the meantime goes through the version guard instead, and
    a row the database refuses is logged and reported as None.
    """
    manager = model._default_manager
    try:
        with transaction.atomic():
            manager.bulk_create([obj for obj, _ in rows], batch_size=500)
        return [Outcome.CREATED] * len(rows)
    except (IntegrityError, DataError):
        logger.info(
            "Bulk insert of %d %s rows failed; inserting one by one", len(rows), model.__name__
        )
    outcomes: list[Outcome | None] = []
    for obj, values in rows:
        try:
            with transaction.atomic():
                obj.save(force_insert=True)
            outcomes.append(Outcome.CREATED)
            continue
        except (IntegrityError, DataError) as exc:
            error = exc
        if manager.filter(pk=obj.pk).exists():  # created by another worker meanwhile
            _, outcome = save_snapshot(
                model, obj.pk, obj.modified_at, values, obj.data, partial=merge
            )
            outcomes.append(outcome)
        else:
            logger.warning("%s %s not stored: %s", model.__name__, obj.pk, error)
            outcomes.append(None)
    return outcomes


def _dependencies(kind: str, items: list[dict[str, Any]], event_time: datetime | None) -> None:
    if kind in ("subscription", "order", "benefit_grant"):
        upsert_many("customer", _nested(items, "customer"), event_time=event_time)
        _stubs(Customer, (_nested_id(i, "customer") for i in items))
    if kind in ("subscription", "order"):
        nested = _nested(items, "product")
        full = [p for p in nested if "prices" in p and "benefits" in p]
        upsert_many("product", full, event_time=event_time)
        abridged = [p for p in nested if p not in full]
        upsert_many("product", abridged, event_time=event_time, partial=True)
        _stubs(Product, (_nested_id(i, "product") for i in items), name="")
    if kind == "subscription":
        prices = [p for i in items for p in (i.get("prices") or []) if isinstance(p, dict)]
        _stubs(Product, (as_uuid(p.get("product_id")) for p in prices), name="")
        upsert_many("price", prices, event_time=event_time)
    if kind == "order":
        subs = [
            {"customer_id": str(_nested_id(i, "customer")), **i["subscription"]}
            for i in items
            if isinstance(i.get("subscription"), dict) and i["subscription"].get("id")
        ]
        upsert_many("subscription", subs, event_time=event_time, partial=True)
    if kind == "benefit_grant":
        upsert_many("benefit", _nested(items, "benefit"), event_time=event_time)
        _stubs(Benefit, (_nested_id(i, "benefit") for i in items))
    if kind == "member":
        _stubs(Customer, (as_uuid(i.get("customer_id")) for i in items))
    if kind == "seat":
        upsert_many("member", _nested(items, "member"), event_time=event_time)


def _newest_per_id(
    items: Iterable[dict[str, Any]], event_time: datetime | None
) -> dict[UUID, dict[str, Any]]:
    """The newest snapshot of each object, by its valid id (items without one dropped)."""
    newest: dict[UUID, dict[str, Any]] = {}
    for item in items:
        pk = as_uuid(item.get("id")) if isinstance(item, dict) else None
        if pk is None:
            continue
        kept = newest.get(pk)
        if kept is None or not is_older(version_of(item, event_time), version_of(kept, event_time)):
            newest[pk] = item
    return newest


def upsert_many(
    kind: str,
    items: Iterable[dict[str, Any]],
    *,
    event_time: datetime | None = None,
    partial: bool = False,
) -> UpsertCounts:
    """Mirror many Polar objects of one ``kind`` (a key of ``KINDS``) in a few queries.

    Same guard as the single upserts: older snapshots are counted and left alone.
    Items without a valid id are ignored. Returns created/updated/unchanged/skipped_older,
    and ``failed`` for objects the database refused (logged; the others are stored).
    """
    model = KINDS[kind]
    newest = _newest_per_id(items, event_time)
    counts = UpsertCounts()
    if not newest:
        return counts
    merge = partial or kind in MERGED_KINDS
    now = timezone.now()
    with transaction.atomic():
        _dependencies(kind, list(newest.values()), event_time)
        existing = {
            o.pk: o for o in model._default_manager.select_for_update().filter(pk__in=list(newest))
        }
        rows = [(pk, version_of(i, event_time), _values(kind, i), i) for pk, i in newest.items()]
        if kind == "customer":
            _claim_external_ids(rows)
        to_create, to_update, written = [], [], []
        update_fields: set[str] = set()
        for pk, version, values, item in rows:
            if kind == "customer":
                item = {k: v for k, v in item.items() if k not in customers.STATE_KEYS}
            obj = existing.get(pk)
            if obj is None:
                to_create.append((model(id=pk, data=item, modified_at=version, **values), values))
                continue
            if is_older(version, obj.modified_at):
                counts.add(Outcome.SKIPPED_OLDER)
                continue
            data = {**(obj.data or {}), **item} if merge else item
            changed = {k: v for k, v in values.items() if getattr(obj, k) != v}
            if not changed and data == obj.data and (version is None or version == obj.modified_at):
                counts.add(Outcome.UNCHANGED)
                written.append((pk, item, Outcome.UNCHANGED))
                continue
            for name, value in changed.items():
                setattr(obj, name, value)
            obj.data, obj.updated_at = data, now
            if version is not None:
                obj.modified_at = version
            update_fields.update(changed, {"data", "modified_at", "updated_at"})
            to_update.append(obj)
            written.append((pk, item, Outcome.UPDATED))
            counts.add(Outcome.UPDATED)
        if to_update:  # first: an update may free a unique value an insert takes
            model._default_manager.bulk_update(to_update, sorted(update_fields), batch_size=500)
        if to_create:
            outcomes = _insert_missing(model, to_create, merge)
            for (obj, _), outcome in zip(to_create, outcomes, strict=True):
                if outcome is None:
                    counts.failed += 1
                    continue
                counts.add(outcome)
                if outcome is not Outcome.SKIPPED_OLDER:
                    written.append((obj.pk, obj.data, outcome))
        _AFTER.get(kind, lambda w, e, p: None)(written, event_time, partial)
    return counts


def _claim_external_ids(rows: list[tuple[Any, Any, dict[str, Any], dict[str, Any]]]) -> None:
    """Let a page's customers take external ids held by deleted customers, as
    ``upsert_customer`` does one by one (``customers.release_external_ids``).

    A live customer wins over a deleted one listed on the same page: the deleted one's
    column is cleared (its JSON keeps the id), whatever order the page lists them in.
    """
    claims: dict[str, Any] = {}
    for pk, _, values, _ in rows:
        if values["external_id"] and values["deleted_at"] is None:
            claims[values["external_id"]] = pk
    for pk, _, values, _ in rows:
        external_id = values["external_id"]
        if external_id and values["deleted_at"] is not None:
            if claims.setdefault(external_id, pk) != pk:
                values["external_id"] = None
    customers.release_external_ids(claims)


#: (pk, the item as stored, its outcome) for every row a page wrote or found unchanged.
Written = list[tuple[Any, dict[str, Any], Outcome]]


def _after_customers(written: Written, event_time: datetime | None, partial: bool) -> None:
    """Link (or release) billables for every customer of the page, as webhooks do."""
    rows = Customer.objects.filter(pk__in=[pk for pk, _, _ in written]).only(
        "pk", "external_id", "deleted_at", "billable_type", "billable_id"
    )
    customers.link_billables(list(rows))


def _after_products(written: Written, event_time: datetime | None, partial: bool) -> None:
    full = [(pk, item, o) for pk, item, o in written if "prices" in item and "benefits" in item]
    if partial or not full:
        return
    prices = [
        {"product_id": str(pk), **p}
        for pk, item, _ in full
        for p in item["prices"]
        if isinstance(p, dict)
    ]
    upsert_many("price", prices, event_time=event_time)
    listed = [pk for p in prices if (pk := as_uuid(p.get("id"))) is not None]
    Price.objects.filter(product_id__in=[pk for pk, _, _ in full]).exclude(pk__in=listed).update(
        is_archived=True
    )
    benefits = [b for _, item, _ in full for b in item["benefits"] if isinstance(b, dict)]
    upsert_many("benefit", benefits, event_time=event_time)
    _set_benefit_links([(pk, item) for pk, item, o in full if o is not Outcome.UNCHANGED])


def _set_benefit_links(products: list[tuple[Any, dict[str, Any]]]) -> None:
    """Make each product's benefit links exactly those its snapshot lists: delete the
    links it dropped, insert the ones it added, leave the others (like ``benefits.set``).

    Only products whose snapshot changed are passed: an unchanged one's links already match.
    """
    if not products:
        return
    wanted = {
        (pk, as_uuid(b.get("id")))
        for pk, item in products
        for b in item["benefits"]
        if isinstance(b, dict) and as_uuid(b.get("id"))
    }
    stored = set(Benefit.objects.filter(pk__in={b for _, b in wanted}).values_list("pk", flat=True))
    wanted = {(p, b) for p, b in wanted if b in stored}  # a refused benefit cannot be linked
    through = Product.benefits.through
    existing = {
        (p, b): link
        for link, p, b in through.objects.filter(
            product_id__in=[pk for pk, _ in products]
        ).values_list("pk", "product_id", "benefit_id")
    }
    dropped = [link for pair, link in existing.items() if pair not in wanted]
    if dropped:
        through.objects.filter(pk__in=dropped).delete()
    added = [through(product_id=p, benefit_id=b) for p, b in wanted if (p, b) not in existing]
    if added:
        # The only possible conflict is the same link written by a webhook meanwhile.
        through.objects.bulk_create(added, ignore_conflicts=True)


def _after_orders(written: Written, event_time: datetime | None, partial: bool) -> None:
    refunded = set(
        Refund.objects.filter(order_id__in=[pk for pk, _, _ in written]).values_list(
            "order_id", flat=True
        )
    )
    for order in Order.objects.filter(pk__in=refunded):
        billing.apply_refund_floor(order)


def _after_refunds(written: Written, event_time: datetime | None, partial: bool) -> None:
    order_ids = Refund.objects.filter(pk__in=[pk for pk, _, _ in written]).values_list(
        "order_id", flat=True
    )
    for order in Order.objects.filter(pk__in=list(order_ids)):
        billing.apply_refund_floor(order)


_AFTER: dict[str, Callable[[Written, datetime | None, bool], None]] = {
    "customer": _after_customers,
    "product": _after_products,
    "order": _after_orders,
    "refund": _after_refunds,
}
