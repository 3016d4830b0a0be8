"""A full purchase -> renewal -> cancel -> period end, every byte checked against polar-sdk."""

from __future__ import annotations

from .conftest import LEGACY_SECRET, Recorder
from .oracle import load


def _checkout(api, emu, key="pro-yearly", **extra):
    body = {
        "products": [emu.ids[key]],
        "external_customer_id": "user-1",
        "success_url": "https://app.test/ok?checkout={CHECKOUT_ID}",
        "metadata": {"plan": key},
        "customer_metadata": {"tier": "gold"},
        **extra,
    }
    r = api.post("/v1/checkouts/", json=body)
    assert r.status_code == 201, r.text
    return load(r.json(), "Checkout")


def test_purchase_renewal_cancel_period_end(emu, hook, api):
    legacy = Recorder(LEGACY_SECRET)
    emu.add_webhook_endpoint(legacy, secret=LEGACY_SECRET, scheme="legacy")

    checkout = _checkout(api, emu, embed_origin="https://app.test")
    assert checkout.status == "open"
    assert checkout.success_url == f"https://app.test/ok?checkout={checkout.id}"
    assert checkout.embed_origin == "https://app.test"
    assert checkout.total_amount == 12000

    public = api.get(f"/v1/checkouts/client/{checkout.client_secret}")
    load(public.json(), "CheckoutPublic")
    r = api.post(
        f"/v1/checkouts/client/{checkout.client_secret}/confirm",
        json={"customer_email": "ada@example.com", "customer_name": "Ada"},
    )
    assert r.status_code == 200, r.text
    confirmed = load(r.json(), "CheckoutPublicConfirmed")
    assert confirmed.status == "confirmed" and confirmed.customer_session_token
    assert load(api.get(f"/v1/checkouts/{checkout.id}").json(), "Checkout").status == "succeeded"

    assert hook.types() == [
        "checkout.created",
        "checkout.updated",
        "customer.created",
        "subscription.created",
        "subscription.active",
        "subscription.updated",
        "order.created",
        "order.updated",
        "order.paid",
        "checkout.updated",
        "benefit_grant.created",
        "benefit_grant.created",
        "customer.state_changed",
    ]
    assert legacy.types() == hook.types()

    subs = load(
        api.get("/v1/subscriptions/", params={"external_customer_id": "user-1"}).json(),
        "ListResourceSubscription",
    )
    assert subs.pagination.total_count == 1
    sub = subs.items[0]
    assert sub.status == "active" and sub.metadata == {"plan": "pro-yearly"}
    assert sub.customer.external_id == "user-1" and sub.customer.metadata == {"tier": "gold"}
    order = load(
        api.get("/v1/orders/", params={"subscription_id": sub.id}).json(), "ListResourceOrder"
    ).items[0]
    assert (order.billing_reason, order.status, order.total_amount) == (
        "subscription_create",
        "paid",
        12000,
    )
    assert order.metadata == {"plan": "pro-yearly"} and order.invoice_number

    state = load(api.get("/v1/customers/external/user-1/state").json(), "CustomerStateIndividual")
    assert [s.id for s in state.active_subscriptions] == [sub.id]
    assert {g.benefit_type for g in state.granted_benefits} == {"license_keys", "feature_flag"}
    keys = load(api.get("/v1/license-keys/").json(), "ListResourceLicenseKeyRead")
    assert keys.items[0].key.startswith("ACME_") and keys.items[0].status == "granted"

    # renewal one year later
    hook.clear()
    emu.clock.advance(days=366)
    assert hook.types() == [
        "subscription.updated",
        "order.created",
        "order.updated",
        "order.paid",
        "benefit_grant.cycled",
        "benefit_grant.cycled",
        "subscription.cycled",
        "customer.state_changed",
    ]
    renewal = hook.events[1]["data"]
    assert renewal["billing_reason"] == "subscription_cycle" and renewal["status"] == "pending"
    assert hook.events[3]["data"]["status"] == "paid"
    orders = load(
        api.get("/v1/orders/", params={"subscription_id": sub.id}).json(), "ListResourceOrder"
    )
    assert orders.pagination.total_count == 2

    # cancel at period end, then the period ends
    hook.clear()
    r = api.patch(
        f"/v1/subscriptions/{sub.id}",
        json={"cancel_at_period_end": True, "customer_cancellation_reason": "too_expensive"},
    )
    canceled = load(r.json(), "Subscription")
    assert canceled.status == "active" and canceled.cancel_at_period_end and canceled.ends_at
    assert hook.types() == [
        "subscription.updated",
        "subscription.canceled",
        "customer.state_changed",
    ]
    again = api.patch(f"/v1/subscriptions/{sub.id}", json={"cancel_at_period_end": True})
    assert again.status_code == 403 and again.json()["error"] == "AlreadyCanceledSubscription"

    hook.clear()
    emu.clock.advance(days=366)
    assert hook.types() == [
        "subscription.updated",
        "subscription.revoked",
        "benefit_grant.revoked",
        "benefit_grant.revoked",
        "customer.state_changed",
    ]
    ended = load(api.get(f"/v1/subscriptions/{sub.id}").json(), "Subscription")
    assert ended.status == "canceled" and ended.ended_at == canceled.ends_at
    state = load(api.get("/v1/customers/external/user-1/state").json(), "CustomerStateIndividual")
    assert state.active_subscriptions == [] and state.granted_benefits == []
    grants = load(
        api.get("/v1/benefit-grants/", params={"is_granted": "false"}).json(),
        "ListResourceBenefitGrant",
    )
    assert grants.pagination.total_count == 2
    assert legacy.types()[-5:] == hook.types()


def test_one_time_purchase_and_refunds(emu, hook, api):
    checkout = _checkout(api, emu, key="lifetime")
    emu.pay_checkout(checkout.client_secret, email="bob@example.com", name="Bob")
    assert "subscription.created" not in hook.types()
    order = load(api.get("/v1/orders/").json(), "ListResourceOrder").items[0]
    assert order.billing_reason == "purchase" and order.subscription is None

    hook.clear()
    r = api.post(
        "/v1/refunds/", json={"order_id": order.id, "reason": "customer_request", "amount": 10000}
    )
    assert r.status_code == 201, r.text
    assert load(r.json(), "Refund").status == "succeeded"
    assert hook.types() == [
        "refund.created",
        "refund.updated",
        "order.refunded",
        "order.updated",
        "customer.state_changed",
    ]
    partial = load(api.get(f"/v1/orders/{order.id}").json(), "Order")
    assert (partial.status, partial.refunded_amount, partial.refundable_amount) == (
        "partially_refunded",
        10000,
        19900,
    )

    over = api.post("/v1/refunds/", json={"order_id": order.id, "reason": "other", "amount": 19901})
    assert over.status_code == 422 and over.json()["detail"][0]["loc"] == ["body", "amount"]
    rest = api.post(
        "/v1/refunds/",
        json={"order_id": order.id, "reason": "other", "amount": 19900, "revoke_benefits": True},
    )
    assert rest.status_code == 201
    full = load(api.get(f"/v1/orders/{order.id}").json(), "Order")
    assert (full.status, full.refunded_amount) == ("refunded", 29900)
    assert "benefit_grant.revoked" in hook.types()
    after = api.post("/v1/refunds/", json={"order_id": order.id, "reason": "other", "amount": 1})
    assert after.status_code == 403 and after.json()["error"] == "RefundedAlready"

    assert api.get(f"/v1/orders/{order.id}/invoice").status_code == 404
    assert api.post(f"/v1/orders/{order.id}/invoice").status_code == 202
    assert api.get(f"/v1/orders/{order.id}/invoice").status_code == 404  # still rendering
    emu.clock.advance(seconds=1)
    invoice = load(api.get(f"/v1/orders/{order.id}/invoice").json(), "OrderInvoice")
    assert invoice.url.endswith(".pdf")
