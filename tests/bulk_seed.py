"""Fill an emulator with thousands of customers, subscriptions and orders, fast.

Going through checkouts (create, pay, deliver webhooks) costs milliseconds per object;
sync tests and the benchmark need 10k-50k objects. This uses the emulator's own creation
functions (the ones its API handlers call), so the objects are exactly what the API
serves, just without the checkout round trip. Used by tests/test_sync*.py and
benchmarks/sync.py.
"""

from __future__ import annotations

from typing import Any

from django_polar.testing import Emulator

CATALOG: dict[str, Any] = {
    "organization": {"name": "Bulk Co", "slug": "bulk-co"},
    "benefits": [{"key": "support", "type": "custom", "description": "Priority support"}],
    "products": [
        {"key": "pro", "name": "Pro", "recurring_interval": "month",
         "prices": [{"amount": 1200, "currency": "usd"}], "benefits": ["support"]},
        {"key": "ebook", "name": "E-book", "prices": [{"amount": 900, "currency": "usd"}]},
    ],
}  # fmt: skip


def seed_bulk(
    emu: Emulator,
    *,
    customers: int = 0,
    subscriptions: int = 0,
    orders: int = 0,
    external_ids: bool = False,
) -> dict[str, list[str]]:
    """Create the objects (catalog first if the emulator has none); returns their ids.

    Subscriptions and orders cycle over the customers (so ``customers`` must be > 0 when
    either is). ``external_ids`` gives customer i the external id ``bulk:i``.
    """
    if not emu.store.products:
        emu.seed(CATALOG)
    recurring = next(p for p in emu.store.products.values() if p["recurring_interval"])
    one_time = next(
        (p for p in emu.store.products.values() if not p["recurring_interval"]), recurring
    )
    ids: dict[str, list[str]] = {"customers": [], "subscriptions": [], "orders": []}
    with emu.action():
        for i in range(customers):
            customer = emu.customers.insert(
                email=f"customer{i}@bulk.example",
                name=f"Customer {i}",
                external_id=f"bulk:{i}" if external_ids else None,
            )
            ids["customers"].append(customer["id"])
        owners = ids["customers"] or list(emu.store.customers)
        if (subscriptions or orders) and not owners:
            raise ValueError("seed customers before subscriptions or orders")
        price = emu.catalog.default_price(recurring)
        for i in range(subscriptions):
            sub = emu.subscriptions.create(
                customer_id=owners[i % len(owners)], product=recurring, price=price,
                amount=price["price_amount"], seats=None, checkout_id=None, discount_id=None,
                metadata={}, trial=None,
            )  # fmt: skip
            ids["subscriptions"].append(sub["id"])
        order_price = emu.catalog.default_price(one_time)
        for i in range(orders):
            item = emu.orders.item(
                one_time["name"], order_price["price_amount"], price_id=order_price["id"]
            )
            order = emu.orders.create(
                customer_id=owners[i % len(owners)], product_id=one_time["id"], items=[item],
                billing_reason="purchase", currency=order_price["price_currency"], paid=True,
            )  # fmt: skip
            ids["orders"].append(order["id"])
        # Nobody listens in bulk runs: drop the announcements instead of holding them.
        emu.webhooks.sent_events.clear()
        emu._dirty_customers.clear()
    return ids
