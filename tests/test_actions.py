"""Subscription and order actions against the emulator.

Each action applies Polar's answer through the mirror, so the local state is right
before (and independent of) the webhook that follows.
"""

import pytest

from django_polar.client import get_client
from django_polar.errors import PolarAPIError
from django_polar.models import Subscription
from tests.fixtures import polar_fixture, polar_product  # noqa: F401  (the polar fixture)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com")


@pytest.fixture
def pro(polar):
    return polar_product("Pro monthly", amount=1000)


def buy(polar, billable, product, **options):
    """What a buyer does: open the checkout, pay on Polar's page."""
    session = billable.checkout([product], **options).session
    polar.pay_checkout(session["id"])
    polar.deliver()
    return session


@pytest.fixture
def subscription(polar, user, pro) -> Subscription:
    buy(polar, user, pro)
    sub = user.subscription()
    assert sub is not None and sub.active()
    return sub


def test_cancel_is_a_grace_period_and_resume_undoes_it(polar, user, subscription):
    subscription.cancel()
    assert subscription.cancel_at_period_end and subscription.on_grace_period()
    assert user.subscribed() and user.on_grace_period()
    assert get_client().get_subscription(str(subscription.pk))["cancel_at_period_end"] is True
    subscription.resume()
    assert not subscription.cancel_at_period_end and not subscription.on_grace_period()
    assert user.subscribed()


def test_cancel_now_ends_access(polar, user, subscription):
    subscription.cancel_now()
    assert subscription.status == "canceled" and subscription.ended()
    assert not user.subscribed()


def test_actions_apply_polars_answer_before_any_webhook(polar, user, subscription):
    polar.autodeliver = False
    subscription.cancel()
    fresh = Subscription.objects.get(pk=subscription.pk)
    assert fresh.cancel_at_period_end and fresh.on_grace_period()


def test_swap_moves_to_another_product(polar, user, pro, subscription):
    team_plan = polar_product("Team monthly", amount=5000)
    subscription.swap(team_plan, proration="prorate")
    assert subscription.product_id == team_plan.pk
    assert user.subscribed_to_product(team_plan)
    assert not user.subscribed_to_product(pro)


def test_swap_and_invoice(polar, user, subscription):
    yearly = polar_product("Pro monthly plus", amount=2000)
    subscription.swap_and_invoice(yearly)
    assert subscription.has_product(yearly)
    assert subscription.amount == 2000


def test_polar_errors_surface_typed_with_polars_message(polar, subscription):
    with pytest.raises(PolarAPIError) as exc_info:
        subscription.swap("00000000-0000-4000-8000-000000000000")
    assert exc_info.value.status in (404, 422)
    assert exc_info.value.message


def test_order_state_invoice_and_refund(polar, user):
    lifetime = polar_product("Lifetime", amount=4900, recurring=None)
    buy(polar, user, lifetime)
    order = user.orders.get()
    assert order.is_paid() and not order.refunded() and not order.partially_refunded()
    assert user.has_purchased_product(lifetime)
    url = order.invoice_url()
    assert url is None or url.startswith("http")
    order.refund(amount=900, reason="customer_request")
    assert order.partially_refunded() and order.refunded_amount == 900
    order.refund()  # the rest
    assert order.refunded()
    assert not user.has_purchased_product(lifetime)


def test_apply_and_remove_discount(polar, subscription):
    discount = get_client().create_discount(
        {"name": "Launch", "type": "percentage", "basis_points": 2000, "duration": "forever"}
    )
    subscription.apply_discount(discount)
    assert str(subscription.discount_id) == discount["id"]
    subscription.remove_discount()
    assert subscription.discount_id is None


def test_apply_discount_none_is_refused_not_sent_as_a_string(polar, subscription):
    discount = get_client().create_discount(
        {"name": "Launch", "type": "percentage", "basis_points": 2000, "duration": "forever"}
    )
    subscription.apply_discount(discount)
    with pytest.raises(ValueError, match=r"remove_discount\(\)"):
        subscription.apply_discount(None)
    subscription.refresh_from_db()
    assert str(subscription.discount_id) == discount["id"]  # still applied, nothing sent
    assert get_client().get_subscription(str(subscription.pk))["discount_id"] == discount["id"]


def test_update_seats(polar, user):
    from django_polar import mirror

    seat_plan = mirror.upsert_product(
        get_client().create_product(
            {
                "name": "Team seats",
                "recurring_interval": "month",
                "prices": [
                    {
                        "amount_type": "seat_based",
                        "price_currency": "usd",
                        "seat_tiers": {
                            "tiers": [{"min_seats": 1, "max_seats": None, "price_per_seat": 500}]
                        },
                    }
                ],
            }
        )
    )
    buy(polar, user, seat_plan, seats=3)
    subscription = user.subscription()
    assert subscription.seats == 3
    subscription.update_seats(5, proration="prorate")
    assert subscription.seats == 5
    assert get_client().get_subscription(str(subscription.pk))["seats"] == 5


def test_charge_a_custom_amount(polar, user):
    tip_jar = polar_product("Tip jar", recurring=None, custom=True)
    session = user.charge(1500, tip_jar).session
    assert session["amount"] == 1500
    polar.pay_checkout(session["id"])
    order = user.orders.get()
    assert order.is_paid() and order.net_amount == 1500
