"""Issue 16's checkout options end to end: the builder, the emulator serving them as Polar
does, and the webhooks through the real view into the mirror.

Billing address and tax id, business customers, custom fields (and
``Order.custom_field_data``), locale and currency, seat limits, and upgrading a free
subscription through a checkout.
"""

from __future__ import annotations

import httpx
import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from django_polar import mirror
from django_polar.client import get_client
from django_polar.errors import CheckoutError, PolarValidationError
from django_polar.models import Customer, Order, Subscription
from polar_emulator.errors import APIError
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db

ADDRESS = {"country": "DE", "line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117"}


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com", first_name="Ada")


def api(polar) -> httpx.Client:
    """Polar's API as a merchant's dashboard script would call it (custom fields, products)."""
    return httpx.Client(
        transport=polar.transport(),
        base_url="https://api.test",
        headers={"Authorization": "Bearer polar_oat_test", "Polar-Version": "2026-10"},
    )


def seeded(polar, key):
    return mirror.upsert_product(get_client().get_product(polar.ids[key]))


def product(polar, name, prices, **extra):
    created = api(polar).post("/v1/products/", json={"name": name, "prices": prices, **extra})
    assert created.status_code == 201, created.text
    return mirror.upsert_product(created.json())


def pay(polar, checkout_id, **kwargs):
    paid = polar.pay_checkout(checkout_id, **kwargs)
    polar.deliver()
    return paid


# billing address, tax id, business customers --------------------------------------------------
def test_a_business_purchase_carries_its_address_tax_id_and_name_to_the_customer(polar, user):
    builder = (
        user.checkout([seeded(polar, "lifetime")])
        .with_billing_address(ADDRESS)
        .with_tax_id("DE 136 695 976")
        .as_business("Analytical Engines GmbH")
    )
    session = builder.session
    assert session["is_business_customer"] is True
    assert session["customer_tax_id"] == "DE136695976"  # Polar's compacted form
    assert session["billing_address_fields"]["line1"] == "required"
    pay(polar, session["id"])
    customer = Customer.objects.get(external_id=user.get_polar_external_id())
    assert customer.data["tax_id"] == ["DE136695976", "eu_vat"]
    assert customer.data["billing_name"] == "Analytical Engines GmbH"
    assert customer.data["billing_address"]["city"] == "Berlin"
    order = user.orders.get()
    assert order.data["billing_name"] == "Analytical Engines GmbH"


def test_an_invalid_tax_id_is_refused_by_polar_with_its_reason(polar, user):
    builder = (
        user.checkout([seeded(polar, "lifetime")])
        .with_billing_address(country="DE")
        .with_tax_id("DE136695977")
    )
    with pytest.raises(PolarValidationError, match="Invalid tax ID"):
        _ = builder.session
    assert not builder.created


def test_a_business_checkout_cannot_be_paid_without_a_full_address(polar, user):
    session = (
        user.checkout([seeded(polar, "lifetime")])
        .with_billing_address(country="SE")
        .as_business("Engines AB")
        .session
    )
    with pytest.raises(APIError) as refused:
        polar.pay_checkout(session["id"])
    assert refused.value.body["detail"][0]["msg"] == "Full billing address is required."
    assert not user.orders.exists()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda b: b.with_tax_id("DE136695976").payload(), "billing country"),
        (lambda b: b.with_billing_address(country="Germany"), "two-letter country"),
        (lambda b: b.with_billing_address(country="DE", street="x"), "Unknown billing address"),
        (lambda b: b.as_business(""), "business name"),
        (lambda b: b.in_currency("euro"), "three-letter currency"),
        (lambda b: b.with_locale("not a tag"), "language tag"),
        (lambda b: b.with_seat_limits(5, 2), "must not exceed"),
        (lambda b: b.with_seat_limits(0, None), "seats must be"),
        (lambda b: b.with_custom_fields(company=["a"]), "custom field 'company'"),
    ],
)
def test_the_builder_refuses_what_polar_would_reject(user, build, message):
    with pytest.raises(CheckoutError, match=message):
        build(user.checkout("9c1f2d43-0a6e-4c8e-9a57-1a2b3c4d5e6f"))


# custom fields -> Order.custom_field_data -----------------------------------------------------
def test_custom_field_data_reaches_the_mirrored_order(polar, user):
    client = api(polar)
    company = client.post(
        "/v1/custom-fields/", json={"type": "text", "slug": "company", "name": "Company"}
    ).json()
    seats = client.post(
        "/v1/custom-fields/", json={"type": "number", "slug": "seats-wanted", "name": "Seats"}
    ).json()
    client.patch(
        f"/v1/products/{polar.ids['lifetime']}",
        json={
            "attached_custom_fields": [
                {"custom_field_id": company["id"], "required": True},
                {"custom_field_id": seats["id"], "required": False},
            ]
        },
    )
    session = (
        user.checkout([seeded(polar, "lifetime")])
        .with_custom_fields({"company": "Engines"}, **{"seats-wanted": 12})
        .session
    )
    assert session["custom_field_data"] == {"company": "Engines", "seats-wanted": 12}
    pay(polar, session["id"])
    order = Order.objects.get(customer__external_id=user.get_polar_external_id())
    assert order.custom_field_data == {"company": "Engines", "seats-wanted": 12}


def test_a_custom_field_value_of_the_wrong_type_is_refused(polar, user):
    field = (
        api(polar)
        .post("/v1/custom-fields/", json={"type": "number", "slug": "size", "name": "Size"})
        .json()
    )
    api(polar).patch(
        f"/v1/products/{polar.ids['lifetime']}",
        json={"attached_custom_fields": [{"custom_field_id": field["id"], "required": False}]},
    )
    with pytest.raises(PolarValidationError, match="valid integer"):
        _ = user.checkout([seeded(polar, "lifetime")]).with_custom_fields(size="twelve").session


# currency and locale ----------------------------------------------------------------------------
def euro_plan(polar):
    """A monthly plan priced in dollars and in euros."""
    return product(
        polar,
        "Euro Pro",
        [
            {"amount_type": "fixed", "price_amount": 1200, "price_currency": "usd"},
            {"amount_type": "fixed", "price_amount": 1100, "price_currency": "eur"},
        ],
        recurring_interval="month",
    )


def test_a_checkout_in_euros_bills_the_euro_price(polar, user):
    plan = euro_plan(polar)
    session = user.checkout([plan]).in_currency("EUR").session
    assert (session["currency"], session["amount"]) == ("eur", 1100)
    pay(polar, session["id"])
    subscription = user.subscription()
    assert (subscription.currency, subscription.amount) == ("eur", 1100)
    assert user.orders.get().currency == "eur"


def test_a_product_without_a_price_in_the_currency_is_refused(polar, user):
    with pytest.raises(PolarValidationError, match="not available in the specified currency"):
        _ = user.checkout([seeded(polar, "lifetime")]).in_currency("eur").session


def test_the_locale_needs_the_organizations_checkout_localization(polar, user):
    lifetime = seeded(polar, "lifetime")
    assert user.checkout([lifetime]).with_locale("fr").session["locale"] == "en"
    polar.configure_organization(feature_settings={"checkout_localization_enabled": True})
    assert user.checkout([lifetime]).with_locale("fr-CA").session["locale"] == "fr-CA"


# seat limits ------------------------------------------------------------------------------------
def test_seat_limits_bound_the_seats_the_buyer_may_choose(polar, user):
    session = user.checkout([seeded(polar, "team")]).with_seat_limits(2, 4).session
    assert (session["seats"], session["min_seats"], session["max_seats"]) == (2, 2, 4)
    refused = api(polar).patch(
        f"/v1/checkouts/client/{session['client_secret']}", json={"seats": 5}
    )
    assert refused.json()["detail"][0]["msg"] == "Maximum 4 seats allowed."
    pay(polar, session["id"], seats=3, billing_address={"country": "US", "state": "CA"})
    assert user.subscription().seats == 3


# upgrading a free subscription ------------------------------------------------------------------
@pytest.fixture
def free_plan(polar):
    return product(
        polar, "Free", [{"amount_type": "fixed", "price_amount": 0}], recurring_interval="month"
    )


def subscribe_free(polar, billable, plan) -> Subscription:
    """The free tier given at sign-up (``billable.subscribe_free``), webhooks delivered."""
    subscription = billable.subscribe_free(plan)
    polar.deliver()
    return subscription


def test_upgrading_a_free_subscription_keeps_one_subscription(polar, user, free_plan):
    free = subscribe_free(polar, user, free_plan)
    pro = seeded(polar, "pro-monthly")
    builder = user.upgrade(pro)
    assert builder.payload()["subscription_id"] == str(free.pk)
    pay(polar, builder.id)
    assert list(user.subscriptions.values_list("pk", flat=True)) == [free.pk]
    upgraded = user.subscription()
    assert upgraded.product_id == pro.pk and upgraded.valid()
    assert upgraded.type == "default"
    assert user.subscribed(product=pro)
    assert user.orders.get().subscription_id == free.pk


def test_an_upgrade_takes_the_checkout_options(polar, user, free_plan):
    subscribe_free(polar, user, free_plan)
    payload = user.upgrade(
        seeded(polar, "pro-monthly"), success_url="https://app.example.com/done"
    ).payload()
    assert payload["success_url"] == "https://app.example.com/done"


def test_a_paid_subscription_is_not_upgraded_through_a_checkout(polar, user):
    session = user.checkout([seeded(polar, "pro-monthly")]).session
    pay(polar, session["id"])
    with pytest.raises(PolarValidationError, match="Only free subscriptions can be upgraded"):
        _ = user.upgrade(seeded(polar, "pro-yearly")).session


def test_a_checkout_never_upgrades_another_billables_subscription(polar, user, free_plan):
    other = User.objects.create_user("eve", "eve@example.com")
    theirs = subscribe_free(polar, other, free_plan)
    user.get_or_create_polar_customer()
    with pytest.raises(CheckoutError, match="its own billable"):
        user.checkout([seeded(polar, "pro-monthly")]).upgrading(theirs)
    with pytest.raises(CheckoutError, match="no live subscription"):
        User.objects.create_user("bob", "bob@example.com").upgrade(seeded(polar, "pro-monthly"))


# the same options through the DRF API ---------------------------------------------------------
def test_the_apis_checkout_options_each_reach_polars_checkout(polar, user):
    """``POST /api/billing/checkouts/`` hands each option to the builder: seat limits (each
    alone too), currency, locale and custom field data are on the checkout Polar made."""
    field = (
        api(polar)
        .post("/v1/custom-fields/", json={"type": "text", "slug": "company", "name": "Company"})
        .json()
    )
    api(polar).patch(
        f"/v1/products/{polar.ids['team']}",
        json={"attached_custom_fields": [{"custom_field_id": field["id"], "required": False}]},
    )
    polar.configure_organization(feature_settings={"checkout_localization_enabled": True})
    team = seeded(polar, "team")
    client = APIClient()
    client.force_authenticate(user)

    def checkout(**options):
        with override_settings(ROOT_URLCONF="tests.test_api"):
            answer = client.post(
                "/api/billing/checkouts/", {"products": [str(team.pk)], **options}, format="json"
            )
        assert answer.status_code == 201, answer.content
        return get_client().get_checkout(answer.json()["id"])

    made = checkout(
        min_seats=2,
        max_seats=4,
        currency="usd",
        locale="fr-CA",
        custom_field_data={"company": "Engines"},
    )
    assert (made["min_seats"], made["max_seats"], made["seats"]) == (2, 4, 2)
    assert (made["currency"], made["locale"]) == ("usd", "fr-CA")
    assert made["custom_field_data"] == {"company": "Engines"}
    assert (checkout(min_seats=3)["min_seats"], checkout(max_seats=3)["max_seats"]) == (3, 3)


def test_an_api_checkout_in_euros_bills_the_euro_price(polar, user):
    plan = euro_plan(polar)
    client = APIClient()
    client.force_authenticate(user)
    with override_settings(ROOT_URLCONF="tests.test_api"):
        answer = client.post(
            "/api/billing/checkouts/", {"products": [plan.pk], "currency": "eur"}, format="json"
        )
    assert answer.status_code == 201, answer.content
    made = get_client().get_checkout(answer.json()["id"])
    assert (made["currency"], made["amount"]) == ("eur", 1100)
