"""Which operations of the 2026-10 spec the emulator serves, and the routes issue 12 added.

``test_operation_coverage`` prints "N of M operations" and fails when an operation the
app calls (every ``PolarClient`` method, and the list paths sync and the admin page ask
for) or one the issue lists is not implemented.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polar_emulator import api as emulator_api
from tests.test_client import call_with_dummies, endpoint_methods, make, ok, spec_pairs

from .conftest import Recorder
from .oracle import load

APP = Path(__file__).resolve().parents[2] / "django_polar"

# Issue 12, "Coverage the app and its users need".
REQUIRED = {
    ("POST", "/v1/subscriptions/"),
    ("PATCH", "/v1/checkouts/{id}"),
    ("PATCH", "/v1/orders/{id}"),
    ("GET", "/v1/orders/{id}/receipt"),
    ("GET", "/v1/customers/{id}/payment-methods"),
    ("GET", "/v1/customers/external/{external_id}/payment-methods"),
    ("GET", "/v1/webhooks/endpoints"),
    ("POST", "/v1/webhooks/endpoints"),
    ("GET", "/v1/webhooks/endpoints/{id}"),
    ("PATCH", "/v1/webhooks/endpoints/{id}"),
    ("DELETE", "/v1/webhooks/endpoints/{id}"),
    ("PATCH", "/v1/webhooks/endpoints/{id}/secret"),
    ("GET", "/v1/webhooks/deliveries"),
    ("POST", "/v1/webhooks/events/{id}/redeliver"),
    ("PATCH", "/v1/checkout-links/{id}"),
    ("DELETE", "/v1/checkout-links/{id}"),
    ("PATCH", "/v1/license-keys/{id}"),
    ("GET", "/v1/license-keys/{id}/activations/{activation_id}"),
    ("GET", "/v1/meters/{id}/quantities"),
    ("GET", "/v1/payments/"),
    ("GET", "/v1/payments/{id}"),
    ("GET", "/v1/events/names"),
}


def implemented() -> set[tuple[str, str]]:
    return {(m, emulator_api.PATTERNS[h]) for m, _, h in emulator_api.ROUTES}


def template_of(path: str, pairs: set[tuple[str, str]], method: str) -> tuple[str, str]:
    for m, template in pairs:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if m == method and re.match(pattern, path):
            return m, template
    raise AssertionError(f"{method} {path} is not an operation of the spec")


def app_operations(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every operation a PolarClient method calls, plus the list paths other modules
    fetch page by page with ``get_page`` (sync, the admin's connection check)."""
    page = {"items": [{"id": "x"}], "pagination": {"total_count": 1, "max_page": 1}}
    # Also a valid object answer (the client refuses objects without their key).
    page.update(id="x", customer_portal_url="https://polar.sh/portal")
    ops = set()
    for name in endpoint_methods():
        client, recorder, _ = make(ok(page))
        call_with_dummies(client, name)
        request = recorder.requests[0]
        path = request.url.raw_path.split(b"?")[0].decode()
        ops.add(template_of(path, pairs, request.method))
    for source in APP.rglob("*.py"):
        if source.name == "client.py":
            continue
        for literal in re.findall(r'"(/v1/[a-z0-9/_-]*/)"', source.read_text()):
            ops.add(template_of(literal, pairs, "GET"))
    return ops


def test_operation_coverage():
    pairs = spec_pairs()
    served = implemented()
    assert served <= pairs, f"routes the spec does not have: {sorted(served - pairs)}"
    app = app_operations(pairs)
    print(f"\nemulator operation coverage: {len(served)} of {len(pairs)} operations of the spec")
    print(f"app operations: {len(app & served)} of {len(app)} served")
    assert not app - served, (
        f"operations the app calls that the emulator lacks: {sorted(app - served)}"
    )
    assert not REQUIRED - served, sorted(REQUIRED - served)


def test_an_unimplemented_operation_answers_like_an_unknown_route(api):
    # Polar (FastAPI) on a path it does not route: 404 {"detail": "Not Found"}.
    unknown = api.get("/v1/no-such-thing/")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not Found"})
    unserved = sorted(spec_pairs() - implemented())
    method, template = next((m, t) for m, t in unserved if m == "GET" and "{" not in t)
    answer = api.request(method, template)
    assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})


# POST /v1/subscriptions/: subscription/service.py create ---------------------------------
def test_a_free_product_subscription_is_created_by_api(emu, hook, api):
    free = api.post(
        "/v1/products/",
        json={
            "name": "Free",
            "recurring_interval": "month",
            "prices": [{"amount_type": "fixed", "price_amount": 0}],
        },
    ).json()
    api.post(f"/v1/products/{free['id']}/benefits", json={"benefits": [emu.ids["pro-features"]]})
    api.post("/v1/customers/", json={"email": "free@example.com", "external_id": "u-free"})
    paid = api.post(
        "/v1/subscriptions/",
        json={"product_id": emu.ids["pro-yearly"], "external_customer_id": "u-free"},
    )
    assert paid.status_code == 422
    assert paid.json()["detail"][0]["msg"].startswith("Product is not free.")
    nobody = api.post(
        "/v1/subscriptions/", json={"product_id": free["id"], "external_customer_id": "u-none"}
    )
    assert nobody.json()["detail"][0]["loc"] == ["body", "external_customer_id"]
    hook.clear()
    created = api.post(
        "/v1/subscriptions/", json={"product_id": free["id"], "external_customer_id": "u-free"}
    )
    assert created.status_code == 201
    sub = load(created.json(), "Subscription")
    assert (sub.status, sub.amount) == ("active", 0)
    types = hook.types()
    assert [t for t in types if t.startswith("subscription.")] == [
        "subscription.created",
        "subscription.active",
        "subscription.updated",
    ]
    assert "benefit_grant.created" in types and "order.created" not in types


# checkouts and links -----------------------------------------------------------------------
def test_a_checkout_is_updated_by_the_merchant(emu, api):
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids["pro-yearly"]]}).json()
    body = {"metadata": {"campaign": "spring"}, "customer_email": "m@example.com"}
    updated = load(api.patch(f"/v1/checkouts/{checkout['id']}", json=body).json(), "Checkout")
    assert updated.metadata == {"campaign": "spring"}
    assert updated.customer_email == "m@example.com"
    emu.pay_checkout(checkout["id"])
    closed = api.patch(f"/v1/checkouts/{checkout['id']}", json={"metadata": {}})
    assert closed.status_code == 403 and closed.json()["error"] == "NotOpenCheckout"


def test_a_checkout_link_is_updated_and_deleted(emu, api):
    link = api.post(
        "/v1/checkout-links/",
        json={"payment_processor": "stripe", "products": [emu.ids["lifetime"]]},
    ).json()
    updated = api.patch(
        f"/v1/checkout-links/{link['id']}",
        json={"label": "Spring", "products": [emu.ids["pro-yearly"]]},
    ).json()
    assert updated["label"] == "Spring"
    assert [p["id"] for p in updated["products"]] == [emu.ids["pro-yearly"]]
    assert api.delete(f"/v1/checkout-links/{link['id']}").status_code == 204
    assert api.get(f"/v1/checkout-links/{link['id']}").status_code == 404
    assert link["id"] not in [k["id"] for k in api.get("/v1/checkout-links/").json()["items"]]
    with pytest.raises(Exception, match="Checkout link not found"):
        emu.open_checkout_link(link["client_secret"])


# orders: receipts, payments, payment methods ---------------------------------------------
def test_receipts_payments_and_saved_cards(emu, api):
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids["pro-yearly"]]}).json()
    customer_id = emu.pay_checkout(checkout["id"], email="card@example.com")["customer_id"]
    order = api.get("/v1/orders/").json()["items"][0]
    assert api.get(f"/v1/orders/{order['id']}/receipt").status_code == 202
    emu.clock.advance(seconds=1)
    receipt = api.get(f"/v1/orders/{order['id']}/receipt")
    assert receipt.status_code == 200 and receipt.json()["url"].endswith(".pdf")
    payments = api.get("/v1/payments/", params={"order_id": order["id"]}).json()["items"]
    assert [(p["status"], p["amount"], p["trigger"]) for p in payments] == [
        ("succeeded", order["total_amount"], "purchase")
    ]
    assert api.get("/v1/payments/", params={"status": "failed"}).json()["items"] == []
    methods = api.get(f"/v1/customers/{customer_id}/payment-methods").json()["items"]
    assert [(m["type"], m["method_metadata"]["last4"], m["is_default"]) for m in methods] == [
        ("card", "4242", True)
    ]
    emu.fail_next_renewal(api.get(f"/v1/checkouts/{checkout['id']}").json()["subscription_id"])
    emu.clock.advance(days=366)  # the renewal is declined
    emu.clock.advance(days=3)  # and so is the first dunning retry (+2 days)
    failed = api.get("/v1/payments/", params={"status": "failed"}).json()["items"]
    # the renewal, then each dunning retry (newest first), all declined
    assert {p["decline_reason"] for p in failed} == {"card_declined"}
    assert failed[-1]["trigger"] == "subscription_cycle"
    assert {p["trigger"] for p in failed[:-1]} == {"retry_dunning"} and len(failed) > 1


# webhook endpoints: webhook/service.py, webhook/schemas.py -------------------------------
@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/polar", "https://localhost/polar", "https://10.0.0.5/x"]
)
def test_webhook_endpoints_need_a_public_https_url(api, url):
    refused = api.post("/v1/webhooks/endpoints", json={"url": url, "format": "raw", "events": []})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "url"]


def test_an_api_endpoint_receives_signed_events_and_can_redeliver(emu, api):
    url = "https://hooks.example.com/polar"
    endpoint = api.post(
        "/v1/webhooks/endpoints",
        json={"url": url, "format": "raw", "events": ["checkout.created"]},
    ).json()
    assert endpoint["secret"].startswith("whsec_")
    receiver = Recorder(endpoint["secret"])
    emu.route_webhook_url(url, receiver)
    api.post("/v1/checkouts/", json={"products": [emu.ids["lifetime"]]})
    assert receiver.types() == ["checkout.created"]
    deliveries = api.get("/v1/webhooks/deliveries").json()["items"]
    assert [(d["succeeded"], d["http_code"]) for d in deliveries] == [(True, 200)]
    event_id = deliveries[0]["webhook_event"]["id"]
    assert receiver.ids == [event_id]
    assert api.post(f"/v1/webhooks/events/{event_id}/redeliver").status_code == 202
    assert receiver.ids == [event_id, event_id]  # the same event, the same webhook-id
    assert api.get("/v1/webhooks/deliveries").json()["pagination"]["total_count"] == 2
    rotated = api.patch(f"/v1/webhooks/endpoints/{endpoint['id']}/secret").json()
    assert rotated["secret"] != endpoint["secret"]
    receiver.secret = rotated["secret"]  # the Recorder verifies every delivery with it
    api.post("/v1/checkouts/", json={"products": [emu.ids["lifetime"]]})
    assert len(receiver.events) == 3
    api.patch(f"/v1/webhooks/endpoints/{endpoint['id']}", json={"enabled": False})
    api.post("/v1/checkouts/", json={"products": [emu.ids["lifetime"]]})
    assert len(receiver.events) == 3
    assert api.delete(f"/v1/webhooks/endpoints/{endpoint['id']}").status_code == 204
    assert api.get(f"/v1/webhooks/endpoints/{endpoint['id']}").status_code == 404


def test_an_unrouted_endpoint_fails_without_leaving_the_machine(emu, api):
    api.post(
        "/v1/webhooks/endpoints",
        json={
            "url": "https://nowhere.example.com/h",
            "format": "raw",
            "events": ["checkout.created"],
        },
    )
    api.post("/v1/checkouts/", json={"products": [emu.ids["lifetime"]]})
    delivery = api.get("/v1/webhooks/deliveries").json()["items"][0]
    assert (delivery["succeeded"], delivery["http_code"]) == (False, None)
    assert "nothing off this machine" in delivery["response"]


# meters: GET /v1/meters/{id}/quantities --------------------------------------------------
def test_meter_quantities_per_day(emu, api):
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids["lifetime"]]}).json()
    customer_id = emu.pay_checkout(checkout["id"], email="q@example.com")["customer_id"]
    events = [
        {"name": "api_call", "customer_id": customer_id, "timestamp": f"2026-03-0{day}T10:00:00Z"}
        for day in (1, 1, 3)
    ]
    api.post("/v1/events/ingest", json={"events": events})
    answer = api.get(
        f"/v1/meters/{emu.ids['api-calls']}/quantities",
        params={
            "start_timestamp": "2026-03-01T00:00:00Z",
            "end_timestamp": "2026-03-03T23:00:00Z",
            "interval": "day",
        },
    )
    quantities = load(answer.json(), "MeterQuantities")
    assert [q.quantity for q in quantities.quantities] == [2.0, 0.0, 1.0]
    assert quantities.total == 3.0
    missing = api.get(f"/v1/meters/{emu.ids['api-calls']}/quantities")
    assert missing.status_code == 422
