"""emu.bulk_seed: thousands of API-valid objects in seconds, without webhooks."""

from __future__ import annotations

import pytest

from polar_emulator import Emulator

from .oracle import load


def test_bulk_objects_load_into_the_sdk_types_and_send_no_webhooks(emu, api, hook):
    hook.clear()
    sent_before = len(emu.sent_events)
    ids = emu.bulk_seed(
        customers=300,
        subscriptions=200,
        orders=250,
        product_key="pro-monthly",
        order_product_key="lifetime",
        external_ids=True,
    )
    assert [len(ids[k]) for k in ("customers", "subscriptions", "orders")] == [300, 200, 250]
    assert len(emu.sent_events) == sent_before and hook.events == []
    for customer_id in ids["customers"][::60]:
        customer = load(api.get(f"/v1/customers/{customer_id}").json(), "CustomerIndividual")
        assert customer.external_id and customer.external_id.startswith("bulk:")
    for sub_id in ids["subscriptions"][::40]:
        sub = load(api.get(f"/v1/subscriptions/{sub_id}").json(), "Subscription")
        assert sub.status == "active" and str(sub.product_id) == emu.product_id("pro-monthly")
    for order_id in ids["orders"][::50]:
        order = load(api.get(f"/v1/orders/{order_id}").json(), "Order")
        assert order.paid and str(order.product_id) == emu.product_id("lifetime")
    page = api.get("/v1/orders/", params={"limit": 100, "page": 3}).json()
    for item in page["items"]:
        load(item, "Order")
    state = api.get(f"/v1/customers/{ids['customers'][0]}/state").json()
    assert len(load(state, "CustomerState").active_subscriptions) == 1


def test_repeated_calls_keep_emails_and_external_ids_unique():
    emu = Emulator(frozen_clock=True, rng_seed=1)
    first = emu.bulk_seed(customers=3, external_ids=True)
    second = emu.bulk_seed(customers=3, external_ids=True, subscriptions=4)
    customers = emu.store.customers
    emails = [customers[c]["email"] for c in first["customers"] + second["customers"]]
    assert len(set(emails)) == 6
    assert [customers[c]["external_id"] for c in second["customers"]] == [
        "bulk:3",
        "bulk:4",
        "bulk:5",
    ]
    # Without a catalog, one is seeded; subscriptions go round-robin to the new customers.
    owners = [emu.store.subscriptions[s]["customer_id"] for s in second["subscriptions"]]
    assert owners == [*second["customers"], second["customers"][0]]
    assert emu.sent_events == []  # the catalog too was seeded quietly


def test_bad_requests_are_refused_before_creating_anything(emu):
    customers_before = len(emu.store.customers)
    with pytest.raises(ValueError, match="not a recurring"):
        emu.bulk_seed(customers=2, subscriptions=1, product_key="lifetime")
    with pytest.raises(ValueError, match="no seeded product"):
        emu.bulk_seed(orders=1, order_product_key="nope")
    empty = Emulator(frozen_clock=True)
    with pytest.raises(ValueError, match="seed customers"):
        empty.bulk_seed(subscriptions=1)
    assert len(emu.store.customers) == customers_before
