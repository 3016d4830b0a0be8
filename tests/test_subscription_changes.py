"""Trials, pause, cancellation reasons, the billing anchor, scheduled changes and dunning,
from the app's side: each action goes to the emulator, applies Polar's answer to the
mirror before returning, and the signed webhooks that follow (through the real webhook
view, delivered twice) leave the same row. Refusals are Polar's, raised as typed errors."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_polar import mirror
from django_polar.client import get_client
from django_polar.errors import PolarAPIError, PolarPermissionError, PolarValidationError
from django_polar.models import Subscription, WebhookEvent
from django_polar.models.subscription import CancellationReason
from tests.fixtures import polar_fixture, polar_product  # noqa: F401  (the polar fixture)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db

#: The columns each test compares between "the action's answer" and "after the webhooks".
COLUMNS = (
    "status",
    "trial_end",
    "current_period_end",
    "pause_at_period_end",
    "paused_at",
    "resumes_at",
    "cancel_at_period_end",
    "customer_cancellation_reason",
    "customer_cancellation_comment",
    "past_due_at",
    "modified_at",
)


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com")


@pytest.fixture
def pro(polar):
    return polar_product("Pro monthly", amount=1000)


@pytest.fixture
def plus(polar):
    return polar_product("Plus monthly", amount=2000)


def buy(polar, billable, product, trial_days=None, seats=None):
    builder = billable.checkout([product])
    if trial_days:
        builder = builder.with_trial(trial_days)
    if seats:
        builder = builder.with_seats(seats)
    session = builder.session
    polar.pay_checkout(session["id"])
    polar.deliver()
    sub = billable.subscription()
    assert sub is not None
    return sub


@pytest.fixture
def subscription(polar, user, pro) -> Subscription:
    sub = buy(polar, user, pro)
    assert sub.active()
    return sub


@pytest.fixture
def trial(polar, user, pro) -> Subscription:
    sub = buy(polar, user, pro, trial_days=14)
    assert sub.on_trial()
    return sub


def row(sub):
    fresh = Subscription.objects.get(pk=sub.pk)
    return {name: getattr(fresh, name) for name in COLUMNS}


def acted_then_delivered(polar, action):
    """Run ``action`` with webhooks held; return the row it left, then deliver every
    held webhook twice through the real view and return the row after them."""
    polar.autodeliver = False
    stored = WebhookEvent.objects.count()
    sub = action()
    before = row(sub)
    polar.faults.duplicate_next(100)
    polar.deliver()
    polar.autodeliver = True
    assert WebhookEvent.objects.count() > stored  # the webhooks did arrive
    return before, row(sub)


def polar_side(sub):
    return get_client().get_subscription(str(sub.pk))


# trials ---------------------------------------------------------------------------------
def test_extend_trial_moves_the_first_charge_and_the_webhooks_agree(polar, user, trial):
    until = polar.clock.now() + timedelta(days=30)
    before, after = acted_then_delivered(polar, lambda: trial.extend_trial(until))
    assert before == after
    assert before["trial_end"] == until == before["current_period_end"]
    assert trial.on_trial() and trial.trial_end == until and user.on_trial()
    assert polar_side(trial)["trial_end"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S"))


def test_end_trial_starts_the_paid_period_now(polar, user, trial):
    trial.end_trial()
    assert trial.active() and not trial.on_trial()
    assert user.orders.filter(billing_reason="subscription_cycle", paid=True).count() == 1
    assert polar_side(trial)["status"] == "active"


def test_polar_s_trial_rules_reach_the_app_as_validation_errors(polar, subscription):
    with pytest.raises(PolarValidationError) as excinfo:
        subscription.end_trial()  # not trialing
    assert "not currently trialing" in str(excinfo.value)
    with pytest.raises(PolarValidationError):
        subscription.extend_trial(subscription.current_period_end - timedelta(days=1))
    subscription.refresh_from_db()
    assert subscription.active() and subscription.trial_end is None


# pause and resume -----------------------------------------------------------------------
def test_pause_at_period_end_then_polar_pauses_and_resumes_on_resumes_at(polar, user, subscription):
    resumes = subscription.current_period_end + timedelta(days=10)
    before, after = acted_then_delivered(polar, lambda: subscription.pause(resumes_at=resumes))
    assert before == after and before["pause_at_period_end"] and before["resumes_at"] == resumes
    assert subscription.on_paused_grace_period() and user.subscribed()
    assert Subscription.objects.on_paused_grace_period().count() == 1

    polar.clock.set(subscription.current_period_end + timedelta(minutes=1))
    subscription.refresh_from_db()
    assert subscription.paused() and subscription.paused_at is not None
    assert not subscription.valid() and not user.subscribed()
    assert list(Subscription.objects.paused()) == [subscription]

    polar.clock.set(resumes + timedelta(minutes=1))
    subscription.refresh_from_db()
    assert subscription.active() and subscription.resumes_at is None and user.subscribed()


def test_resume_calls_off_a_scheduled_pause(polar, subscription):
    subscription.pause()
    before, after = acted_then_delivered(polar, subscription.resume)
    assert before == after and not before["pause_at_period_end"]
    assert polar_side(subscription)["pause_at_period_end"] is False
    assert not subscription.on_paused_grace_period()
    assert not Subscription.objects.on_paused_grace_period().exists()


def test_resume_of_a_paused_subscription_bills_a_new_period(polar, user, subscription):
    subscription.pause()
    polar.clock.advance(days=32)
    subscription.refresh_from_db()
    assert subscription.paused()
    orders = user.orders.count()
    before, after = acted_then_delivered(polar, subscription.resume)
    assert before == after and before["status"] == "active" and before["paused_at"] is None
    assert user.orders.count() == orders + 1


def test_polar_refuses_to_pause_a_trial_with_a_409(polar, trial):
    with pytest.raises(PolarAPIError) as excinfo:
        trial.pause()
    assert excinfo.value.status == 409 and excinfo.value.error == "CannotPauseSubscription"
    assert "cannot be paused" in str(excinfo.value)
    trial.refresh_from_db()
    assert not trial.pause_at_period_end


# cancellation with a reason -------------------------------------------------------------
def test_cancel_with_reason_and_comment_is_mirrored(polar, subscription):
    before, after = acted_then_delivered(
        polar,
        lambda: subscription.cancel(
            reason=CancellationReason.TOO_EXPENSIVE, comment="Too much for a side project."
        ),
    )
    assert before == after
    assert subscription.customer_cancellation_reason == "too_expensive"
    assert subscription.get_customer_cancellation_reason_display() == "Too expensive"
    assert subscription.customer_cancellation_comment == "Too much for a side project."
    assert subscription.on_grace_period()
    subscription.resume()  # uncancel: Polar clears the reason
    assert subscription.customer_cancellation_reason == ""
    assert subscription.customer_cancellation_comment == ""


def test_the_customer_s_own_reason_from_the_portal_reaches_the_mirror(polar, subscription):
    polar.cancel_subscription(str(subscription.pk), reason="switched_service", comment="Moved.")
    polar.deliver()
    subscription.refresh_from_db()
    assert subscription.on_grace_period()
    assert subscription.get_customer_cancellation_reason_display() == "Switched to another service"
    assert subscription.customer_cancellation_comment == "Moved."


def test_cancel_now_with_a_reason_revokes_and_keeps_it(polar, user, subscription):
    subscription.cancel_now(reason="unused", comment="Never opened it.")
    assert subscription.ended() and not user.subscribed()
    assert subscription.customer_cancellation_reason == "unused"
    assert subscription.customer_cancellation_comment == "Never opened it."


def test_cancel_now_with_only_a_comment_keeps_it(polar, subscription):
    subscription.cancel_now(comment="Moving to paper.")
    assert subscription.ended() and subscription.customer_cancellation_comment == "Moving to paper."
    assert subscription.customer_cancellation_reason == ""


def test_a_reason_polar_does_not_know_is_its_422(polar, subscription):
    with pytest.raises(PolarValidationError) as excinfo:
        subscription.cancel(reason="bored")
    assert excinfo.value.errors[0]["loc"] == ["body", "customer_cancellation_reason"]
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end


# the billing anchor ---------------------------------------------------------------------
def test_change_billing_date_moves_the_renewal(polar, user, subscription):
    when = (timezone.now() + timedelta(days=9)).replace(microsecond=0)
    before, after = acted_then_delivered(polar, lambda: subscription.change_billing_date(when))
    assert before == after and before["current_period_end"] == when
    assert user.orders.count() == 1  # nothing prorated
    polar.clock.set(when + timedelta(minutes=1))
    subscription.refresh_from_db()
    assert subscription.current_period_start == when and user.orders.count() == 2


def test_change_billing_date_of_a_canceled_subscription_is_polar_s_403(polar, subscription):
    subscription.cancel()
    with pytest.raises(PolarPermissionError) as excinfo:
        subscription.change_billing_date(timezone.now() + timedelta(days=3))
    assert excinfo.value.error == "AlreadyCanceledSubscription"


# a scheduled change ---------------------------------------------------------------------
def test_a_scheduled_swap_is_seen_and_cleared(polar, subscription, pro, plus):
    assert subscription.pending_update is None and not subscription.has_pending_update()
    subscription.swap(plus, proration="next_period")
    pending = subscription.pending_update
    assert pending is not None and pending.product == plus and subscription.has_pending_update()
    assert pending.applies_at == subscription.current_period_end and pending.seats is None
    assert str(pending.id) == polar_side(subscription)["pending_update"]["id"]
    assert subscription.has_product(pro)  # not yet
    polar.autodeliver = False
    subscription.clear_pending_update()
    assert subscription.pending_update is None
    polar.deliver()
    polar.autodeliver = True
    subscription.refresh_from_db()
    assert subscription.pending_update is None
    with pytest.raises(PolarValidationError):
        subscription.clear_pending_update()  # nothing left to clear
    assert not subscription.has_pending_update()
    polar.clock.advance(days=32)
    subscription.refresh_from_db()
    assert subscription.has_product(pro)


# dunning --------------------------------------------------------------------------------
def test_dunning_state_past_due_since_and_the_next_attempt(polar, user, subscription, monkeypatch):
    monkeypatch.setattr(timezone, "now", polar.clock.now)  # the app's clock is Polar's
    polar.fail_next_renewal(str(subscription.pk))
    polar.clock.advance(days=31)
    subscription.refresh_from_db()
    assert subscription.past_due()
    polar_sub = polar_side(subscription)
    assert subscription.past_due_at.isoformat().startswith(polar_sub["past_due_at"][:19])

    def polar_next_attempt():
        pending = [o for o in get_client().list_orders() if o["status"] == "pending"]
        return pending[0]["next_payment_attempt_at"]

    first = subscription.next_payment_attempt_at()
    assert first == subscription.past_due_at + timedelta(days=2)
    assert first.isoformat().startswith(polar_next_attempt()[:19])
    assert subscription.past_due_deadline == subscription.past_due_at + timedelta(
        days=21, minutes=1
    )

    call_command("polar_sync", "orders", "--no-progress", stdout=io.StringIO())
    assert user.orders.get(paid=False).next_payment_attempt_at == first

    polar.clock.set(first + timedelta(minutes=1))  # the first retry fails too
    second = subscription.next_payment_attempt_at()  # the mirrored date is past: not it
    assert second == subscription.past_due_at + timedelta(days=7)
    assert second.isoformat().startswith(polar_next_attempt()[:19])
    call_command("polar_sync", "orders", "--no-progress", stdout=io.StringIO())
    pending = user.orders.get(paid=False)
    assert pending.next_payment_attempt_at == second

    # A non-recoverable decline makes Polar schedule the retry at the deadline
    # (order/service.py ``_handle_first_dunning_attempt``), off the usual schedule; the
    # emulator does not decline that way, so the order snapshot is changed as Polar would.
    snapshot = get_client().get_order(str(pending.pk))
    snapshot["next_payment_attempt_at"] = subscription.past_due_deadline.isoformat()
    snapshot["modified_at"] = (polar.clock.now() + timedelta(seconds=1)).isoformat()
    mirror.upsert_order(snapshot)
    assert subscription.next_payment_attempt_at() == subscription.past_due_deadline

    polar.recover_subscription(str(subscription.pk))  # the customer fixed the card
    subscription.refresh_from_db()
    assert subscription.active() and subscription.past_due_at is None
    assert subscription.next_payment_attempt_at() is None
    assert subscription.past_due_deadline is None


def test_a_scheduled_seat_change_shows_the_new_seat_count(polar, user):
    team = mirror.upsert_product(
        get_client().create_product({
            "name": "Team", "recurring_interval": "month",
            "prices": [{"amount_type": "seat_based", "price_currency": "usd",
                        "seat_tiers": {"tiers": [{"min_seats": 1, "max_seats": None,
                                                  "price_per_seat": 500}]}}],
        })
    )  # fmt: skip
    sub = buy(polar, user, team, seats=5)
    sub.update_seats(3, proration="next_period")
    assert sub.seats == 5  # until the next renewal
    pending = sub.pending_update
    assert pending is not None and pending.seats == 3 and pending.product is None


def test_a_pending_update_reads_junk_as_nothing(settings):
    """Polar's JSON is trusted for shape only: a broken field is None, never a crash; a
    timestamp without an offset is UTC, whatever the project's TIME_ZONE."""
    from django_polar.models import PendingUpdate

    settings.TIME_ZONE = "America/New_York"

    pending = PendingUpdate.from_polar(
        {"id": "not-a-uuid", "applies_at": "2026-12-01T08:00:00", "product_id": "", "seats": True}
    )
    assert pending is not None
    assert pending.id is None and pending.product_id is None and pending.seats is None
    assert pending.applies_at.isoformat() == "2026-12-01T08:00:00+00:00"
    assert PendingUpdate.from_polar(None) is None
    assert PendingUpdate.from_polar({"applies_at": "soon"}).applies_at is None


def test_dunning_that_runs_out_revokes_and_leaves_no_next_attempt(polar, user, subscription):
    polar.fail_next_renewal(str(subscription.pk))
    polar.clock.advance(days=31)
    polar.clock.advance(days=22)  # every retry fails: Polar revokes it
    subscription.refresh_from_db()
    assert subscription.status == "canceled" and not user.subscribed()
    assert subscription.next_payment_attempt_at() is None
    assert subscription.past_due_deadline is None
