"""Every webhook type the emulated flows can produce, each loaded by the SDK."""

from __future__ import annotations

from django_polar.testing.emulator.core import NEVER_EMITTED

from .oracle import ALL_EVENT_TYPES


def test_sdk_knows_42_event_types():
    assert len(ALL_EVENT_TYPES) == 42
    assert NEVER_EMITTED <= ALL_EVENT_TYPES


def test_flows_cover_every_emittable_event_type(emu, hook, api):
    ids = emu.ids
    # catalog changes (product.*, benefit.*, discount.*)
    benefit = api.post(
        "/v1/benefits/",
        json={
            "type": "custom",
            "description": "Priority support",
            "properties": {"note": "Email us"},
        },
    ).json()
    product = api.post(
        "/v1/products/",
        json={
            "name": "Starter",
            "recurring_interval": "month",
            "prices": [{"amount_type": "fixed", "price_amount": 500}],
        },
    ).json()
    api.post(f"/v1/products/{product['id']}/benefits", json={"benefits": [benefit["id"]]})
    discount = api.post(
        "/v1/discounts/",
        json={"type": "percentage", "basis_points": 1000, "name": "Ten", "duration": "once"},
    ).json()
    api.patch(f"/v1/discounts/{discount['id']}", json={"name": "Ten percent"})
    api.delete(f"/v1/discounts/{discount['id']}")

    # customers
    customer = api.post(
        "/v1/customers/", json={"email": "c@example.com", "external_id": "c-1"}
    ).json()
    api.patch(f"/v1/customers/{customer['id']}", json={"name": "C"})

    # an abandoned checkout expires
    api.post("/v1/checkouts/", json={"products": [ids["lifetime"]]})
    emu.clock.advance(hours=2)

    # a subscription: purchase, past due, recovery, plan change, pause/resume, cancel, uncancel, revoke
    checkout = api.post(
        "/v1/checkouts/", json={"products": [ids["pro-yearly"]], "external_customer_id": "c-1"}
    ).json()
    emu.pay_checkout(checkout["id"])
    sub_id = emu.store.checkouts[checkout["id"]]["subscription_id"]
    emu.fail_next_renewal(sub_id)
    emu.clock.advance(days=366)
    emu.recover_subscription(sub_id)
    api.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"product_id": product["id"], "proration_behavior": "reset"},
    )
    api.patch(f"/v1/benefits/{benefit['id']}", json={"description": "Priority support+"})
    emu.clock.advance(days=32)
    api.patch(f"/v1/subscriptions/{sub_id}", json={"pause_at_period_end": True})
    emu.clock.advance(days=32)
    api.patch(f"/v1/subscriptions/{sub_id}", json={"resume": True})
    api.patch(f"/v1/subscriptions/{sub_id}", json={"cancel_at_period_end": True})
    api.patch(f"/v1/subscriptions/{sub_id}", json={"cancel_at_period_end": False})
    api.delete(f"/v1/subscriptions/{sub_id}")

    # a refund, then the customer is deleted
    order = api.get("/v1/orders/", params={"subscription_id": sub_id, "limit": 1}).json()["items"][
        0
    ]
    api.post("/v1/refunds/", json={"order_id": order["id"], "reason": "other", "amount": 100})
    api.delete(f"/v1/customers/{customer['id']}")

    emitted = set(hook.types())
    assert emitted == ALL_EVENT_TYPES - NEVER_EMITTED, sorted(
        (ALL_EVENT_TYPES - NEVER_EMITTED) ^ emitted
    )
    assert emu.event_types()[-len(hook.events) :] == hook.types()  # nothing lost or reordered
