"""Seeding at scale: tens of thousands of customers, subscriptions and orders in seconds.

Going through checkouts (create, pay, deliver webhooks) costs milliseconds per object;
sync tests and benchmarks need 10k-50k objects. ``bulk_seed`` calls the same creation
functions the API handlers call, so the objects are exactly what the API serves (and
what polar-sdk deserializes), only without the checkout round trip and without
webhooks: nobody listens to a bulk load, and queuing 50k events would cost more than
the load itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Emulator

# Seeded when the organization has no product yet: one recurring, one one-time product.
CATALOG: dict[str, Any] = {
    "benefits": [{"key": "bulk-support", "type": "custom", "description": "Priority support"}],
    "products": [
        {"key": "bulk-pro", "name": "Pro", "recurring_interval": "month",
         "prices": [{"amount": 1200, "currency": "usd"}], "benefits": ["bulk-support"]},
        {"key": "bulk-ebook", "name": "E-book", "prices": [{"amount": 900, "currency": "usd"}]},
    ],
}  # fmt: skip


def _product(emu: Emulator, key: str | None, *, recurring: bool) -> dict[str, Any] | None:
    """The product seeded under ``key``, else the first active one of the wanted kind."""
    if key is not None:
        product = emu.store.products.get(emu.ids.get(key, ""))
        if product is None:
            raise ValueError(f"no seeded product with the key {key!r}")
        if bool(product["recurring_interval"]) != recurring:
            kind = "a recurring" if recurring else "a one-time"
            raise ValueError(f"product {key!r} is not {kind} product")
        return product
    return next(
        (
            p
            for p in emu.store.products.values()
            if bool(p["recurring_interval"]) == recurring and not p["is_archived"]
        ),
        None,
    )


def bulk_seed(
    emu: Emulator,
    *,
    customers: int = 0,
    subscriptions: int = 0,
    orders: int = 0,
    product_key: str | None = None,
    order_product_key: str | None = None,
    external_ids: bool = False,
) -> dict[str, list[str]]:
    """Create the objects; returns their ids: ``{"customers", "subscriptions", "orders"}``.

    Customers get unique emails ``customer{n}@bulk.example`` (and with ``external_ids``
    the external id ``bulk:{n}``), numbered on from earlier calls. Subscriptions (active,
    for ``product_key``: a recurring product, default the first one) and paid one-time
    orders (for ``order_product_key``, default the first one-time product, else the
    recurring one) go round-robin to the new customers, or to the existing ones when
    ``customers`` is 0. A small catalog is seeded first (quietly too) when there is no
    product.
    Call it inside ``emu.action()`` (``Emulator.bulk_seed`` does).
    """
    if min(customers, subscriptions, orders) < 0:
        raise ValueError("counts cannot be negative")
    if not emu.store.products:
        with emu.webhooks.quiet():
            emu.seed(CATALOG)
    # Everything that can be refused is checked before anything is created.
    sub_product = order_product = None
    if subscriptions:
        sub_product = _product(emu, product_key, recurring=True)
        if sub_product is None:
            raise ValueError("there is no recurring product to subscribe to")
    if orders:
        order_product = _product(emu, order_product_key, recurring=False)
        if order_product is None and order_product_key is None:
            order_product = _product(emu, None, recurring=True)
        if order_product is None:
            raise ValueError("there is no product to order")
    if (subscriptions or orders) and not customers and not emu.customers.live():
        raise ValueError("seed customers before subscriptions or orders")
    ids: dict[str, list[str]] = {"customers": [], "subscriptions": [], "orders": []}
    start = emu.store.counters.get("bulk_customers", 0)
    for n in range(start, start + customers):
        customer = emu.customers.insert(
            email=f"customer{n}@bulk.example",
            name=f"Customer {n}",
            external_id=f"bulk:{n}" if external_ids else None,
            announce=False,
        )
        ids["customers"].append(customer["id"])
    emu.store.counters["bulk_customers"] = start + customers
    owners = ids["customers"] or [c["id"] for c in emu.customers.live()]
    if sub_product is not None:
        price = emu.catalog.default_price(sub_product)
        for i in range(subscriptions):
            sub = emu.subscriptions.create(
                customer_id=owners[i % len(owners)],
                product=sub_product,
                currency=price["price_currency"],
                seats=None,
                checkout_id=None,
                discount_id=None,
                metadata={},
                trial=None,
            )
            ids["subscriptions"].append(sub["id"])
    if order_product is not None:
        price = emu.catalog.default_price(order_product)
        amount = price.get("price_amount") or 0
        for i in range(orders):
            item = emu.orders.item(order_product["name"], amount, price_id=price["id"])
            order = emu.orders.create(
                customer_id=owners[i % len(owners)],
                product_id=order_product["id"],
                items=[item],
                billing_reason="purchase",
                currency=price["price_currency"],
                paid=True,
                announce=False,
            )
            ids["orders"].append(order["id"])
    return ids
