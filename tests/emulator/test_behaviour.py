"""Usage, license keys, trials, past due, plan changes, faults, delivery rules, persistence."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, HTTPServer

from polar_emulator import Emulator
from polar_emulator.webhooks import DISABLE_AFTER, MAX_ATTEMPTS

from .conftest import STANDARD_SECRET, Recorder
from .oracle import check_signed, load


def _subscribe(emu, api, key, external_id="u-1", **extra):
    checkout = api.post(
        "/v1/checkouts/",
        json={"products": [emu.ids[key]], "external_customer_id": external_id, **extra},
    ).json()
    emu.pay_checkout(checkout["id"], email=f"{external_id}@example.com", name="Buyer")
    return emu.store.checkouts[checkout["id"]]["subscription_id"]


def test_usage_ingest_dedupes_and_moves_meters(emu, api):
    sub_id = _subscribe(emu, api, "api-metered")
    events = [
        {"name": "api_call", "external_customer_id": "u-1", "external_id": f"e{i}"}
        for i in range(3)
    ]
    assert api.post("/v1/events/ingest", json={"events": events}).json() == {
        "inserted": 3,
        "duplicates": 0,
    }
    again = api.post(
        "/v1/events/ingest",
        json={"events": [*events, {"name": "other", "external_customer_id": "u-1"}]},
    )
    assert again.json() == {"inserted": 1, "duplicates": 3}
    meters = load(
        api.get("/v1/customer-meters/", params={"external_customer_id": "u-1"}).json(),
        "ListResourceCustomerMeter",
    )
    meter = meters.items[0]
    assert (meter.consumed_units, meter.credited_units, meter.balance) == (3.0, 1000, 997.0)
    load(api.get("/v1/events/", params={"name": "api_call"}).json(), "ListResourceEvent")
    # 1003 calls in the period: 1000 credited, 3 billed at 0.5 cents -> rounds to 2
    api.post(
        "/v1/events/ingest",
        json={"events": [{"name": "api_call", "external_customer_id": "u-1"}] * 1000},
    )
    emu.clock.advance(days=32)
    orders = load(
        api.get("/v1/orders/", params={"subscription_id": sub_id}).json(), "ListResourceOrder"
    )
    renewal = next(o for o in orders.items if o.billing_reason == "subscription_cycle")
    assert renewal.total_amount == 500 + 2
    state = load(api.get("/v1/customers/external/u-1/state").json(), "CustomerStateIndividual")
    assert (
        state.active_meters[0].consumed_units == 0.0
        and state.active_meters[0].credited_units == 1000
    )


def test_license_keys_validate_activate_deactivate(emu, api):
    _subscribe(emu, api, "lifetime")
    key = load(api.get("/v1/license-keys/").json(), "ListResourceLicenseKeyRead").items[0]
    org = emu.store.organization["id"]
    valid = load(
        api.post("/v1/license-keys/validate", json={"key": key.key, "organization_id": org}).json(),
        "ValidatedLicenseKey",
    )
    assert valid.validations == 1
    acts = [
        api.post(
            "/v1/license-keys/activate",
            json={"key": key.key, "organization_id": org, "label": f"pc{i}"},
        )
        for i in range(4)
    ]
    assert [a.status_code for a in acts] == [200, 200, 200, 403]
    activation = load(acts[0].json(), "LicenseKeyActivationRead")
    assert (
        api.post(
            "/v1/license-keys/deactivate",
            json={"key": key.key, "organization_id": org, "activation_id": activation.id},
        ).status_code
        == 204
    )
    detail = load(api.get(f"/v1/license-keys/{key.id}").json(), "LicenseKeyWithActivations")
    assert len(detail.activations) == 2
    assert (
        api.post(
            "/v1/license-keys/validate", json={"key": "nope", "organization_id": org}
        ).status_code
        == 404
    )


def test_trial_converts_then_past_due_then_recovers(emu, hook, api):
    sub_id = _subscribe(emu, api, "pro-monthly")
    sub = load(api.get(f"/v1/subscriptions/{sub_id}").json(), "Subscription")
    assert sub.status == "trialing" and sub.trial_end
    # Polar announces subscription.active at creation (trialing is active) ...
    assert "subscription.active" in hook.types()
    hook.clear()
    emu.clock.advance(days=15)
    # ... and not again when the trial converts.
    assert hook.types()[0] == "subscription.updated"
    assert "subscription.active" not in hook.types()
    assert load(api.get(f"/v1/subscriptions/{sub_id}").json(), "Subscription").status == "active"
    emu.fail_next_renewal(sub_id)
    hook.clear()
    emu.clock.advance(days=31)
    assert hook.types() == [
        "subscription.updated",
        "order.created",
        "subscription.cycled",
        "subscription.updated",
        "subscription.past_due",
        "benefit_grant.revoked",
        "benefit_grant.revoked",
        "customer.state_changed",
    ]
    state = load(api.get("/v1/customers/external/u-1/state").json(), "CustomerStateIndividual")
    assert state.active_subscriptions == [] and state.granted_benefits == []
    emu.recover_subscription(sub_id)
    assert load(api.get(f"/v1/subscriptions/{sub_id}").json(), "Subscription").status == "active"
    state = load(api.get("/v1/customers/external/u-1/state").json(), "CustomerStateIndividual")
    assert len(state.granted_benefits) == 2


def test_plan_change_invoice_and_uncancel(emu, hook, api):
    sub_id = _subscribe(emu, api, "team", seats=3)
    sub = load(api.get(f"/v1/subscriptions/{sub_id}").json(), "Subscription")
    assert (sub.seats, sub.amount) == (3, 3000)
    hook.clear()
    api.patch(f"/v1/subscriptions/{sub_id}", json={"seats": 12, "proration_behavior": "invoice"})
    assert "order.paid" in hook.types()
    update_order = next(e["data"] for e in hook.events if e["type"] == "order.created")
    assert (
        update_order["billing_reason"] == "subscription_update" and update_order["total_amount"] > 0
    )
    assert load(api.get(f"/v1/subscriptions/{sub_id}").json(), "Subscription").amount == 12 * 800
    emu.cancel_subscription(sub_id)
    hook.clear()
    emu.uncancel_subscription(sub_id)
    assert hook.types() == [
        "subscription.updated",
        "subscription.uncanceled",
        "customer.state_changed",
    ]
    # subscription/service.py validate_product_change: seat -> non-seat is refused.
    refused = api.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"product_id": emu.ids["pro-yearly"], "proration_behavior": "next_period"},
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == (
        "Can't switch from a seat-based to a non-seat-based product."
    )
    nxt = api.patch(
        f"/v1/subscriptions/{sub_id}", json={"seats": 4, "proration_behavior": "next_period"}
    )
    assert load(nxt.json(), "Subscription").pending_update.seats == 4
    monthly = _subscribe(emu, api, "pro-monthly", external_id="u-2", allow_trial=False)
    nxt = api.patch(
        f"/v1/subscriptions/{monthly}",
        json={"product_id": emu.ids["pro-yearly"], "proration_behavior": "next_period"},
    )
    assert load(nxt.json(), "Subscription").pending_update.product_id == emu.ids["pro-yearly"]
    emu.clock.advance(days=31)
    after = load(api.get(f"/v1/subscriptions/{monthly}").json(), "Subscription")
    assert after.product_id == emu.ids["pro-yearly"]
    seated = load(api.get(f"/v1/subscriptions/{sub_id}").json(), "Subscription")
    assert (seated.seats, seated.amount) == (4, 4 * 1000)


def test_customer_session_portal_url(emu, api):
    _subscribe(emu, api, "lifetime")
    session = load(
        api.post(
            "/v1/customer-sessions/",
            json={"external_customer_id": "u-1", "return_url": "https://app.test/account"},
        ).json(),
        "CustomerSession",
    )
    assert session.customer_portal_url == f"{emu.base_url}/portal/{session.token}"
    assert emu.customer_session(session.token)["customer"]["external_id"] == "u-1"
    emu.clock.advance(hours=2)
    assert emu.customer_session(session.token) is None
    unknown = api.post("/v1/customer-sessions/", json={"external_customer_id": "nobody"})
    assert unknown.status_code == 422


def test_faults_rate_limit_and_server_errors(emu, api):
    emu.faults.rate_limit = 2
    codes = [api.get("/v1/products/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = api.get("/v1/products/")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    emu.faults.reset()
    emu.faults.fail_next(2, status=503)
    assert [api.get("/v1/products/").status_code for _ in range(3)] == [503, 503, 200]


def test_failing_endpoint_holds_later_events_and_retries(emu, api):
    hook = Recorder(STANDARD_SECRET)
    hook.status = 500
    emu.add_webhook_endpoint(hook, secret=STANDARD_SECRET)
    api.post("/v1/customers/", json={"email": "a@example.com"})
    api.post("/v1/customers/", json={"email": "b@example.com"})
    assert hook.types() == ["customer.created"]  # the second waits behind the failing first
    first_id = hook.ids[0]
    hook.status = 200
    emu.deliver(force=True)
    assert hook.ids[1] == first_id  # same webhook-id on retry
    assert [e["data"]["email"] for e in hook.events[1:]] == ["a@example.com", "b@example.com"]


def _fail_events(emu, api, n: int, start: int = 0) -> None:
    """Emit n customer.created events and let each fail all its MAX_ATTEMPTS deliveries."""
    for i in range(start, start + n):
        api.post("/v1/customers/", json={"email": f"f{i}@example.com"})
        for _ in range(MAX_ATTEMPTS):
            emu.deliver(force=True)


def test_endpoint_is_disabled_after_ten_failed_events_not_ten_failed_attempts(emu, api):
    # webhook/service.py on_event_failed: the 10 latest finished events all failed.
    hook = Recorder(STANDARD_SECRET)
    hook.status = 500
    endpoint = emu.add_webhook_endpoint(hook, secret=STANDARD_SECRET)
    _fail_events(emu, api, 1)
    assert len(hook.ids) == MAX_ATTEMPTS and set(hook.ids) == {hook.ids[0]}
    assert endpoint.enabled  # one event failing 10 attempts disables nothing
    record = emu.webhooks.webhook_events[hook.ids[0]]
    assert record["succeeded"] is False and record["last_http_code"] == 500
    _fail_events(emu, api, DISABLE_AFTER - 2, start=1)
    assert endpoint.enabled
    hook.status = 200  # a success in between breaks the streak
    api.post("/v1/customers/", json={"email": "ok@example.com"})
    hook.status = 500
    _fail_events(emu, api, DISABLE_AFTER - 1, start=20)
    assert endpoint.enabled
    _fail_events(emu, api, 1, start=40)
    assert endpoint.enabled is False
    sent = len(hook.ids)
    api.post("/v1/customers/", json={"email": "late@example.com"})
    emu.deliver(force=True)
    assert len(hook.ids) == sent  # a disabled endpoint gets nothing, and no event is made
    assert not any("late@example.com" in e["payload"] for e in emu.webhooks.webhook_events.values())


def test_an_events_succeeded_stays_null_while_retries_remain(emu, api):
    hook = Recorder(STANDARD_SECRET)
    hook.status = 503
    emu.add_webhook_endpoint(hook, secret=STANDARD_SECRET)
    api.post("/v1/customers/", json={"email": "a@example.com"})
    record = emu.webhooks.webhook_events[hook.ids[0]]
    assert record["succeeded"] is None and record["last_http_code"] == 503
    attempts = [d for d in emu.webhooks.deliveries if d["_webhook_event_id"] == hook.ids[0]]
    assert [d["succeeded"] for d in attempts] == [False]  # one delivery per attempt
    hook.status = 200
    emu.deliver(force=True)
    assert record["succeeded"] is True


def test_pending_events_are_skipped_when_the_endpoint_is_disabled(emu, api):
    hook = Recorder(STANDARD_SECRET)
    hook.status = 500
    endpoint = emu.add_webhook_endpoint(hook, secret=STANDARD_SECRET)
    for i in range(DISABLE_AFTER - 1):
        api.post("/v1/customers/", json={"email": f"f{i}@example.com"})
        for _ in range(MAX_ATTEMPTS):
            emu.deliver(force=True)
    api.post("/v1/customers/", json={"email": "last@example.com"})
    api.post("/v1/customers/", json={"email": "waiting@example.com"})  # behind the failing one
    for _ in range(MAX_ATTEMPTS):
        emu.deliver(force=True)
    assert endpoint.enabled is False
    waiting = next(
        e for e in emu.webhooks.webhook_events.values() if "waiting@example.com" in e["payload"]
    )
    assert waiting["skipped"] is True and waiting["succeeded"] is None
    endpoint.enabled = True
    hook.status = 200
    emu.deliver(force=True)
    assert "waiting@example.com" not in [
        e["data"].get("email") for e in hook.events
    ]  # stays skipped


def test_duplicate_deliveries_share_the_webhook_id(emu, api):
    hook = Recorder(STANDARD_SECRET)
    emu.add_webhook_endpoint(hook, secret=STANDARD_SECRET)
    emu.faults.duplicate_next(1)
    api.post("/v1/customers/", json={"email": "a@example.com"})
    assert len(hook.ids) == 2 and hook.ids[0] == hook.ids[1]


def test_real_http_delivery_to_a_url():
    received: list[tuple[bytes, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, dict(self.headers)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        emu = Emulator(frozen_clock=True)
        emu.add_webhook_endpoint(
            f"http://127.0.0.1:{server.server_port}/hook", secret=STANDARD_SECRET
        )
        emu.handle(
            "POST", "/v1/customers/", {"Authorization": "Bearer t"}, b'{"email": "h@example.com"}'
        )
        body, headers = received[0]
        assert check_signed(body, headers, STANDARD_SECRET).data.email == "h@example.com"
    finally:
        server.shutdown()


def test_save_and_load_keep_state(emu, api, tmp_path):
    sub_id = _subscribe(emu, api, "pro-yearly")
    path = tmp_path / "emu.json"
    emu.save(path)
    restored = Emulator.load(path, frozen_clock=True)
    assert restored.ids == emu.ids
    assert restored.ser.subscription(sub_id) == emu.ser.subscription(sub_id)
    restored.clock.advance(days=366)
    assert len([o for o in restored.store.orders.values() if o["subscription_id"] == sub_id]) == 2


def test_every_429_carries_retry_after(emu, api):
    emu.faults.fail_next(1, status=429)
    limited = api.get("/v1/products/")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json() == {"error": "TooManyRequests", "detail": "Rate limit exceeded."}
    emu.faults.retry_after = 7
    emu.faults.error_rate, emu.faults.error_status = 1.0, 429
    assert api.get("/v1/products/").headers["Retry-After"] == "7"


def test_checkout_link_opened_from_an_embed_announces_its_origin(emu, api, hook):
    link = api.post(
        "/v1/checkout-links/",
        json={"payment_processor": "stripe", "products": [emu.ids["lifetime"]]},
    ).json()
    checkout = emu.open_checkout_link(link["client_secret"], embed_origin="https://blog.example")
    assert checkout["embed_origin"] == "https://blog.example"
    created = [e for e in hook.events if e["type"] == "checkout.created"][-1]
    assert created["data"]["id"] == checkout["id"]
    assert created["data"]["embed_origin"] == "https://blog.example"
    plain = emu.open_checkout_link(link["client_secret"])
    assert plain["embed_origin"] is None


def test_head_is_get_without_a_body(emu, api):
    head = api.head("/v1/products/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/json"
    assert api.head("/v1/products/00000000-0000-4000-8000-000000000000").status_code == 404


def test_latency_fault_delays_every_answer(emu, api):
    emu.faults.latency = 0.2
    started = time.monotonic()
    response = api.get("/v1/products/")
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 200


def test_shuffle_fault_delivers_a_permutation(emu, hook, api):
    emu.faults.shuffle = True
    # Faults keep their own rng, which rng_seed= does not seed: seed it for a fixed order.
    emu.faults.rng.seed(3)
    _subscribe(emu, api, "pro-yearly")
    emitted = emu.event_types()[-len(hook.events) :]
    assert sorted(hook.types()) == sorted(emitted)
    assert hook.types() != emitted
    assert len(set(hook.ids)) == len(hook.ids)  # each delivered once


def test_duplicate_rate_one_delivers_every_webhook_twice(emu, hook, api):
    emu.faults.duplicate_rate = 1.0
    before = len(emu.sent_events)
    _subscribe(emu, api, "pro-yearly")
    counts = Counter(hook.ids)
    assert len(counts) == len(emu.sent_events) - before
    assert set(counts.values()) == {2}
    assert hook.types()[0::2] == hook.types()[1::2] == emu.event_types()[before:]


def test_revoke_sends_polars_immediate_revocation_sequence(emu, hook, api):
    # Polar docs, "Immediate Revocation": subscription.updated, .canceled, .revoked; then
    # the grants go and the customer's state changes.
    sub_id = _subscribe(emu, api, "pro-yearly")
    grants = len(emu.store.products[emu.ids["pro-yearly"]]["_benefit_ids"])
    hook.clear()
    revoked = load(api.delete(f"/v1/subscriptions/{sub_id}").json(), "Subscription")
    assert revoked.status == "canceled" and revoked.ended_at
    assert hook.types() == [
        "subscription.updated",
        "subscription.canceled",
        "subscription.revoked",
        *["benefit_grant.revoked"] * grants,
        "customer.state_changed",
    ]
    assert grants == 2
    assert {e["data"]["status"] for e in hook.events[:3]} == {"canceled"}


def test_immediate_product_change_invoices_the_proration(emu, hook, api):
    # Not spelled out in Polar's docs; it follows their renewal sequence (updated, then
    # the order: created pending, updated + paid), then the state change.
    sub_id = _subscribe(emu, api, "pro-monthly")
    emu.clock.advance(days=15)  # past the 14-day trial
    hook.clear()
    changed = api.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"product_id": emu.ids["pro-yearly"], "proration_behavior": "invoice"},
    )
    assert load(changed.json(), "Subscription").product_id == emu.ids["pro-yearly"]
    assert hook.types() == [
        "subscription.updated",
        "order.created",
        "order.updated",
        "order.paid",
        "customer.state_changed",
    ]
    orders = [e["data"] for e in hook.events[1:4]]
    assert {o["billing_reason"] for o in orders} == {"subscription_update"}
    assert [o["status"] for o in orders] == ["pending", "paid", "paid"]
    assert orders[0]["total_amount"] > 0
