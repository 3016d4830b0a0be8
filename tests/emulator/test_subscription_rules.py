"""Polar's rules for changing a running subscription, through the emulator's HTTP API:
trials (``trial_end``), pause at period end and resume, cancel with the customer's reason,
the billing anchor (``current_billing_period_end``) and clearing a scheduled change. Each
refusal has Polar's status and body (subscription/service.py, subscription/schemas.py,
models/subscription.py); each answer and webhook is loaded by polar-sdk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from polar_emulator import Emulator
from polar_emulator.store import iso, parse_iso

from .oracle import load
from .test_money_rules import SEED, get_sub, orders_of, subscribe


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed=SEED, frozen_clock=True, rng_seed=5)


def patch(api, sub_id, **body):
    return api.patch(f"/v1/subscriptions/{sub_id}", json=body)


def error(response):
    return response.status_code, response.json()


def item(response):
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]


# trials ---------------------------------------------------------------------------------
def test_a_trial_moves_to_any_future_date_and_the_period_end_follows(emu, hook, api):
    sub_id = subscribe(api, emu, "trial")
    later = emu.clock.now() + timedelta(days=20)
    hook.clear()
    sub = load(patch(api, sub_id, trial_end=iso(later)).json(), "Subscription")
    assert sub.status == "trialing"
    assert parse_iso(sub.trial_end) == later == parse_iso(sub.current_period_end)
    assert hook.types()[0] == "subscription.updated" and not orders_of(api, sub_id)[1:]
    sooner = emu.clock.now() + timedelta(days=2)  # shortening a trial is allowed too
    assert patch(api, sub_id, trial_end=iso(sooner)).status_code == 200
    emu.clock.advance(days=3)
    assert get_sub(api, sub_id).status == "active"  # converted at the new trial end


def test_trial_end_now_ends_the_trial_and_bills_the_first_cycle(emu, hook, api):
    sub_id = subscribe(api, emu, "trial")
    now = emu.clock.now()
    hook.clear()
    sub = load(patch(api, sub_id, trial_end="now").json(), "Subscription")
    assert sub.status == "active" and parse_iso(sub.trial_end) == now
    assert parse_iso(sub.current_period_start) == now
    cycle = [o for o in orders_of(api, sub_id) if o.billing_reason == "subscription_cycle"]
    assert len(cycle) == 1 and cycle[0].paid and cycle[0].total_amount == 1500
    assert "subscription.cycled" in hook.types()


def test_an_active_subscription_gets_a_trial_only_past_its_period_end(emu, api):
    sub_id = subscribe(api, emu, "basic")
    period_end = parse_iso(get_sub(api, sub_id).current_period_end)
    r = patch(api, sub_id, trial_end=iso(period_end - timedelta(days=1)))
    assert item(r)["msg"] == "Trial end must be after the current period end."
    assert item(r)["loc"] == ["body", "trial_end"]
    r = patch(api, sub_id, trial_end="now")
    assert item(r)["msg"] == "The subscription is not currently trialing."
    assert get_sub(api, sub_id).status == "active"  # nothing changed

    free_month = period_end + timedelta(days=30)
    sub = load(patch(api, sub_id, trial_end=iso(free_month)).json(), "Subscription")
    assert sub.status == "trialing" and parse_iso(sub.current_period_end) == free_month


def test_trial_end_in_the_past_is_pydantic_s_future_datetime_error(emu, api):
    sub_id = subscribe(api, emu, "trial")
    r = patch(api, sub_id, trial_end=iso(emu.clock.now() - timedelta(seconds=1)))
    assert item(r) == {
        "loc": ["body", "trial_end"],
        "msg": "Input should be in the future",
        "type": "datetime_future",
    }


def test_a_past_due_or_ended_subscription_gets_no_trial(emu, api):
    sub_id = subscribe(api, emu, "basic")
    emu.fail_next_renewal(sub_id)
    emu.clock.advance(days=31)
    assert get_sub(api, sub_id).status == "past_due"
    later = iso(emu.clock.now() + timedelta(days=60))
    assert error(patch(api, sub_id, trial_end=later)) == (
        403,
        {"error": "InactiveSubscription", "detail": f"Subscription {sub_id} is not active."},
    )


# pause and resume -----------------------------------------------------------------------
def test_pause_is_at_period_end_with_an_optional_resume_date(emu, hook, api):
    sub_id = subscribe(api, emu, "basic")
    period_end = parse_iso(get_sub(api, sub_id).current_period_end)
    r = patch(api, sub_id, pause_at_period_end=True, resumes_at=iso(period_end))
    assert item(r)["msg"] == "resumes_at must be after the current period end."
    resumes = period_end + timedelta(days=14)
    sub = load(
        patch(api, sub_id, pause_at_period_end=True, resumes_at=iso(resumes)).json(),
        "Subscription",
    )
    assert sub.status == "active" and sub.pause_at_period_end
    assert parse_iso(sub.resumes_at) == resumes
    assert error(patch(api, sub_id, pause_at_period_end=True)) == (
        409,
        {"error": "CannotPauseSubscription", "detail": "This subscription cannot be paused."},
    )
    emu.clock.set(period_end + timedelta(minutes=1))
    sub = get_sub(api, sub_id)
    assert sub.status == "paused" and sub.paused_at is not None and not sub.pause_at_period_end
    billed = len(orders_of(api, sub_id))
    emu.clock.set(resumes + timedelta(minutes=1))  # Polar resumes it on resumes_at
    sub = get_sub(api, sub_id)
    assert sub.status == "active" and sub.resumes_at is None and sub.paused_at is None
    assert len(orders_of(api, sub_id)) == billed + 1  # resuming starts a paid period
    assert "subscription.resumed" in hook.types()


def test_a_scheduled_pause_can_be_called_off_only_when_there_is_one(emu, api):
    sub_id = subscribe(api, emu, "basic")
    assert error(patch(api, sub_id, pause_at_period_end=False)) == (
        409,
        {"error": "NoScheduledPause", "detail": "This subscription is not scheduled to be paused."},
    )
    patch(api, sub_id, pause_at_period_end=True)
    sub = load(patch(api, sub_id, pause_at_period_end=False).json(), "Subscription")
    assert not sub.pause_at_period_end and sub.resumes_at is None
    emu.clock.advance(days=31)
    assert get_sub(api, sub_id).status == "active"  # renewed, not paused


def test_resume_is_only_for_a_paused_subscription(emu, api):
    sub_id = subscribe(api, emu, "basic")
    patch(api, sub_id, pause_at_period_end=True)
    assert error(patch(api, sub_id, resume=True)) == (
        409,
        {"error": "NotPausedSubscription", "detail": "This subscription is not paused."},
    )
    assert get_sub(api, sub_id).pause_at_period_end  # the scheduled pause is untouched


def test_trialing_canceled_or_pausing_subscriptions_cannot_be_paused(emu, api):
    trial = subscribe(api, emu, "trial", external_id="u-2")
    assert patch(api, trial, pause_at_period_end=True).status_code == 409
    canceled = subscribe(api, emu, "basic")
    patch(api, canceled, cancel_at_period_end=True)
    assert patch(api, canceled, pause_at_period_end=True).status_code == 409


def test_canceling_drops_a_scheduled_pause(emu, api):
    sub_id = subscribe(api, emu, "basic")
    patch(api, sub_id, pause_at_period_end=True, resumes_at=iso(emu.clock.now() + timedelta(90)))
    sub = load(patch(api, sub_id, cancel_at_period_end=True).json(), "Subscription")
    assert sub.cancel_at_period_end and not sub.pause_at_period_end and sub.resumes_at is None


# cancellation with a reason -------------------------------------------------------------
def test_cancel_keeps_the_reason_and_comment_and_uncancel_clears_them(emu, hook, api):
    sub_id = subscribe(api, emu, "basic")
    r = patch(
        api,
        sub_id,
        cancel_at_period_end=True,
        customer_cancellation_reason="too_expensive",
        customer_cancellation_comment="Half the price and I stay.",
    )
    sub = load(r.json(), "Subscription")
    assert sub.customer_cancellation_reason == "too_expensive"
    assert sub.customer_cancellation_comment == "Half the price and I stay."
    canceled = [e for e in hook.events if e["type"] == "subscription.canceled"][-1]
    assert canceled["data"]["customer_cancellation_reason"] == "too_expensive"
    r = patch(api, sub_id, cancel_at_period_end=True, customer_cancellation_reason="other")
    assert error(r)[0] == 403 and error(r)[1]["error"] == "AlreadyCanceledSubscription"
    sub = load(patch(api, sub_id, cancel_at_period_end=False).json(), "Subscription")
    assert sub.customer_cancellation_reason is None and sub.customer_cancellation_comment is None


def test_a_bad_reason_is_a_422_and_a_paused_subscription_can_be_revoked_not_canceled(emu, api):
    sub_id = subscribe(api, emu, "basic")
    r = patch(api, sub_id, cancel_at_period_end=True, customer_cancellation_reason="meh")
    assert item(r)["loc"] == ["body", "customer_cancellation_reason"]
    patch(api, sub_id, pause_at_period_end=True)
    emu.clock.advance(days=31)
    assert get_sub(api, sub_id).status == "paused"
    assert patch(api, sub_id, cancel_at_period_end=True).status_code == 403
    r = patch(api, sub_id, revoke=True, customer_cancellation_reason="unused")
    sub = load(r.json(), "Subscription")
    assert sub.status == "canceled" and sub.customer_cancellation_reason == "unused"


def test_the_portal_stores_the_customer_s_own_reason_and_comment(emu, api):
    sub_id = subscribe(api, emu, "basic")
    emu.cancel_subscription(sub_id, reason="missing_features", comment="No dark mode.")
    sub = get_sub(api, sub_id)
    assert sub.customer_cancellation_reason == "missing_features"
    assert sub.customer_cancellation_comment == "No dark mode."


# the billing anchor ---------------------------------------------------------------------
def test_the_period_end_moves_earlier_or_later_and_the_renewal_follows(emu, hook, api):
    sub_id = subscribe(api, emu, "basic")
    first = emu.clock.now() + timedelta(days=10)
    sub = load(patch(api, sub_id, current_billing_period_end=iso(first)).json(), "Subscription")
    assert parse_iso(sub.current_period_end) == first
    assert len(orders_of(api, sub_id)) == 1  # nothing billed or credited now
    emu.clock.set(first + timedelta(minutes=1))
    sub = get_sub(api, sub_id)
    assert parse_iso(sub.current_period_start) == first  # renewed on the new anchor
    assert len(orders_of(api, sub_id)) == 2


def test_the_billing_anchor_is_refused_on_canceled_and_past_due_subscriptions(emu, api):
    when = iso(emu.clock.now() + timedelta(days=10))
    r = patch(api, subscribe(api, emu, "basic"), current_billing_period_end=iso(emu.clock.now()))
    assert item(r)["type"] == "datetime_future"
    canceled = subscribe(api, emu, "basic", external_id="u-2")
    patch(api, canceled, cancel_at_period_end=True)
    assert error(patch(api, canceled, current_billing_period_end=when))[1] == {
        "error": "AlreadyCanceledSubscription",
        "detail": "This subscription is already canceled or will be at the end of the period.",
    }
    late = subscribe(api, emu, "basic", external_id="u-3")
    emu.fail_next_renewal(late)
    emu.clock.advance(days=31)
    r = patch(api, late, current_billing_period_end=iso(emu.clock.now() + timedelta(days=3)))
    assert error(r)[0] == 403 and error(r)[1]["error"] == "InactiveSubscription"


def test_moving_a_trial_s_period_end_moves_its_conversion(emu, api):
    sub_id = subscribe(api, emu, "trial")
    later = emu.clock.now() + timedelta(days=12)
    patch(api, sub_id, current_billing_period_end=iso(later))
    emu.clock.advance(days=8)  # past the original 7-day trial end
    assert get_sub(api, sub_id).status == "trialing"
    emu.clock.set(later + timedelta(minutes=1))
    assert get_sub(api, sub_id).status == "active"


# a scheduled change ---------------------------------------------------------------------
def test_a_scheduled_change_is_seen_and_cleared(emu, hook, api):
    sub_id = subscribe(api, emu, "basic")
    r = patch(api, sub_id, product_id=emu.ids["plus"], proration_behavior="next_period")
    pending = load(r.json(), "Subscription").pending_update
    assert pending is not None and pending.product_id == emu.ids["plus"]
    hook.clear()
    sub = load(patch(api, sub_id, pending_update=None).json(), "Subscription")
    assert sub.pending_update is None and hook.types()[0] == "subscription.updated"
    r = patch(api, sub_id, pending_update=None)
    assert item(r) == {
        "loc": ["body", "pending_update"],
        "msg": "This subscription has no pending update to clear.",
        "type": "value_error",
    }
    emu.clock.advance(days=31)
    assert get_sub(api, sub_id).product_id == emu.ids["basic"]  # the change never applied
