"""Bad requests get Polar's status codes and error bodies, never a 500."""

from __future__ import annotations

import httpx
import pytest

from polar_emulator import Emulator

from .oracle import load


def test_checkout_rejects_unknown_archived_and_bad_input(emu, api):
    unknown = api.post(
        "/v1/checkouts/", json={"products": ["3fa85f64-5717-4562-b3fc-2c963f66afa6"]}
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "products", 0]
    missing = api.post("/v1/checkouts/", json={})
    assert missing.status_code == 422
    assert missing.json()["detail"][0] == {
        "loc": ["body", "products"],
        "msg": "Field required",
        "type": "missing",
    }
    api.patch(f"/v1/products/{emu.ids['lifetime']}", json={"is_archived": True})
    archived = api.post("/v1/checkouts/", json={"products": [emu.ids["lifetime"]]})
    assert archived.status_code == 422 and "archived" in archived.json()["detail"][0]["msg"]
    donation = emu.ids["donation"]
    assert (
        api.post("/v1/checkouts/", json={"products": [donation], "amount": 99}).status_code == 422
    )
    assert (
        api.post("/v1/checkouts/", json={"products": [donation], "amount": 100001}).status_code
        == 422
    )
    ok = api.post("/v1/checkouts/", json={"products": [donation], "amount": 2500})
    assert load(ok.json(), "Checkout").total_amount == 2500
    bad_origin = api.post(
        "/v1/checkouts/", json={"products": [donation], "embed_origin": "https://a.test/path"}
    )
    assert bad_origin.json()["detail"][0]["loc"] == ["body", "embed_origin"]


def test_metadata_limits_follow_polar(emu, api):
    product = emu.ids["pro-monthly"]
    too_many = {f"k{i}": "v" for i in range(51)}
    assert (
        api.post("/v1/checkouts/", json={"products": [product], "metadata": too_many}).status_code
        == 422
    )
    long_key = api.post("/v1/checkouts/", json={"products": [product], "metadata": {"k" * 41: "v"}})
    assert long_key.status_code == 422
    long_value = api.post(
        "/v1/checkouts/", json={"products": [product], "metadata": {"k": "v" * 501}}
    )
    assert long_value.status_code == 422
    assert (
        api.post(
            "/v1/checkouts/", json={"products": [product], "metadata": {"k" * 40: "v" * 500}}
        ).status_code
        == 201
    )


def test_customer_uniqueness_and_immutable_external_id(api):
    first = api.post("/v1/customers/", json={"email": "a@example.com", "external_id": "u-1"})
    customer = load(first.json(), "CustomerIndividual")
    dup_email = api.post("/v1/customers/", json={"email": "A@example.com"})
    assert dup_email.status_code == 422 and dup_email.json()["detail"][0]["loc"] == [
        "body",
        "email",
    ]
    dup_ext = api.post("/v1/customers/", json={"email": "b@example.com", "external_id": "u-1"})
    assert dup_ext.status_code == 422 and dup_ext.json()["detail"][0]["loc"] == [
        "body",
        "external_id",
    ]
    change = api.patch(f"/v1/customers/{customer.id}", json={"external_id": "u-2"})
    assert change.status_code == 422
    same = api.patch(f"/v1/customers/{customer.id}", json={"external_id": "u-1", "name": "A"})
    assert same.status_code == 200 and same.json()["name"] == "A"
    team = load(
        api.post("/v1/customers/", json={"type": "team", "name": "Acme Team"}).json(),
        "CustomerTeam",
    )
    assert team.email is None
    assert api.delete(f"/v1/customers/{customer.id}").status_code == 204
    gone = api.get(f"/v1/customers/{customer.id}")
    assert gone.status_code == 404 and gone.json()["error"] == "ResourceNotFound"
    assert (
        api.post(
            "/v1/customers/", json={"email": "a@example.com", "external_id": "u-1"}
        ).status_code
        == 201
    )


def test_pagination_auth_and_versions(emu, api):
    page = api.get("/v1/products/", params={"limit": 2, "page": 2}).json()
    listing = load(page, "ListResourceProduct")
    assert (
        len(listing.items) == 2
        and listing.pagination.total_count == 6
        and listing.pagination.max_page == 3
    )
    over = api.get("/v1/products/", params={"limit": 101})
    assert over.status_code == 422 and over.json()["detail"][0]["loc"] == ["query", "limit"]
    anonymous = httpx.Client(transport=emu.transport(), base_url="https://x.test").get(
        "/v1/products/"
    )
    assert anonymous.status_code == 401
    locked = Emulator(access_token="polar_oat_right")
    wrong = httpx.Client(
        transport=locked.transport(),
        base_url="https://x.test",
        headers={"Authorization": "Bearer polar_oat_wrong"},
    )
    assert wrong.get("/v1/products/").status_code == 401
    assert api.get("/v1/products/", headers={"Polar-Version": "1999-01"}).status_code == 404
    no_version = httpx.Client(
        transport=emu.transport(), base_url="https://x.test", headers={"Authorization": "Bearer t"}
    )
    assert no_version.get("/v1/products/").status_code == 200
    assert api.get("/v1/subscriptions/not-a-uuid").status_code == 422
    assert api.post("/v1/customers/", content=b"{not json").status_code == 422


def test_subscription_update_rules(emu, api):
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids["pro-yearly"]]}).json()
    emu.pay_checkout(checkout["id"], email="s@example.com")
    sub_id = emu.store.checkouts[checkout["id"]]["subscription_id"]
    lifetime = api.patch(f"/v1/subscriptions/{sub_id}", json={"product_id": emu.ids["lifetime"]})
    assert lifetime.status_code == 422
    # subscription/service.py validate_seats_change: NotASeatBasedSubscription (400).
    seats = api.patch(f"/v1/subscriptions/{sub_id}", json={"seats": 3})
    assert seats.status_code == 400
    assert seats.json()["error"] == "NotASeatBasedSubscription"
    revoked = load(api.delete(f"/v1/subscriptions/{sub_id}").json(), "Subscription")
    assert revoked.status == "canceled" and revoked.ended_at is not None
    assert api.delete(f"/v1/subscriptions/{sub_id}").status_code == 403


@pytest.mark.parametrize(
    "email",
    [
        "a<b>@example.com",
        "ada@",
        "ada.example.com",
        "a..b@example.com",
        "ada@localhost",
        "ada@exa_mple.com",
        "ada lovelace@example.com",
        "ada@shop.test",
    ],
)
def test_invalid_emails_are_refused_like_polar(api, emu, email):
    checkout = api.post(
        "/v1/checkouts/", json={"products": [emu.ids["pro-monthly"]], "customer_email": email}
    )
    assert checkout.status_code == 422
    item = checkout.json()["detail"][0]
    assert item["loc"] == ["body", "customer_email"] and item["type"] == "value_error"
    assert item["msg"].startswith("value is not a valid email address: ")
    customer = api.post("/v1/customers/", json={"email": email})
    assert customer.status_code == 422 and customer.json()["detail"][0]["loc"] == ["body", "email"]
    assert emu.store.checkouts == {} and emu.store.customers == {}


@pytest.mark.parametrize(
    "email",
    [
        "ada+billing@example.com",
        "ada.lovelace@mail.eu.example.co.uk",
        "o'neil@example.com",
        "jörg@bücher.de",
        "ADA@Example.COM",
    ],
)
def test_real_world_emails_pass(api, emu, email):
    checkout = api.post(
        "/v1/checkouts/", json={"products": [emu.ids["pro-monthly"]], "customer_email": email}
    )
    assert checkout.status_code == 201, checkout.text
    assert load(checkout.json(), "Checkout").customer_email == email
    assert api.post("/v1/customers/", json={"email": email}).status_code == 201


def test_a_required_field_sent_as_null_is_a_422_not_a_500(emu, api):
    # Polar's pydantic models: SubscriptionUpdateBillingPeriod.current_billing_period_end is
    # an AwareDatetime and a seat-based price's seat_tiers a model, neither Optional.
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids["pro-yearly"]]}).json()
    emu.pay_checkout(checkout["id"], email="null@example.com")
    sub_id = emu.store.checkouts[checkout["id"]]["subscription_id"]
    period = api.patch(f"/v1/subscriptions/{sub_id}", json={"current_billing_period_end": None})
    assert period.status_code == 422
    assert period.json()["detail"][0]["loc"] == ["body", "current_billing_period_end"]
    assert period.json()["detail"][0]["type"] == "datetime_type"
    product = api.post(
        "/v1/products/",
        json={
            "name": "Seats",
            "recurring_interval": "month",
            "prices": [{"amount_type": "seat_based", "seat_tiers": None}],
        },
    )
    assert product.status_code == 422
    assert product.json()["detail"][0]["loc"] == ["body", "prices", 0, "seat_tiers"]
    assert product.json()["detail"][0]["type"] == "model_attributes_type"
