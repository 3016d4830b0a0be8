"""Polar's money and access rules, driven through the emulator's HTTP API: discounts, dunning,
plan changes, refunds, pause, trials, checkout webhooks and organization settings. Every
webhook is verified and loaded by polar-sdk (the ``hook`` recorder); every response body
that matters is loaded by its SDK type."""

from __future__ import annotations

from datetime import timedelta

import pytest

from polar_emulator import Emulator
from polar_emulator.store import iso, parse_iso

from .oracle import load

SEED = {
    "benefits": [
        {"key": "app", "type": "feature_flag", "description": "App access"},
        {"key": "support", "type": "feature_flag", "description": "Priority support"},
    ],
    "products": [
        {
            "key": "basic",
            "name": "Basic",
            "recurring_interval": "month",
            "prices": [{"amount": 1000}],
            "benefits": ["app"],
        },
        {
            "key": "plus",
            "name": "Plus",
            "recurring_interval": "month",
            "prices": [{"amount": 2000}],
            "benefits": ["app", "support"],
        },
        {
            "key": "annual",
            "name": "Annual",
            "recurring_interval": "year",
            "prices": [{"amount": 10000}],
            "benefits": ["app"],
        },
        {
            "key": "trial",
            "name": "Trial plan",
            "recurring_interval": "month",
            "trial_interval": "day",
            "trial_interval_count": 7,
            "prices": [{"amount": 1500}],
            "benefits": ["app"],
        },
        {
            "key": "long-trial",
            "name": "Long trial plan",
            "recurring_interval": "month",
            "trial_interval": "day",
            "trial_interval_count": 30,
            "prices": [{"amount": 1500}],
            "benefits": ["app"],
        },
        {"key": "ebook", "name": "E-book", "prices": [{"amount": 500}], "benefits": ["app"]},
        {
            "key": "seats",
            "name": "Team",
            "recurring_interval": "month",
            "prices": [{"type": "seat_based", "tiers": [{"min_seats": 1, "price_per_seat": 500}]}],
        },
    ],
}


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed=SEED, frozen_clock=True, rng_seed=3)


def checkout(api, emu, key, external_id="u-1", **extra):
    r = api.post(
        "/v1/checkouts/",
        json={"products": [emu.ids[key]], "external_customer_id": external_id, **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()


def subscribe(api, emu, key, external_id="u-1", **extra):
    c = checkout(api, emu, key, external_id, **extra)
    emu.pay_checkout(c["id"], email=f"{external_id}@example.com", name="Buyer")
    return emu.store.checkouts[c["id"]]["subscription_id"]


def get_sub(api, sub_id):
    return load(api.get(f"/v1/subscriptions/{sub_id}").json(), "Subscription")


def orders_of(api, sub_id):
    body = api.get("/v1/orders/", params={"subscription_id": sub_id, "sorting": "created_at"})
    return load(body.json(), "ListResourceOrder").items


def discount(api, **spec):
    body = {"name": "Deal", "type": "percentage", "basis_points": 5000, "duration": "once", **spec}
    r = api.post("/v1/discounts/", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def state(api, external_id="u-1"):
    return load(
        api.get(f"/v1/customers/external/{external_id}/state").json(), "CustomerStateIndividual"
    )


def detail(response):
    return response.json()["detail"][0]


# 1. discount validity ------------------------------------------------------------------
def test_discount_for_other_products_is_refused_at_checkout_and_on_subscriptions(emu, api):
    only_ebook = discount(api, code="EBOOK50", products=[emu.ids["ebook"]])
    r = api.post(
        "/v1/checkouts/",
        json={"products": [emu.ids["basic"]], "discount_id": only_ebook["id"]},
    )
    assert r.status_code == 422
    assert detail(r)["loc"] == ["body", "discount_id"]
    assert detail(r)["msg"] == "Discount does not exist."

    c = checkout(api, emu, "basic")
    r = api.patch(f"/v1/checkouts/client/{c['client_secret']}", json={"discount_code": "ebook50"})
    assert r.status_code == 422 and detail(r)["loc"] == ["body", "discount_code"]

    sub_id = subscribe(api, emu, "basic")
    r = api.patch(f"/v1/subscriptions/{sub_id}", json={"discount_id": only_ebook["id"]})
    assert r.status_code == 422
    assert detail(r)["msg"] == (
        "Discount does not exist, is not applicable to this product or is not redeemable."
    )
    assert get_sub(api, sub_id).discount is None

    ebook = checkout(api, emu, "ebook", "u-2", discount_id=only_ebook["id"])
    assert ebook["discount_amount"] == 250


def test_discount_window_and_redemption_limit(emu, api):
    now = emu.clock.now()
    later = discount(api, code="SOON", starts_at=iso(now + timedelta(days=3)))
    ending = discount(api, code="BRIEF", ends_at=iso(now + timedelta(days=1)))
    single = discount(api, code="ONCE", max_redemptions=1)

    def create(discount_id):
        return api.post(
            "/v1/checkouts/", json={"products": [emu.ids["ebook"]], "discount_id": discount_id}
        )

    assert create(later["id"]).status_code == 422  # not started
    assert create(ending["id"]).status_code == 201
    emu.clock.advance(days=4)
    assert create(later["id"]).status_code == 201  # started now
    assert create(ending["id"]).status_code == 422  # ended

    # Two buyers apply the one-redemption code; the second to pay is refused.
    first, second = (checkout(api, emu, "ebook", f"u-{n}") for n in (1, 2))
    for c in (first, second):
        r = api.patch(f"/v1/checkouts/client/{c['client_secret']}", json={"discount_code": "once"})
        assert r.status_code == 200 and r.json()["discount_amount"] == 250
    emu.pay_checkout(first["id"], email="u-1@example.com")
    r = api.post(
        f"/v1/checkouts/client/{second['client_secret']}/confirm",
        json={"customer_email": "u-2@example.com"},
    )
    assert r.status_code == 422
    assert detail(r)["msg"] == "Discount is no longer redeemable."
    assert api.get(f"/v1/checkouts/{second['id']}").json()["status"] == "open"
    assert create(single["id"]).status_code == 422  # exhausted


def test_reapplying_the_applied_discount_is_refused(emu, api):
    deal = discount(api, duration="forever")
    sub_id = subscribe(api, emu, "basic")
    assert api.patch(f"/v1/subscriptions/{sub_id}", json={"discount_id": deal["id"]}).is_success
    r = api.patch(f"/v1/subscriptions/{sub_id}", json={"discount_id": deal["id"]})
    assert r.status_code == 422
    assert detail(r)["msg"] == "This discount is already applied to the subscription."
    assert api.get(f"/v1/discounts/{deal['id']}").json()["redemptions_count"] == 1


# 2. discount durations ------------------------------------------------------------------
def test_once_discount_added_later_applies_to_the_next_cycle_only(emu, api):
    sub_id = subscribe(api, emu, "basic")
    half = discount(api, duration="once")
    api.patch(f"/v1/subscriptions/{sub_id}", json={"discount_id": half["id"]})
    emu.clock.advance(days=31)
    emu.clock.advance(days=31)
    _, first, second = orders_of(api, sub_id)
    assert (first.discount_amount, first.total_amount) == (500, 500)
    assert (second.discount_amount, second.total_amount) == (0, 1000)
    assert get_sub(api, sub_id).discount_id is None  # expired discounts are cleared


def test_repeating_discount_counts_from_its_first_billed_cycle(emu, api):
    sub_id = subscribe(api, emu, "basic")
    for _ in range(3):
        emu.clock.advance(days=31)
    two_months = discount(api, duration="repeating", duration_in_months=2)
    api.patch(f"/v1/subscriptions/{sub_id}", json={"discount_id": two_months["id"]})
    for _ in range(3):
        emu.clock.advance(days=31)
    totals = [o.total_amount for o in orders_of(api, sub_id)]
    assert totals == [1000, 1000, 1000, 1000, 500, 500, 1000]
    assert get_sub(api, sub_id).discount_id is None


def test_discount_bought_with_a_trial_applies_to_the_first_paid_cycle(emu, api):
    half = discount(api, duration="once")
    sub_id = subscribe(api, emu, "trial", discount_id=half["id"])
    emu.clock.advance(days=8)  # the trial converts
    emu.clock.advance(days=31)
    trial, converted, renewal = orders_of(api, sub_id)
    assert trial.total_amount == 0
    assert (converted.discount_amount, converted.total_amount) == (750, 750)
    assert renewal.total_amount == 1500


# 3. dunning -----------------------------------------------------------------------------
def test_past_due_revokes_benefits_retries_by_the_clock_then_revokes(emu, hook, api):
    sub_id = subscribe(api, emu, "basic")
    assert len(state(api).granted_benefits) == 1
    emu.fail_next_renewal(sub_id)
    hook.clear()
    emu.clock.advance(days=31)
    sub = get_sub(api, sub_id)
    assert sub.status == "past_due"
    assert "benefit_grant.revoked" in hook.types()
    # customer state: only trialing and active subscriptions, no grants left
    assert state(api).active_subscriptions == [] and state(api).granted_benefits == []
    active = api.get("/v1/subscriptions/", params={"active": "true"}).json()
    assert active["items"] == []

    renewal = orders_of(api, sub_id)[-1]
    assert renewal.status == "pending"
    past_due_at = parse_iso(sub.past_due_at)
    attempts = [parse_iso(renewal.next_payment_attempt_at) - past_due_at]
    for _ in range(3):
        emu.clock.set(parse_iso(orders_of(api, sub_id)[-1].next_payment_attempt_at))
        assert get_sub(api, sub_id).status == "past_due"
        attempts.append(parse_iso(orders_of(api, sub_id)[-1].next_payment_attempt_at) - past_due_at)
    assert [a.days for a in attempts] == [2, 7, 14, 21]

    hook.clear()
    emu.clock.set(past_due_at + timedelta(days=21))  # the last retry fails too
    sub = get_sub(api, sub_id)
    assert sub.status == "canceled" and sub.ended_at
    assert hook.types()[:3] == [
        "subscription.updated",
        "subscription.canceled",
        "subscription.revoked",
    ]
    voided = orders_of(api, sub_id)[-1]
    assert voided.status == "void" and voided.next_payment_attempt_at is None


def test_a_retry_that_succeeds_restores_the_subscription_and_its_benefits(emu, hook, api):
    sub_id = subscribe(api, emu, "basic")
    emu.fail_next_renewal(sub_id, failed_retries=1)
    emu.clock.advance(days=31)
    emu.clock.advance(days=2)  # first retry declined
    assert get_sub(api, sub_id).status == "past_due"
    hook.clear()
    emu.clock.advance(days=5)  # second retry (day 7) goes through
    assert get_sub(api, sub_id).status == "active"
    assert orders_of(api, sub_id)[-1].status == "paid"
    assert hook.types()[:4] == [
        "order.updated",
        "order.paid",
        "subscription.updated",
        "subscription.active",
    ]
    assert len(state(api).granted_benefits) == 1


def test_a_revocation_grace_period_keeps_benefits_until_it_ends(emu, api):
    org = api.get("/v1/organizations/").json()["items"][0]
    settings = {**org["subscription_settings"], "benefit_revocation_grace_period": 7}
    r = api.patch(f"/v1/organizations/{org['id']}", json={"subscription_settings": settings})
    assert r.status_code == 200, r.text
    sub_id = subscribe(api, emu, "basic")
    emu.fail_next_renewal(sub_id)
    emu.clock.advance(days=31)
    assert get_sub(api, sub_id).status == "past_due"
    assert len(state(api).granted_benefits) == 1
    emu.clock.advance(days=7)
    assert state(api).granted_benefits == []


# 4./5. plan changes ----------------------------------------------------------------------
def test_interval_change_resets_the_cycle_and_invoices_now(emu, api):
    sub_id = subscribe(api, emu, "basic")
    emu.clock.advance(days=15)
    now = emu.clock.now()
    r = api.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"product_id": emu.ids["annual"], "proration_behavior": "prorate"},
    )
    assert r.status_code == 200, r.text
    sub = load(r.json(), "Subscription")
    assert parse_iso(sub.current_period_start) == now
    assert parse_iso(sub.current_period_end).year == now.year + 1
    update = orders_of(api, sub_id)[-1]
    assert update.billing_reason == "subscription_update" and update.status == "paid"
    credit, debit = (item.amount for item in update.items)
    assert debit == 10000 and -1000 < credit < 0  # the unused half month comes back
    assert update.total_amount == 10000 + credit


def test_downgrade_with_invoice_credits_the_balance(emu, api):
    sub_id = subscribe(api, emu, "plus")
    emu.clock.advance(days=15)
    r = api.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"product_id": emu.ids["basic"], "proration_behavior": "invoice"},
    )
    assert r.status_code == 200, r.text
    credit_order = orders_of(api, sub_id)[-1]
    assert credit_order.billing_reason == "subscription_update"
    assert credit_order.total_amount < 0 and credit_order.status == "paid"
    credit = -credit_order.total_amount
    customer_id = get_sub(api, sub_id).customer_id
    assert emu.orders.balance(customer_id) == credit

    emu.clock.advance(days=20)  # the renewal spends the credit
    renewal = orders_of(api, sub_id)[-1]
    assert renewal.total_amount == 1000
    assert renewal.applied_balance_amount == -credit
    assert emu.orders.balance(customer_id) == 0


def test_fewer_seats_with_invoice_credits_the_balance(emu, api):
    sub_id = subscribe(api, emu, "seats", seats=4)
    emu.clock.advance(days=10)
    r = api.patch(f"/v1/subscriptions/{sub_id}", json={"seats": 2, "proration_behavior": "invoice"})
    assert r.status_code == 200, r.text
    update = orders_of(api, sub_id)[-1]
    assert update.billing_reason == "subscription_update" and update.total_amount < 0
    assert emu.orders.balance(get_sub(api, sub_id).customer_id) == -update.total_amount


# 6. refunds ------------------------------------------------------------------------------
def test_refund_cannot_revoke_a_subscriptions_benefits(emu, hook, api):
    sub_id = subscribe(api, emu, "basic")
    order = orders_of(api, sub_id)[0]
    hook.clear()
    r = api.post(
        "/v1/refunds/",
        json={"order_id": order.id, "reason": "other", "amount": 100, "revoke_benefits": True},
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "RevokeSubscriptionBenefitsProhibited",
        "detail": "Subscription benefits can only be revoked upon cancellation",
    }
    assert get_sub(api, sub_id).status == "active" and hook.types() == []
    assert len(state(api).granted_benefits) == 1

    ebook = checkout(api, emu, "ebook")
    emu.pay_checkout(ebook["id"], email="u-1@example.com")
    ebook_order = api.get("/v1/orders/", params={"product_id": emu.ids["ebook"]}).json()["items"]
    r = api.post(
        "/v1/refunds/",
        json={
            "order_id": ebook_order[0]["id"],
            "reason": "other",
            "amount": 500,
            "revoke_benefits": True,
        },
    )
    assert r.status_code == 201, r.text
    assert [g.benefit_id for g in state(api).granted_benefits] == [emu.ids["app"]]


# 7. pause --------------------------------------------------------------------------------
def test_pause_revokes_benefits_and_resume_grants_them(emu, hook, api):
    sub_id = subscribe(api, emu, "basic")
    api.patch(f"/v1/subscriptions/{sub_id}", json={"pause_at_period_end": True})
    assert len(state(api).granted_benefits) == 1  # until the period ends
    hook.clear()
    emu.clock.advance(days=31)
    assert get_sub(api, sub_id).status == "paused"
    assert hook.types()[:3] == [
        "subscription.updated",
        "subscription.paused",
        "benefit_grant.revoked",
    ]
    assert state(api).granted_benefits == []
    api.patch(f"/v1/subscriptions/{sub_id}", json={"resume": True})
    assert len(state(api).granted_benefits) == 1


# 8. trials --------------------------------------------------------------------------------
def test_subscription_active_is_sent_at_trial_creation_not_at_conversion(emu, hook, api):
    sub_id = subscribe(api, emu, "trial")
    assert get_sub(api, sub_id).status == "trialing"
    assert hook.types().count("subscription.active") == 1
    hook.clear()
    emu.clock.advance(days=8)
    assert get_sub(api, sub_id).status == "active"
    assert "subscription.active" not in hook.types()
    assert "subscription.cycled" in hook.types()


def test_changing_a_trial_to_a_product_without_trial_ends_it_and_bills(emu, api):
    sub_id = subscribe(api, emu, "trial")
    emu.clock.advance(days=2)
    now = emu.clock.now()
    r = api.patch(f"/v1/subscriptions/{sub_id}", json={"product_id": emu.ids["plus"]})
    assert r.status_code == 200, r.text
    sub = get_sub(api, sub_id)
    assert sub.status == "active"
    assert parse_iso(sub.trial_end) == now and parse_iso(sub.current_period_start) == now
    paid = orders_of(api, sub_id)[-1]
    assert (paid.billing_reason, paid.total_amount) == ("subscription_cycle", 2000)


def test_changing_a_trial_to_another_trial_product_keeps_trialing(emu, api):
    sub_id = subscribe(api, emu, "trial")
    start = parse_iso(get_sub(api, sub_id).trial_start)
    r = api.patch(f"/v1/subscriptions/{sub_id}", json={"product_id": emu.ids["long-trial"]})
    assert r.status_code == 200, r.text
    sub = get_sub(api, sub_id)
    assert sub.status == "trialing" and parse_iso(sub.trial_end) == start + timedelta(days=30)
    assert len(orders_of(api, sub_id)) == 1  # no charge during a trial


# 9. checkout success webhooks -----------------------------------------------------------
def test_checkout_success_sends_polars_webhooks_in_polars_order(emu, hook, api):
    subscribe(api, emu, "basic")
    types = [t for t in hook.types() if t.startswith(("subscription.", "order."))]
    assert types == [
        "subscription.created",
        "subscription.active",
        "subscription.updated",
        "order.created",
        "order.updated",
        "order.paid",
    ]
    hook.clear()
    c = checkout(api, emu, "ebook", "u-2")
    emu.pay_checkout(c["id"], email="u-2@example.com")
    assert [t for t in hook.types() if t.startswith("order.")] == [
        "order.created",
        "order.updated",
        "order.paid",
    ]


# 10. organization settings ---------------------------------------------------------------
def test_one_subscription_per_customer_unless_the_organization_allows_more(emu, hook, api):
    org = load(api.get("/v1/organizations/").json()["items"][0], "Organization")
    assert org.subscription_settings.allow_multiple_subscriptions is False
    subscribe(api, emu, "basic")
    second = checkout(api, emu, "plus")
    r = api.post(
        f"/v1/checkouts/client/{second['client_secret']}/confirm",
        json={"customer_email": "u-1@example.com"},
    )
    assert r.status_code == 403
    assert r.json()["detail"] == "You already have an active subscription."
    load(r.json(), "AlreadyActiveSubscriptionError")
    # by email too, and one-time products are not concerned
    by_email = api.post("/v1/checkouts/", json={"products": [emu.ids["plus"]]}).json()
    r = api.patch(
        f"/v1/checkouts/client/{by_email['client_secret']}",
        json={"customer_email": "U-1@example.com"},
    )
    assert r.status_code == 403
    emu.pay_checkout(checkout(api, emu, "ebook")["id"], email="u-1@example.com")

    settings = {
        **api.get(f"/v1/organizations/{org.id}").json()["subscription_settings"],
        "allow_multiple_subscriptions": True,
    }
    hook.clear()
    r = api.patch(f"/v1/organizations/{org.id}", json={"subscription_settings": settings})
    assert r.status_code == 200, r.text
    assert load(r.json(), "Organization").subscription_settings.allow_multiple_subscriptions
    assert hook.types() == ["organization.updated"]
    emu.pay_checkout(second["id"], email="u-1@example.com")
    assert api.get(f"/v1/checkouts/{second['id']}").json()["status"] == "succeeded"


def test_reset_proration_only_where_the_organization_has_it(emu, api):
    sub_id = subscribe(api, emu, "basic")
    org = api.get("/v1/organizations/").json()["items"][0]
    msg = "The 'reset' proration behavior is not enabled for this organization."
    r = api.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"product_id": emu.ids["plus"], "proration_behavior": "reset"},
    )
    assert r.status_code == 422 and detail(r)["msg"] == msg
    assert get_sub(api, sub_id).product_id == emu.ids["basic"]
    settings = {**org["subscription_settings"], "proration_behavior": "reset"}
    r = api.patch(f"/v1/organizations/{org['id']}", json={"subscription_settings": settings})
    assert r.status_code == 422
    assert detail(r)["loc"] == ["body", "subscription_settings", "proration_behavior"]
    incomplete = {"allow_multiple_subscriptions": True}
    r = api.patch(f"/v1/organizations/{org['id']}", json={"subscription_settings": incomplete})
    assert r.status_code == 422 and detail(r)["type"] == "missing"

    emu.configure_organization(feature_settings={"reset_proration_behavior_enabled": True})
    r = api.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"product_id": emu.ids["plus"], "proration_behavior": "reset"},
    )
    assert r.status_code == 200, r.text
    reset = orders_of(api, sub_id)[-1]
    assert (reset.billing_reason, reset.total_amount) == ("subscription_update", 2000)


def test_the_organizations_default_proration_applies_when_none_is_given(emu, api):
    emu.configure_organization(subscription_settings={"proration_behavior": "invoice"})
    sub_id = subscribe(api, emu, "basic")
    emu.clock.advance(days=10)
    api.patch(f"/v1/subscriptions/{sub_id}", json={"product_id": emu.ids["plus"]})
    update = orders_of(api, sub_id)[-1]
    assert update.billing_reason == "subscription_update" and update.total_amount > 0


def test_checkouts_drop_discounts_that_no_longer_apply(emu, api):
    ending = discount(api, ends_at=iso(emu.clock.now() + timedelta(days=1)))
    link = api.post(
        "/v1/checkout-links/",
        json={
            "payment_processor": "stripe",
            "products": [emu.ids["ebook"]],
            "discount_id": ending["id"],
        },
    ).json()
    assert emu.open_checkout_link(link["client_secret"])["discount_amount"] == 250
    emu.clock.advance(days=2)  # the link still opens, without the ended discount
    opened = emu.open_checkout_link(link["client_secret"])
    assert (opened["discount_id"], opened["discount_amount"]) == (None, 0)

    only_ebook = discount(api, products=[emu.ids["ebook"]])
    c = api.post(
        "/v1/checkouts/",
        json={"products": [emu.ids["ebook"], emu.ids["basic"]], "discount_id": only_ebook["id"]},
    ).json()
    assert c["discount_amount"] == 250
    r = api.patch(
        f"/v1/checkouts/client/{c['client_secret']}", json={"product_id": emu.ids["basic"]}
    )
    assert (r.json()["discount"], r.json()["total_amount"]) == (None, 1000)

    discount(api, code="IGNORED")
    closed = checkout(api, emu, "ebook", allow_discount_codes=False)
    r = api.patch(
        f"/v1/checkouts/client/{closed['client_secret']}", json={"discount_code": "IGNORED"}
    )
    assert r.status_code == 200 and r.json()["discount_amount"] == 0
