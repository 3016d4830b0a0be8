"""What Polar's money and access rules mean for the app: dunning through the real webhook
view, the ``PAST_DUE_GRANTS_ACCESS`` default, refunds that cannot revoke a subscription's
benefits, and one subscription per customer by default."""

import pytest

from django_polar.client import get_client
from django_polar.conf import DEFAULTS
from django_polar.errors import RefundNotAllowedError
from django_polar.models import Subscription
from polar_emulator.errors import APIError
from tests.fixtures import polar_fixture, polar_product  # noqa: F401  (the polar fixture)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com")


def seeded(polar, key):
    """A product of the default seed, mirrored with its benefits (as polar_sync would)."""
    from django_polar import mirror

    product = get_client().get_product(polar.ids[key])
    for benefit in product["benefits"]:
        mirror.upsert_benefit(get_client().get_benefit(benefit["id"]))
    return mirror.upsert_product(product)


def buy(polar, billable, product):
    session = billable.checkout([product]).session
    polar.pay_checkout(session["id"])
    polar.deliver()
    return session


def test_past_due_ends_access_like_polar_then_dunning_revokes(polar, user):
    # Polar revokes a past-due subscription's grants at once (revocation grace period 0),
    # so the app's default agrees: past_due does not count as subscribed.
    assert DEFAULTS["PAST_DUE_GRANTS_ACCESS"] is False
    yearly = seeded(polar, "pro-yearly")
    buy(polar, user, yearly)
    sub = user.subscription()
    license_benefit = polar.ids["pro-license"]
    assert user.subscribed() and user.has_benefit(license_benefit)

    polar.fail_next_renewal(str(sub.pk))
    polar.clock.advance(days=366)
    polar.deliver()
    sub.refresh_from_db()
    assert sub.status == "past_due"
    assert not user.subscribed() and not user.has_benefit(license_benefit)

    polar.clock.advance(days=21)  # every retry (days 2, 7, 14, 21) is declined
    polar.deliver()
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.ended()
    assert not user.subscribed()
    assert Subscription.objects.filter(pk=sub.pk, status="canceled").exists()


def test_a_retry_that_succeeds_gives_access_back(polar, user):
    buy(polar, user, seeded(polar, "pro-yearly"))
    sub = user.subscription()
    polar.fail_next_renewal(str(sub.pk), failed_retries=0)
    polar.clock.advance(days=366)
    polar.deliver()
    assert not user.subscribed()
    polar.clock.advance(days=2, minutes=1)
    polar.deliver()
    sub.refresh_from_db()
    assert sub.status == "active" and user.subscribed()
    assert user.has_benefit(polar.ids["pro-license"])


def test_refund_cannot_revoke_a_subscriptions_benefits(polar, user):
    buy(polar, user, polar_product("Pro monthly", amount=1000))
    order = user.orders.get()
    calls_before = len(polar.store.refunds)
    with pytest.raises(RefundNotAllowedError, match="cancel_now"):
        order.refund(amount=100, revoke_benefits=True)
    assert len(polar.store.refunds) == calls_before  # Polar was not asked
    order.refund(amount=100)  # without revoking: fine
    order.refresh_from_db()
    assert order.partially_refunded() and user.subscribed()


def test_refund_of_a_one_time_purchase_may_revoke_its_benefits(polar, user):
    buy(polar, user, seeded(polar, "lifetime"))
    order = user.orders.get()
    granted = user.benefit_grants.count()
    assert granted > 0
    order.refund(revoke_benefits=True)
    polar.deliver()
    assert order.refunded() and not user.benefit_grants.exists()


def test_a_second_subscription_checkout_is_refused_by_default(polar, user):
    pro = seeded(polar, "pro-yearly")
    buy(polar, user, pro)
    with pytest.raises(APIError) as exc_info:  # the buyer's Pay on Polar's page
        buy(polar, user, seeded(polar, "team"))
    assert exc_info.value.status == 403
    assert exc_info.value.body["error"] == "AlreadyActiveSubscriptionError"
    assert user.subscriptions.count() == 1
    polar.configure_organization(subscription_settings={"allow_multiple_subscriptions": True})
    buy(polar, user, seeded(polar, "team"))
    assert user.subscriptions.count() == 2


def test_past_due_grants_access_setting_still_opts_in(polar, user, settings):
    settings.POLAR = {**settings.POLAR, "PAST_DUE_GRANTS_ACCESS": True}
    buy(polar, user, seeded(polar, "pro-yearly"))
    sub = user.subscription()
    polar.fail_next_renewal(str(sub.pk))
    polar.clock.advance(days=366)
    polar.deliver()
    sub.refresh_from_db()
    # The subscription still counts, but Polar revoked its benefits: access by
    # benefit follows Polar whatever the setting says.
    assert sub.status == "past_due" and user.subscribed()
    assert not user.has_benefit(polar.ids["pro-license"])
    assert sub.past_due()
