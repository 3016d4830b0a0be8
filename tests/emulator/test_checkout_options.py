"""Issue 16, checkout: billing details and tax ids, custom fields, currency and locale,
seat limits and upgrading a free subscription, as Polar's checkout/service.py rules them.
"""

from __future__ import annotations

import pytest

from polar_emulator.tax_ids import InvalidTaxID, validate_tax_id

from .oracle import load


def create(api, emu, key="lifetime", **body):
    return api.post("/v1/checkouts/", json={"products": [emu.ids[key]], **body})


def product(api, name, prices, **extra):
    response = api.post(
        "/v1/products/",
        json={"name": name, "prices": prices, "recurring_interval": "month", **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


# tax ids: tax/tax_id.py validate_tax_id ------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "country", "expected"),
    [
        ("FR61954506077", "FR", ("FR61954506077", "eu_vat")),
        ("de 136 695 976", "DE", ("DE136695976", "eu_vat")),
        ("GB980780684", "GB", ("980780684", "gb_vat")),
        ("91-1144442", "US", ("911144442", "us_ein")),
        ("51 824 753 556", "AU", ("51824753556", "au_abn")),
        ("100123456700003", "AE", ("100123456700003", "ae_trn")),
    ],
)
def test_valid_tax_ids_are_compacted_with_their_format(number, country, expected):
    assert validate_tax_id(number, country) == expected


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("DE136695977", "DE"),  # check digit
        ("136695976", "DE"),  # an EU VAT number carries its country prefix
        ("FR61954506078", "FR"),
        ("GB980780685", "GB"),
        ("00-1144442", "US"),  # a prefix the IRS never assigned
        ("12345678", "ZZ"),  # a country without tax ids
        ("1234", "BR"),  # too short for any format
    ],
)
def test_invalid_tax_ids_are_refused(number, country):
    with pytest.raises(InvalidTaxID):
        validate_tax_id(number, country)


def test_a_checkout_refuses_an_invalid_tax_id(emu, api):
    refused = create(
        api, emu, customer_billing_address={"country": "DE"}, customer_tax_id="DE136695977"
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0] == {
        "loc": ["body", "customer_tax_id"],
        "msg": "Invalid tax ID.",
        "type": "value_error",
        "input": "DE136695977",
    }


def test_a_prefilled_tax_id_lands_on_the_customer_with_its_format(emu, api):
    checkout = create(
        api,
        emu,
        customer_billing_address={"country": "FR"},
        customer_tax_id="FR 61 954 506 077",
    ).json()
    assert checkout["customer_tax_id"] == "FR61954506077"
    load(checkout, "Checkout")
    paid = emu.pay_checkout(checkout["id"], email="buyer@example.fr")
    customer = api.get(f"/v1/customers/{paid['customer_id']}").json()
    assert customer["tax_id"] == ["FR61954506077", "eu_vat"]
    assert customer["billing_address"]["country"] == "FR"


def test_changing_the_country_revalidates_the_tax_id(emu, api):
    checkout = create(
        api, emu, customer_billing_address={"country": "US"}, customer_tax_id="91-1144442"
    ).json()
    moved = api.patch(
        f"/v1/checkouts/client/{checkout['client_secret']}",
        json={"customer_billing_address": {"country": "DE"}},
    )
    assert moved.status_code == 422
    assert moved.json()["detail"][0]["loc"] == ["body", "customer_tax_id"]


# business customers: models/checkout.py is_billing_address_required ---------------------------
def test_a_business_customer_needs_a_billing_name_and_a_full_address(emu, api):
    checkout = create(
        api, emu, is_business_customer=True, customer_billing_address={"country": "SE"}
    ).json()
    assert checkout["billing_address_fields"]["line1"] == "required"
    refused = api.post(
        f"/v1/checkouts/client/{checkout['client_secret']}/confirm",
        json={"customer_email": "ab@example.se"},
    )
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [
        ["body", "customer_billing_name"],
        ["body", "customer_billing_address"],
    ]
    paid = emu.pay_checkout(
        checkout["id"],
        email="ab@example.se",
        billing_name="Analytical AB",
        billing_address={
            "country": "SE",
            "line1": "Storgatan 1",
            "city": "Stockholm",
            "postal_code": "11122",
        },
    )
    assert paid["status"] == "succeeded"
    customer = api.get(f"/v1/customers/{paid['customer_id']}").json()
    assert customer["billing_name"] == "Analytical AB"


def test_an_individual_is_asked_only_for_the_country(emu, api):
    checkout = create(api, emu, customer_billing_address={"country": "SE"}).json()
    assert checkout["is_business_customer"] is False
    assert checkout["billing_address_fields"]["line1"] == "disabled"


# currency: checkout/service.py _get_currencies, PriceSet.from_product ------------------------
def test_a_checkout_bills_the_price_in_the_requested_currency(emu, api):
    multi = product(
        api,
        "Euro plan",
        [
            {"amount_type": "fixed", "price_amount": 1000, "price_currency": "usd"},
            {"amount_type": "fixed", "price_amount": 900, "price_currency": "eur"},
        ],
    )
    checkout = api.post("/v1/checkouts/", json={"products": [multi["id"]], "currency": "eur"})
    assert checkout.status_code == 201, checkout.text
    assert (checkout.json()["currency"], checkout.json()["amount"]) == ("eur", 900)
    paid = emu.pay_checkout(checkout.json()["id"], email="eu@example.com")
    order = api.get("/v1/orders/", params={"customer_id": paid["customer_id"]}).json()["items"][0]
    assert (order["currency"], order["subtotal_amount"]) == ("eur", 900)


def test_a_product_without_a_price_in_the_currency_is_refused(emu, api):
    refused = create(api, emu, currency="eur")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == (
        "Product is not available in the specified currency."
    )
    assert refused.json()["detail"][0]["loc"] == ["body", "products", 0]


def test_an_unknown_currency_is_refused(emu, api):
    refused = create(api, emu, currency="xxx")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "currency"]


# locale: checkout/service.py create ("checkout_localization_enabled") -------------------------
def test_the_locale_is_en_unless_the_organization_localizes_checkouts(emu, api):
    assert create(api, emu, locale="fr").json()["locale"] == "en"
    emu.configure_organization(feature_settings={"checkout_localization_enabled": True})
    assert create(api, emu, locale="fr").json()["locale"] == "fr"


# custom fields: custom_field/data.py validate_custom_field_data ------------------------------
@pytest.fixture
def surveyed(emu, api):
    """The lifetime product asks for a company (required) and a team size (optional)."""
    company = api.post(
        "/v1/custom-fields/",
        json={
            "type": "text",
            "slug": "company",
            "name": "Company",
            "properties": {"max_length": 20},
        },
    ).json()
    size = api.post(
        "/v1/custom-fields/",
        json={"type": "number", "slug": "team-size", "name": "Team size", "properties": {"ge": 1}},
    ).json()
    api.patch(
        f"/v1/products/{emu.ids['lifetime']}",
        json={
            "attached_custom_fields": [
                {"custom_field_id": company["id"], "required": True},
                {"custom_field_id": size["id"], "required": False},
            ]
        },
    )
    return company, size


def test_custom_field_data_is_validated_and_unknown_keys_dropped(emu, api, surveyed):
    checkout = create(api, emu, custom_field_data={"team-size": "12", "nickname": "x"})
    assert checkout.status_code == 201, checkout.text
    assert checkout.json()["custom_field_data"] == {"team-size": 12}
    load(checkout.json(), "Checkout")  # the attached fields as polar-sdk reads them
    assert [f["custom_field"]["slug"] for f in checkout.json()["attached_custom_fields"]] == [
        "company",
        "team-size",
    ]
    refused = create(api, emu, custom_field_data={"team-size": 0, "company": "x" * 21})
    assert refused.status_code == 422
    assert sorted(e["loc"][-1] for e in refused.json()["detail"]) == ["company", "team-size"]


def test_a_required_custom_field_is_required_at_confirmation_and_reaches_the_order(
    emu, api, surveyed
):
    checkout = create(api, emu, custom_field_data={"team-size": 3}).json()
    refused = api.post(
        f"/v1/checkouts/client/{checkout['client_secret']}/confirm",
        json={"customer_email": "cf@example.com", "custom_field_data": {"team-size": 3}},
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "custom_field_data", "company"]
    paid = emu.pay_checkout(
        checkout["id"], email="cf@example.com", custom_field_data={"company": "Engines"}
    )
    order = api.get("/v1/orders/", params={"customer_id": paid["customer_id"]}).json()["items"][0]
    assert order["custom_field_data"] == {"company": "Engines", "team-size": 3}
    load(order, "Order")


def test_custom_field_slugs_are_unique(emu, api, surveyed):
    again = api.post("/v1/custom-fields/", json={"type": "text", "slug": "company", "name": "Co"})
    assert again.status_code == 422


# seats: checkout/service.py _validate_checkout_seat_constraints --------------------------------
def test_min_and_max_seats_bound_the_seats_of_a_team_checkout(emu, api):
    checkout = create(api, emu, "team", min_seats=3, max_seats=5).json()
    assert (checkout["seats"], checkout["min_seats"], checkout["max_seats"]) == (3, 3, 5)
    too_many = api.patch(f"/v1/checkouts/client/{checkout['client_secret']}", json={"seats": 6})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["msg"] == "Maximum 5 seats allowed."
    assert create(api, emu, "team", min_seats=6, max_seats=5).status_code == 422


# upgrades: checkout/service.py _get_validated_subscription ---------------------------------------
def free_subscription(emu, api, email="free@example.com"):
    free = product(api, "Free tier", [{"amount_type": "fixed", "price_amount": 0}])
    customer = api.post("/v1/customers/", json={"email": email, "external_id": email}).json()
    sub = api.post(
        "/v1/subscriptions/", json={"product_id": free["id"], "customer_id": customer["id"]}
    )
    assert sub.status_code == 201, sub.text
    return sub.json()


def test_a_free_subscription_is_upgraded_in_place(emu, api):
    sub = free_subscription(emu, api)
    checkout = create(
        api, emu, "pro-monthly", subscription_id=sub["id"], metadata={"plan": "pro"}
    ).json()
    assert checkout["customer_id"] == sub["customer_id"]
    emu.pay_checkout(checkout["id"])
    upgraded = api.get(f"/v1/subscriptions/{sub['id']}").json()
    assert upgraded["product_id"] == emu.ids["pro-monthly"]
    assert upgraded["status"] in ("active", "trialing")
    assert upgraded["metadata"]["plan"] == "pro"
    subs = api.get("/v1/subscriptions/", params={"customer_id": sub["customer_id"]}).json()
    assert [s["id"] for s in subs["items"]] == [sub["id"]]


def test_only_free_subscriptions_can_be_upgraded(emu, api):
    paid = emu.pay_checkout(create(api, emu, "pro-monthly").json()["id"], email="p@example.com")
    refused = create(api, emu, "pro-yearly", subscription_id=paid["subscription_id"])
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == "Only free subscriptions can be upgraded."
    missing = create(api, emu, "pro-yearly", subscription_id="8e3a2f1c-0000-4000-8000-000000000000")
    assert missing.json()["detail"][0]["msg"] == "Subscription does not exist."
