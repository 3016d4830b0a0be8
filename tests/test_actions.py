"""Subscription and order actions against the emulator.

Each action applies Polar's answer through the mirror, so the local state is right
before (and independent of) the webhook that follows.
"""

from types import SimpleNamespace

import pytest

from django_polar.client import get_client
from django_polar.errors import PolarValidationError
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


def test_resume_of_a_paused_subscription_restarts_it(polar, user, subscription):
    get_client().update_subscription(str(subscription.pk), {"pause_at_period_end": True})
    polar.clock.advance(days=32)  # the period ends: Polar pauses it
    polar.deliver()
    subscription.refresh_from_db()
    assert subscription.status == "paused"
    subscription.resume()
    assert subscription.status == "active" and user.subscribed()
    assert get_client().get_subscription(str(subscription.pk))["status"] == "active"


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
    plus = polar_product("Pro monthly plus", amount=2000)
    subscription.swap_and_invoice(plus)
    assert subscription.has_product(plus)
    assert subscription.amount == 2000
    # Invoiced now, not at the next renewal (the organization's default is "prorate").
    polar.deliver()
    reasons = sorted(user.orders.values_list("billing_reason", flat=True))
    assert reasons == ["subscription_create", "subscription_update"]


def test_swap_with_the_organizations_default_proration_invoices_nothing_now(
    polar, user, subscription
):
    subscription.swap(polar_product("Pro monthly plus", amount=2000))
    polar.deliver()
    assert list(user.orders.values_list("billing_reason", flat=True)) == ["subscription_create"]


def test_polar_errors_surface_typed_with_polars_message(polar, subscription):
    # Polar answers a swap to a product it does not know with a 422 on body.product_id
    # (server/polar/subscription/service.py: "Product does not exist.").
    with pytest.raises(PolarValidationError) as exc_info:
        subscription.swap("00000000-0000-4000-8000-000000000000")
    error = exc_info.value
    assert error.status == 422
    assert error.errors == [
        {"loc": ["body", "product_id"], "msg": "Product does not exist.", "type": "value_error"}
    ]
    assert error.message == "body.product_id: Product does not exist."
    assert str(subscription.pk) in str(error)  # names the request: PATCH /v1/subscriptions/<id>
    subscription.refresh_from_db()
    assert subscription.product.name == "Pro monthly"  # nothing changed


def test_order_state_invoice_and_refund(polar, user):
    lifetime = polar_product("Lifetime", amount=4900, recurring=None)
    buy(polar, user, lifetime)
    order = user.orders.get()
    assert order.is_paid() and not order.refunded() and not order.partially_refunded()
    assert user.has_purchased_product(lifetime)
    order.refund(amount=900, reason="customer_request")
    assert order.partially_refunded() and order.refunded_amount == 900
    order.refund()  # the rest
    assert order.refunded()
    assert not user.has_purchased_product(lifetime)


def test_invoice_url_copes_with_background_rendering_and_missing_details(polar, user):
    """Polar renders invoices in a worker and needs a billing name and address
    (order/service.py trigger_invoice_generation): invoice_url() answers None while the
    invoice renders, then its URL; without billing details it raises Polar's reason."""
    lifetime = polar_product("Lifetime", amount=4900, recurring=None)
    buy(polar, user, lifetime)  # the buyer gives a billing country; the name is the user's
    order = user.orders.get()
    polar.clock.freeze()
    assert order.invoice_url() is None  # queued; Polar's worker has not rendered it yet
    polar.clock.advance(seconds=1)
    polar.deliver()
    url = order.invoice_url()
    assert url is not None and url.endswith(f"/{order.invoice_number}.pdf")

    buy(polar, user, lifetime)
    second = user.orders.exclude(pk=order.pk).get()
    get_client().update_order(str(second.pk), {"billing_address": None})
    with pytest.raises(PolarValidationError, match="Billing name and address are required"):
        second.invoice_url()


def test_refreshing_a_refund_applies_that_refund_only(polar, user):
    """sync's refresh asks ``/v1/refunds/?id=`` (refund/endpoints.py filters by id) and
    mirrors only that refund, never the first page of all refunds."""
    from django_polar.models import Refund
    from django_polar.sync import refresh_rows

    lifetime = polar_product("Lifetime", amount=4900, recurring=None)
    buy(polar, user, lifetime)
    order = user.orders.get()
    first = order.refund(amount=100)
    order.refund(amount=200)
    report = refresh_rows(Refund, Refund.objects.filter(pk=first["id"]))
    assert report.created + report.updated + report.unchanged + report.skipped_older == 1
    assert (report.missing, report.errors) == ([], [])


def test_apply_discount_takes_an_id_a_polar_object_or_a_row_with_pk(polar, subscription):
    discount = get_client().create_discount(
        {"name": "Launch", "type": "percentage", "basis_points": 2000, "duration": "forever"}
    )
    for given in (discount["id"], discount, SimpleNamespace(pk=discount["id"])):
        subscription.remove_discount()
        subscription.apply_discount(given)
        assert str(subscription.discount_id) == discount["id"], given


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
    for nothing in (None, ""):
        with pytest.raises(ValueError) as refused:
            subscription.apply_discount(nothing)
        assert str(refused.value) == (
            "apply_discount() needs a discount id (or an object with id/pk); "
            "to take the discount off, call remove_discount()."
        )
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
    subscription.update_seats(4)  # the organization's default: prorated at the renewal
    assert subscription.seats == 4
    polar.deliver()
    assert list(user.orders.values_list("billing_reason", flat=True)) == ["subscription_create"]
    subscription.update_seats(5, proration="invoice")  # the extra seat is billed now
    assert subscription.seats == 5
    assert get_client().get_subscription(str(subscription.pk))["seats"] == 5
    polar.deliver()
    reasons = sorted(user.orders.values_list("billing_reason", flat=True))
    assert reasons == ["subscription_create", "subscription_update"]


def test_charge_a_custom_amount(polar, user):
    tip_jar = polar_product("Tip jar", recurring=None, custom=True)
    session = user.charge(1500, tip_jar).session
    assert session["amount"] == 1500
    polar.pay_checkout(session["id"])
    order = user.orders.get()
    assert order.is_paid() and order.net_amount == 1500


# -- state methods after real purchases (the emulator pays, webhooks fill the mirror) ------


def seeded(polar, key: str):
    """A product of the emulator's default seed, mirrored with its benefits (as polar_sync
    would)."""
    from django_polar import mirror

    product = get_client().get_product(polar.ids[key])
    for benefit in product["benefits"]:
        mirror.upsert_benefit(get_client().get_benefit(benefit["id"]))
    return mirror.upsert_product(product)


def test_a_trial_then_its_conversion_into_a_paid_subscription(polar, user, pro):
    session = user.checkout([pro]).with_trial(14).session
    polar.pay_checkout(session["id"])
    polar.deliver()
    subscription = user.subscription()
    assert subscription.status == "trialing"
    assert user.on_trial() and subscription.on_trial() and user.subscribed()
    assert not subscription.active()
    assert not user.orders.filter(paid=True, total_amount__gt=0).exists()

    polar.clock.advance(days=15)
    polar.tick()
    polar.deliver()
    subscription.refresh_from_db()
    assert subscription.active() and not subscription.on_trial()
    assert not user.on_trial() and user.subscribed()
    paid = user.orders.filter(paid=True, total_amount=1000)
    assert paid.count() == 1 and paid.get().subscription_id == subscription.pk


def test_price_and_benefits_after_a_real_purchase(polar, user):
    pro_monthly = seeded(polar, "pro-monthly")
    price = pro_monthly.prices.get()
    license_benefit = polar.ids["pro-license"]
    assert not user.subscribed_to_price(price) and not user.has_benefit(license_benefit)

    buy(polar, user, pro_monthly)
    assert user.subscribed_to_price(price) and user.subscribed_to_price(str(price.pk))
    assert not user.subscribed_to_price("00000000-0000-4000-8000-000000000000")
    granted = {str(g.benefit_id) for g in user.benefit_grants}
    assert granted == {polar.ids["pro-license"], polar.ids["pro-features"]}
    assert user.has_benefit(license_benefit) and user.has_benefit(polar.ids["pro-features"])
    assert not user.has_benefit(polar.ids["api-credits"])

    user.subscription().cancel_now()
    polar.deliver()
    assert not user.has_benefit(license_benefit)
    assert not user.benefit_grants.exists()


@pytest.mark.parametrize("grants_access", [False, True])
def test_a_declined_renewal_is_past_due(polar, user, subscription, settings, grants_access):
    settings.POLAR = {**settings.POLAR, "PAST_DUE_GRANTS_ACCESS": grants_access}
    polar.fail_next_renewal(str(subscription.pk))
    polar.clock.advance(days=32)
    polar.tick()
    polar.deliver()
    subscription.refresh_from_db()
    assert subscription.status == "past_due" and subscription.past_due()
    assert not subscription.active()
    assert subscription.valid() is grants_access
    assert user.subscribed() is grants_access


def test_canceled_after_cancel_and_after_cancel_now(polar, user, subscription):
    assert not subscription.canceled()
    subscription.cancel()
    assert subscription.canceled() and not subscription.ended()
    subscription.cancel_now()
    assert subscription.canceled() and subscription.ended()
    assert Subscription.objects.canceled().filter(pk=subscription.pk).exists()


def test_has_product_takes_a_row_an_id_or_a_slug(polar, subscription, pro, settings):
    settings.POLAR = {
        **settings.POLAR,
        "PRODUCTS": {"pro": str(pro.pk), "other": polar.ids["pro-yearly"]},
    }
    assert subscription.has_product(pro)
    assert subscription.has_product(str(pro.pk)) and subscription.has_product(pro.pk)
    assert subscription.has_product("pro")
    assert not subscription.has_product("other")
    assert not subscription.has_product(polar.ids["pro-yearly"])
    from django_polar.errors import UnknownProductError

    with pytest.raises(UnknownProductError, match="no-such-slug"):
        subscription.has_product("no-such-slug")


def test_one_checkout_however_often_url_is_read(polar, user, pro):
    builder = user.checkout([pro])
    assert polar.store.checkouts == {}  # nothing created before it is needed
    urls = {builder.url, builder.url, builder.url}
    checkout_id = builder.id
    response = builder.redirect()
    assert response.status_code == 303
    assert urls == {response["Location"]}
    assert list(polar.store.checkouts) == [checkout_id]
    assert polar.store.checkouts[checkout_id]["url"] == response["Location"]
