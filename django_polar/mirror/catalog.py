"""Products, their prices and benefits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from ..models import Benefit, Meter, Price, Product
from ..models.convert import Fields, as_int, as_uuid, pick, text, to_datetime
from .guard import Outcome, ensure_stub, save_snapshot, version_of

BENEFIT_FIELDS: Fields = {
    "type": ("type", lambda v: text(v, 32)),
    "description": ("description", lambda v: text(v, 255)),
    "is_deleted": ("is_deleted", bool),
    "created_at": ("created_at", to_datetime),
}

PRODUCT_FIELDS: Fields = {
    "name": ("name", lambda v: text(v, 255)),
    "description": ("description", text),
    "is_recurring": ("is_recurring", bool),
    "recurring_interval": ("recurring_interval", lambda v: text(v, 16) or None),
    "is_archived": ("is_archived", bool),
    "organization_id": ("organization_id", as_uuid),
    "created_at": ("created_at", to_datetime),
}


def price_amount(data: dict[str, Any]) -> int | None:
    """The price's amount in minor units where one exists (fixed, or a custom preset)."""
    for key in ("price_amount", "preset_amount", "minimum_amount"):
        if data.get(key) is not None:
            return as_int(data.get(key), None)
    return None


def price_values(data: dict[str, Any], product_id: Any = None) -> dict[str, Any]:
    return {
        "product_id": as_uuid(data.get("product_id")) or product_id,
        "amount_type": text(data.get("amount_type"), 32),
        "amount": price_amount(data),
        "currency": text(data.get("price_currency"), 3),
        "recurring_interval": text(data.get("recurring_interval"), 16) or None,
        "is_archived": bool(data.get("is_archived")),
        "created_at": to_datetime(data.get("created_at")),
    }


def upsert_benefit(data: dict[str, Any], *, event_time: datetime | None = None) -> Benefit:
    """Mirror a Polar benefit."""
    pk = _pk(data, "benefit")
    return save_snapshot(
        Benefit, pk, version_of(data, event_time), pick(data, BENEFIT_FIELDS), data
    )[0]


def upsert_price(
    data: dict[str, Any], *, product_id: Any = None, event_time: datetime | None = None
) -> Price:
    """Mirror one price. Its own ``product_id`` wins over the product it is listed under;
    a product the mirror does not have yet gets a placeholder (never for sale, see
    ``ProductQuerySet.active``) that its first snapshot fills in."""
    pk = _pk(data, "price")
    values = price_values(data, product_id)
    if values["product_id"] is None:
        raise ValueError(f"Polar price {pk} has no product_id")
    if values["product_id"] != product_id:
        ensure_stub(Product, values["product_id"], name="")
    return save_snapshot(Price, pk, version_of(data, event_time), values, data)[0]


def upsert_product(data: dict[str, Any], *, event_time: datetime | None = None) -> Product:
    """Mirror a product with the prices and benefits its payload lists.

    Abridged copies (the product inside an order has no ``prices``/``benefits``) are merged
    and leave prices and benefits alone. A full snapshot archives prices it no longer lists
    and sets the product's benefits to exactly those listed.
    """
    pk = _pk(data, "product")
    full = "prices" in data and "benefits" in data

    def children(product: Product, outcome: Outcome) -> None:
        _apply_children(product, data, event_time)

    with transaction.atomic():
        product, outcome = save_snapshot(
            Product,
            pk,
            version_of(data, event_time),
            pick(data, PRODUCT_FIELDS),
            data,
            partial=not full,
            after_write=children,
        )
        if outcome is Outcome.UNCHANGED:
            # Same product version, but prices or benefits may carry their own newer ones.
            _apply_children(product, data, event_time)
    return product


def _apply_children(product: Product, data: dict[str, Any], event_time: datetime | None) -> None:
    if isinstance(data.get("prices"), list):
        listed = []
        for price in data["prices"]:
            if isinstance(price, dict) and price.get("id"):
                listed.append(upsert_price(price, product_id=product.pk, event_time=event_time).pk)
        if "prices" in data and "benefits" in data:
            product.prices.exclude(pk__in=listed).update(is_archived=True)
    if isinstance(data.get("benefits"), list):
        benefits = [
            upsert_benefit(b, event_time=event_time)
            for b in data["benefits"]
            if isinstance(b, dict) and b.get("id")
        ]
        product.benefits.set(benefits)


def _pk(data: dict[str, Any], kind: str) -> Any:
    pk = as_uuid(data.get("id"))
    if pk is None:
        raise ValueError(f"Polar {kind} without a valid id")
    return pk


METER_FIELDS: Fields = {
    "name": ("name", lambda v: text(v, 255)),
    "created_at": ("created_at", to_datetime),
}


def upsert_meter(data: dict[str, Any], *, event_time: datetime | None = None) -> Meter:
    """Mirror a Polar meter (its filter and aggregation stay in ``data``)."""
    pk = _pk(data, "meter")
    values = {**pick(data, METER_FIELDS), "is_archived": bool(data.get("archived_at"))}
    return save_snapshot(Meter, pk, version_of(data, event_time), values, data)[0]
