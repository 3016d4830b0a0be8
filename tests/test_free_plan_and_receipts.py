"""``billable.subscribe_free()``, ``billable.payment_methods()`` and ``Order.receipt_url()``
against the emulator, with Polar's webhooks through the real view."""

from __future__ import annotations

import copy

import pytest

from django_polar.client import get_client
from django_polar.errors import (
    AlreadySubscribedError,
    PolarValidationError,
    ReservedMetadataKeyError,
)
from django_polar.models import Order, Subscription, WebhookEvent
from polar_emulator import Emulator
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def polar_emulator_seed():
    seed = copy.deepcopy(Emulator.default_seed())
    seed["products"] += [
        {
            "key": "free",
            "name": "Free",
            "recurring_interval": "month",
            "prices": [{"type": "free"}],
            "benefits": ["pro-features"],
        },
        {"key": "freebie", "name": "Free e-book", "prices": [{"type": "free"}]},
    ]
    return seed


@pytest.fixture
def user(polar):
    return User.objects.create_user("ada", "ada@example.com")


# -- subscribe_free -------------------------------------------------------------------------


def test_a_free_plan_gives_access_on_return_and_the_webhooks_agree(polar, user):
    polar.autodeliver = False  # hold Polar's webhooks: the answer alone must do
    subscription = user.subscribe_free(polar.product_id("free"))
    assert user.subscribed() and subscription.active() and subscription.type == "default"
    assert subscription.amount == 0 and Subscription.objects.count() == 1
    remote = get_client().get_subscription(str(subscription.pk))
    assert remote["customer_id"] == str(user.polar_customer.pk)
    polar.deliver()  # created, active, updated, the benefit grant ... arrive afterwards
    types = set(WebhookEvent.objects.filter(status="processed").values_list("type", flat=True))
    assert {"subscription.created", "subscription.active", "subscription.updated"} <= types
    subscription.refresh_from_db()
    assert Subscription.objects.count() == 1 and subscription.status == "active"
    assert user.has_benefit(
        polar.ids["pro-features"]
    )  # granted by Polar, mirrored from its webhook


def test_subscribing_again_returns_the_same_subscription_without_a_call(polar, user):
    first = user.subscribe_free(polar.product_id("free"))
    again = user.subscribe_free(polar.product_id("free"))
    assert again == first
    assert len(list(get_client().list_subscriptions())) == 1


def test_polar_refuses_a_paid_plan_without_a_checkout(polar, user):
    with pytest.raises(PolarValidationError, match="Product is not free"):
        user.subscribe_free(polar.product_id("pro-monthly"))
    assert not Subscription.objects.exists() and not user.subscribed()


def test_polar_refuses_a_one_time_product(polar, user):
    with pytest.raises(PolarValidationError, match="not a recurring product"):
        user.subscribe_free(polar.product_id("freebie"))


def test_a_second_plan_of_the_same_type_is_refused_but_another_type_is_not(polar, user):
    checkout = user.checkout([polar.product_id("pro-monthly")])
    polar.pay_checkout(checkout.id, email="ada@example.com")
    with pytest.raises(AlreadySubscribedError, match="swap"):
        user.subscribe_free(polar.product_id("free"))
    addon = user.subscribe_free(polar.product_id("free"), type="community")
    assert addon.type == "community" and user.subscribed("community")
    assert len(list(get_client().list_subscriptions())) == 2


def test_the_reserved_type_key_refusal_says_what_to_pass(polar, user):
    with pytest.raises(ReservedMetadataKeyError) as refused:
        user.subscribe_free(
            polar.product_id("free"), type="team", metadata={"subscription_type": "x"}
        )
    assert str(refused.value) == "'subscription_type' is set by the app; pass type='team' instead."


def test_the_type_key_is_the_apps_own(polar, user):
    with pytest.raises(ReservedMetadataKeyError):
        user.subscribe_free(polar.product_id("free"), metadata={"subscription_type": "x"})
    sub = user.subscribe_free(polar.product_id("free"), metadata={"source": "signup"})
    assert sub.metadata == {"source": "signup", "subscription_type": "default"}


# -- payment methods --------------------------------------------------------------------------


def test_payment_methods_lists_the_card_saved_at_checkout(polar, user):
    assert user.payment_methods() == []  # no Polar customer yet: nothing to ask
    checkout = user.checkout([polar.product_id("lifetime")])
    polar.pay_checkout(checkout.id, email="ada@example.com")
    (card,) = user.payment_methods()
    assert card["type"] == "card" and card["is_default"] is True
    assert card["method_metadata"]["last4"] == "4242"
    assert card["customer_id"] == str(user.polar_customer.pk)


def test_a_free_customer_has_no_saved_card(polar, user):
    user.subscribe_free(polar.product_id("free"))
    assert user.payment_methods() == []


# -- receipts ---------------------------------------------------------------------------------


def test_a_paid_orders_receipt_is_rendered_then_served(polar, user):
    checkout = user.checkout([polar.product_id("lifetime")])
    polar.pay_checkout(checkout.id, email="ada@example.com")
    order = Order.objects.get()
    assert order.has_receipt()
    assert order.receipt_url() is None  # 202: Polar renders it in the background
    polar.orders.run_jobs(force=True)
    url = order.receipt_url()
    assert url and url.endswith(".pdf") and order.data["receipt_number"] in url


def test_a_free_order_has_no_receipt_and_polar_says_so(polar, user):
    checkout = user.checkout([polar.product_id("freebie")])
    polar.pay_checkout(checkout.id, email="ada@example.com")
    order = Order.objects.get()
    assert order.is_paid() and order.total_amount == 0
    assert not order.has_receipt() and order.receipt_url() is None
    answer = polar.handle(
        "GET", f"/v1/orders/{order.pk}/receipt", {"Authorization": "Bearer t"}, b""
    )
    assert answer[0] == 404 and b"ReceiptNotAllocated" in answer[2]


def test_an_unpaid_order_has_no_receipt(polar, user):
    checkout = user.checkout([polar.product_id("pro-yearly")])
    polar.pay_checkout(checkout.id, email="ada@example.com")
    polar.fail_next_renewal(str(Subscription.objects.get().pk))
    polar.clock.advance(days=366)
    unpaid = Order.objects.exclude(status="paid").get()
    assert not unpaid.has_receipt() and unpaid.receipt_url() is None
