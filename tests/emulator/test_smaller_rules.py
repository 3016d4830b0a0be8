"""Issue 12 item 11: the smaller rules where the emulator used to be kinder than Polar.

Each test names the Polar server file (or doc) the rule comes from; docs/emulator.md lists
them under "Smaller rules and coverage".
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from polar_emulator import Emulator
from polar_emulator.store import parse_iso

from .oracle import load


def client(emu: Emulator, token: str | None = "polar_oat_test") -> httpx.Client:
    headers = {"Polar-Version": "2026-10"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(transport=emu.transport(), base_url="https://api.test", headers=headers)


def buy(api, emu, key, **body):
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids[key]], **body}).json()
    return emu.pay_checkout(checkout["id"], email=body.get("customer_email", "buyer@example.com"))


def license_key(api, emu):
    buy(api, emu, "lifetime", customer_email="key@example.com")
    key = api.get("/v1/license-keys/").json()["items"][0]
    return key, {"key": key["key"], "organization_id": emu.store.organization["id"]}


# license keys: license_key/endpoints.py (auth.LicenseKeysWrite), service.py ----------------
def test_license_key_validation_needs_a_token_with_license_keys_write(emu, api):
    _, body = license_key(api, emu)
    assert client(emu, token=None).post("/v1/license-keys/validate", json=body).status_code == 401
    reader = Emulator(
        seed="default", access_token="t", token_scopes={"checkouts:write", "license_keys:read"}
    )
    _, reader_body = license_key(client(reader, "t"), reader)
    for action in ("validate", "activate", "deactivate"):
        refused = client(reader, "t").post(f"/v1/license-keys/{action}", json=reader_body)
        assert refused.status_code == 403, action
        assert refused.json()["error"] == "insufficient_scope"


def test_an_activation_with_conditions_needs_them_back_at_validation(emu, api):
    _, body = license_key(api, emu)
    activation = api.post(
        "/v1/license-keys/activate",
        json={**body, "label": "laptop", "conditions": {"major_version": 2}},
    ).json()
    bare = api.post("/v1/license-keys/validate", json={**body, "activation_id": activation["id"]})
    assert bare.status_code == 404
    assert bare.json()["detail"] == "License key does not match required conditions"
    same = api.post(
        "/v1/license-keys/validate",
        json={**body, "activation_id": activation["id"], "conditions": {"major_version": 2}},
    )
    assert same.status_code == 200 and same.json()["activation"]["id"] == activation["id"]


def test_a_revoked_key_cannot_be_activated_and_says_why(emu, api):
    key, body = license_key(api, emu)
    api.patch(f"/v1/license-keys/{key['id']}", json={"status": "revoked"})
    refused = api.post("/v1/license-keys/activate", json={**body, "label": "pc"})
    assert refused.status_code == 403 and refused.json()["error"] == "NotPermitted"
    assert refused.json()["detail"].startswith("License key is no longer active.")
    # the status is checked before the other conditions (license_key/service.py validate)
    validate = api.post(
        "/v1/license-keys/validate", json={**body, "benefit_id": emu.ids["pro-features"]}
    )
    assert validate.json()["detail"] == "License key is no longer active."


def test_license_key_update_and_activation_read(emu, api):
    key, body = license_key(api, emu)
    updated = api.patch(f"/v1/license-keys/{key['id']}", json={"limit_usage": 2, "usage": 1})
    assert (updated.json()["limit_usage"], updated.json()["usage"]) == (2, 1)
    over = api.post("/v1/license-keys/validate", json={**body, "increment_usage": 2})
    assert (
        over.status_code == 400 and over.json()["detail"] == "License key only has 1 more usages."
    )
    activation = api.post("/v1/license-keys/activate", json={**body, "label": "pc"}).json()
    read = api.get(f"/v1/license-keys/{key['id']}/activations/{activation['id']}")
    assert load(read.json(), "LicenseKeyActivationRead").label == "pc"
    other = "00000000-0000-4000-8000-000000000000"
    assert api.get(f"/v1/license-keys/{key['id']}/activations/{other}").status_code == 404


# checkout customers: checkout/service.py _create_or_update_customer -----------------------
def test_an_email_matched_customer_keeps_its_external_id_and_gets_no_session(emu, api):
    existing = api.post("/v1/customers/", json={"email": "ada@example.com"}).json()
    checkout = api.post(
        "/v1/checkouts/",
        json={"products": [emu.ids["lifetime"]], "external_customer_id": "app-user-7"},
    ).json()
    confirmed = api.post(
        f"/v1/checkouts/client/{checkout['client_secret']}/confirm",
        json={"customer_email": "ada@example.com"},
    ).json()
    assert confirmed["customer_id"] == existing["id"]
    assert confirmed["customer_session_token"] is None
    assert api.get(f"/v1/customers/{existing['id']}").json()["external_id"] is None
    fresh = api.post(
        "/v1/checkouts/",
        json={"products": [emu.ids["lifetime"]], "external_customer_id": "app-user-8"},
    ).json()
    confirmed = api.post(
        f"/v1/checkouts/client/{fresh['client_secret']}/confirm",
        json={"customer_email": "new@example.com"},
    ).json()
    assert confirmed["customer_session_token"].startswith("polar_cst_")
    assert api.get("/v1/customers/external/app-user-8").json()["email"] == "new@example.com"


def test_the_billing_address_typed_at_confirm_is_stored(emu, api):
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids["lifetime"]]}).json()
    address = {"country": "us", "state": "NY", "city": "New York", "line1": "1 Main St"}
    api.post(
        f"/v1/checkouts/client/{checkout['client_secret']}/confirm",
        json={
            "customer_email": "addr@example.com",
            "customer_billing_name": "Addr Inc.",
            "customer_billing_address": address,
        },
    )
    stored = api.get(f"/v1/checkouts/{checkout['id']}").json()["customer_billing_address"]
    assert (stored["country"], stored["state"], stored["line1"]) == ("US", "US-NY", "1 Main St")
    customer_id = api.get(f"/v1/checkouts/{checkout['id']}").json()["customer_id"]
    customer = api.get(f"/v1/customers/{customer_id}").json()
    assert customer["billing_address"]["city"] == "New York"
    order = api.get("/v1/orders/").json()["items"][0]
    assert (order["billing_name"], order["billing_address"]["country"]) == ("Addr Inc.", "US")


def _customer_of(emu):
    return next(iter(emu.store.customers))


@pytest.mark.parametrize(
    ("address", "loc"),
    [
        ({"country": "CU"}, ["body", "customer_billing_address", "country"]),  # embargoed
        ({"country": "XX"}, ["body", "customer_billing_address", "country"]),
        ({"country": "US", "state": "ZZ"}, ["body", "customer_billing_address"]),
    ],
)
def test_billing_countries_and_states_are_validated(emu, api, address, loc):
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids["lifetime"]]}).json()
    refused = api.patch(
        f"/v1/checkouts/client/{checkout['client_secret']}",
        json={"customer_billing_address": address},
    )
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == loc


def test_a_tax_id_needs_a_billing_country(emu, api):
    refused = api.post(
        "/v1/checkouts/", json={"products": [emu.ids["lifetime"]], "customer_tax_id": "FR123"}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == "Country is required to validate tax ID."


# invoices: order/service.py trigger_invoice_generation (a worker job) ----------------------
def test_invoices_are_rendered_in_the_background_and_need_name_and_address(emu, api):
    buy(api, emu, "lifetime")  # the buyer typed no name
    order = api.get("/v1/orders/").json()["items"][0]
    api.patch(f"/v1/orders/{order['id']}", json={"billing_address": {"country": "SE"}})
    no_name = api.post(f"/v1/orders/{order['id']}/invoice")
    assert no_name.status_code == 422
    assert no_name.json()["error"] == "MissingInvoiceBillingDetails"
    api.patch(f"/v1/orders/{order['id']}", json={"billing_name": "Buyer AB"})
    assert api.post(f"/v1/orders/{order['id']}/invoice").status_code == 202
    assert api.get(f"/v1/orders/{order['id']}/invoice").status_code == 404
    assert api.get(f"/v1/orders/{order['id']}").json()["is_invoice_generated"] is False
    emu.clock.advance(seconds=1)
    assert api.get(f"/v1/orders/{order['id']}/invoice").status_code == 200
    moved = api.patch(f"/v1/orders/{order['id']}", json={"billing_address": {"country": "NO"}})
    assert (
        moved.status_code == 422 and moved.json()["detail"][0]["msg"] == "Country cannot be changed"
    )


# checkouts: config.py CHECKOUT_TTL_SECONDS = 24 h --------------------------------------------
def test_a_checkout_lives_24_hours(emu, api):
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids["lifetime"]]}).json()
    created, expires = parse_iso(checkout["created_at"]), parse_iso(checkout["expires_at"])
    assert expires - created == timedelta(hours=24)
    emu.clock.advance(hours=23)
    assert api.get(f"/v1/checkouts/{checkout['id']}").json()["status"] == "open"
    emu.clock.advance(hours=1)
    assert api.get(f"/v1/checkouts/{checkout['id']}").json()["status"] == "expired"


# sorting: kit/sorting.py SortingGetter -----------------------------------------------------
def test_an_unknown_sort_key_is_a_422_and_the_spec_keys_work(emu, api):
    refused = api.get("/v1/customers/", params={"sorting": ["email", "bogus"]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "sorting", 1]
    assert refused.json()["detail"][0]["input"] == "bogus"
    names = [
        p["name"] for p in api.get("/v1/products/", params={"sorting": "name"}).json()["items"]
    ]
    assert names == sorted(names)


# subscriptions: subscription/service.py uncancel and _perform_cancellation ---------------
def test_uncancel_of_a_subscription_not_set_to_cancel_is_400(emu, api):
    sub = buy(api, emu, "pro-yearly")["subscription_id"]
    refused = api.patch(f"/v1/subscriptions/{sub}", json={"cancel_at_period_end": False})
    assert refused.status_code == 400 and refused.json()["error"] == "BadRequest"


def test_revoking_a_subscription_set_to_cancel_sends_canceled_then_revoked(emu, hook, api):
    sub = buy(api, emu, "pro-yearly")["subscription_id"]
    api.patch(f"/v1/subscriptions/{sub}", json={"cancel_at_period_end": True})
    emu.clock.advance(days=3)
    hook.clear()
    revoked = api.delete(f"/v1/subscriptions/{sub}").json()
    subscription_events = [t for t in hook.types() if t.startswith("subscription.")]
    assert subscription_events == [
        "subscription.updated",
        "subscription.canceled",
        "subscription.revoked",
    ]
    assert revoked["canceled_at"] == revoked["ended_at"]  # reset to the revocation time


# prices: product/schemas.py validate_price_amount, product/service.py price rules ---------
@pytest.mark.parametrize(
    ("prices", "loc", "msg"),
    [
        (
            [{"amount_type": "fixed", "price_amount": 10}],
            ["body", "prices", 0, "price_amount"],
            "Amount must be at least $0.50 or 0 for free pricing",
        ),
        (
            [{"amount_type": "fixed", "price_amount": 50, "price_currency": "jpy"}],
            ["body", "prices", 0, "price_amount"],
            "Amount must be at least ¥80 or 0 for free pricing",
        ),
        (
            [{"amount_type": "fixed", "price_amount": 100_000_000}],
            ["body", "prices", 0, "price_amount"],
            "Amount must be at most $999,999.99",
        ),
        (
            [{"amount_type": "fixed", "price_amount": 500, "price_currency": "xyz"}],
            ["body", "prices", 0, "price_currency"],
            None,
        ),
        (
            [
                {"amount_type": "fixed", "price_amount": 500},
                {"amount_type": "fixed", "price_amount": 900},
            ],
            ["body", "prices"],
            "Only one fixed price is allowed.",
        ),
        (
            [
                {"amount_type": "fixed", "price_amount": 500},
                {"amount_type": "custom", "minimum_amount": 100},
            ],
            ["body", "prices"],
            "A custom price cannot be combined with a fixed, seat-based or unit-based price.",
        ),
    ],
)
def test_prices_are_validated_as_polar_does(api, prices, loc, msg):
    refused = api.post("/v1/products/", json={"name": "Priced", "prices": prices})
    assert refused.status_code == 422, refused.text
    error = refused.json()["detail"][0]
    assert error["loc"] == loc
    if msg is not None:
        assert error["msg"] == msg


def test_free_and_minimum_prices_pass(api):
    for amount in (0, 50):
        ok = api.post(
            "/v1/products/",
            json={"name": "Cheap", "prices": [{"amount_type": "fixed", "price_amount": amount}]},
        )
        assert ok.status_code == 201, ok.text


# events: event/schemas.py EventMetadataInput, event/endpoints.py list filters -------------
@pytest.mark.parametrize(
    "metadata",
    [
        {"note": ""},
        {"nested": {"a": 1}},
        {"_cost": {"amount": "lots", "currency": "usd"}},
        {"_cost": {"amount": 1, "currency": "eur"}},
        {"_llm": {"vendor": "openai", "model": "gpt"}},
    ],
)
def test_event_metadata_is_validated(emu, api, metadata):
    buy(api, emu, "lifetime", customer_email="m@example.com")
    customer_id = _customer_of(emu)
    refused = api.post(
        "/v1/events/ingest",
        json={"events": [{"name": "api_call", "customer_id": customer_id, "metadata": metadata}]},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"][:4] == ["body", "events", 0, "metadata"]


def test_event_lists_honour_timestamps_and_parents(emu, api):
    buy(api, emu, "lifetime", customer_email="e@example.com")
    customer_id = _customer_of(emu)
    api.post(
        "/v1/events/ingest",
        json={
            "events": [
                {
                    "name": "run",
                    "customer_id": customer_id,
                    "external_id": "run-1",
                    "timestamp": "2026-01-01T00:00:00Z",
                    "metadata": {"_cost": {"amount": "0.25", "currency": "usd"}},
                },
                {"name": "step", "customer_id": customer_id, "parent_id": "run-1"},
                {"name": "step", "customer_id": customer_id, "parent_id": "run-1"},
            ]
        },
    )
    events = api.get("/v1/events/", params={"name": ["run", "step"]}).json()["items"]
    run = next(e for e in events if e["name"] == "run")
    assert run["child_count"] == 2
    children = api.get("/v1/events/", params={"parent_id": run["id"]}).json()["items"]
    assert sorted(e["name"] for e in children) == ["step", "step"]
    assert all(e["parent_id"] == run["id"] for e in children)
    early = api.get(
        "/v1/events/",
        params={"end_timestamp": "2026-06-01T00:00:00Z", "name": ["run", "step"]},
    ).json()["items"]
    assert [e["name"] for e in early] == ["run"]
    late = api.get(
        "/v1/events/",
        params={"start_timestamp": "2026-06-01T00:00:00Z", "name": ["run", "step"]},
    ).json()["items"]
    assert [e["name"] for e in late] == ["step", "step"]
    naive = api.get("/v1/events/", params={"start_timestamp": "2026-06-01T00:00:00"})
    assert naive.status_code == 422
    names = api.get("/v1/events/names", params={"query": "ste"}).json()["items"]
    assert [(n["name"], n["occurrences"]) for n in names] == [("step", 2)]


# meter credits: benefit/strategies/meter_credit/service.py cycle ---------------------------
@pytest.mark.parametrize(("rollover", "balance"), [(False, 1000.0), (True, 1400.0)])
def test_meter_credit_rollover(emu, api, rollover, balance):
    benefit = emu.ids["api-credits"]
    api.patch(
        f"/v1/benefits/{benefit}",
        json={
            "properties": {"meter_id": emu.ids["api-calls"], "units": 1000, "rollover": rollover}
        },
    )
    product = api.post(
        "/v1/products/",
        json={
            "name": "Credits plan",
            "recurring_interval": "month",
            "prices": [{"amount_type": "fixed", "price_amount": 900}],
        },
    ).json()
    api.post(f"/v1/products/{product['id']}/benefits", json={"benefits": [benefit]})
    checkout = api.post("/v1/checkouts/", json={"products": [product["id"]]}).json()
    customer_id = emu.pay_checkout(checkout["id"], email="credits@example.com")["customer_id"]
    api.post(
        "/v1/events/ingest",
        json={"events": [{"name": "api_call", "customer_id": customer_id}] * 600},
    )
    emu.clock.advance(days=32)  # the grant cycles with the renewal
    meter = api.get("/v1/customer-meters/", params={"customer_id": customer_id}).json()["items"]
    assert meter[0]["balance"] == balance


# refunds: refund/endpoints.py list filters -------------------------------------------------
def test_refunds_are_filtered_by_id(emu, api):
    buy(api, emu, "lifetime")
    order = api.get("/v1/orders/").json()["items"][0]
    ids = [
        api.post(
            "/v1/refunds/", json={"order_id": order["id"], "reason": "other", "amount": amount}
        ).json()["id"]
        for amount in (100, 200)
    ]
    listed = api.get("/v1/refunds/", params={"id": ids[0]}).json()["items"]
    assert [r["id"] for r in listed] == [ids[0]]
    assert api.get("/v1/refunds/", params={"succeeded": "false"}).json()["items"] == []
