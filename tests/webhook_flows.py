"""Emulator flows that make Polar send real, signed webhooks, shared by the inbox tests.

Every event these produce comes from the emulator's own state changes and is signed by it
(Standard Webhooks, the emulator's endpoint secret): no hand-written payloads, except for
the few types the emulator never emits (``never_emitted_payloads``), which are checked
against the official SDK before use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import polar
from django.conf import settings
from polar.v2026_10 import outputs

from polar_emulator import Emulator

URL = "/polar/webhook/"


def webhook_secret() -> str:
    """The secret the test project's view verifies with (tests/settings.py)."""
    return str(settings.POLAR["WEBHOOK_SECRET"])


@dataclass
class Recorder:
    """A callable webhook endpoint that keeps every delivery exactly as it was sent."""

    status: int = 200
    deliveries: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def __call__(self, body: bytes, headers: dict[str, str]) -> int:
        self.deliveries.append((body, dict(headers)))
        return self.status


def recording_emulator(
    *, secret: str | None = None, scheme: str = "standard"
) -> tuple[Emulator, Recorder]:
    """A plain seeded Emulator whose only endpoint records (body, headers)."""
    emu = Emulator(seed="default")
    recorder = Recorder()
    emu.add_webhook_endpoint(recorder, secret=secret or webhook_secret(), scheme=scheme)
    return emu, recorder


def api_client(emu: Emulator) -> httpx.Client:
    """The Polar API of ``emu`` as an HTTP client (what any Polar integration calls)."""
    return httpx.Client(
        transport=emu.transport(),
        base_url="https://sandbox-api.polar.sh",
        headers={"Authorization": "Bearer polar_oat_test", "Polar-Version": "2026-10"},
    )


def post_signed(client: Any, body: bytes, headers: dict[str, str]) -> Any:
    """POST one delivery to the inbox exactly as the emulator sent it."""
    extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return client.post(URL, data=body, content_type="application/json", headers=extra)


def buy_monthly(emu: Emulator, external_id: str) -> str:
    """The customer ``external_id`` buys the monthly plan; returns the checkout id."""
    checkout = (
        api_client(emu)
        .post(
            "/v1/checkouts/",
            json={"products": [emu.product_id("pro-monthly")], "external_customer_id": external_id},
        )
        .json()
    )
    emu.pay_checkout(checkout["id"], email="ada@example.com")
    emu.deliver()
    return checkout["id"]


def purchase_cancel_uncancel_revoke(emu: Emulator, external_id: str) -> str:
    """A customer buys the monthly plan, cancels, changes their mind, then is revoked."""
    checkout_id = buy_monthly(emu, external_id)
    sub_id = emu.store.checkouts[checkout_id]["subscription_id"]
    for step in (emu.cancel_subscription, emu.uncancel_subscription, emu.revoke_subscription):
        emu.clock.advance(minutes=5)
        step(sub_id)
        emu.deliver()
    return str(sub_id)


@dataclass
class FlowIds:
    subscription_id: str
    customer_id: str  # the customer deleted at the end
    order_id: str


def every_event_flow(emu: Emulator) -> FlowIds:
    """Every state change that makes the emulator emit its 41 event types (catalog changes,
    customers, an expired checkout, a subscription's whole life, a refund, a deletion)."""
    api = api_client(emu)
    ids = emu.ids
    benefit = api.post(
        "/v1/benefits/",
        json={"type": "custom", "description": "Priority support", "properties": {"note": "Hi"}},
    ).json()
    product = api.post(
        "/v1/products/",
        json={
            "name": "Starter",
            "recurring_interval": "month",
            "prices": [{"amount_type": "fixed", "price_amount": 500}],
        },
    ).json()
    api.post(f"/v1/products/{product['id']}/benefits", json={"benefits": [benefit["id"]]})
    discount = api.post(
        "/v1/discounts/",
        json={"type": "percentage", "basis_points": 1000, "name": "Ten", "duration": "once"},
    ).json()
    api.patch(f"/v1/discounts/{discount['id']}", json={"name": "Ten percent"})
    api.delete(f"/v1/discounts/{discount['id']}")

    customer = api.post(
        "/v1/customers/", json={"email": "c@example.com", "external_id": "c-1"}
    ).json()
    api.patch(f"/v1/customers/{customer['id']}", json={"name": "C"})

    api.post("/v1/checkouts/", json={"products": [ids["lifetime"]]})
    emu.clock.advance(hours=2)  # the abandoned checkout expires

    checkout = api.post(
        "/v1/checkouts/", json={"products": [ids["pro-yearly"]], "external_customer_id": "c-1"}
    ).json()
    emu.pay_checkout(checkout["id"])
    sub_id = emu.store.checkouts[checkout["id"]]["subscription_id"]
    emu.fail_next_renewal(sub_id)
    emu.clock.advance(days=366)
    emu.recover_subscription(sub_id)
    # ``reset`` proration is a feature Polar enables per organization (organization.updated)
    emu.configure_organization(feature_settings={"reset_proration_behavior_enabled": True})
    api.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"product_id": product["id"], "proration_behavior": "reset"},
    )
    api.patch(f"/v1/benefits/{benefit['id']}", json={"description": "Priority support+"})
    emu.clock.advance(days=32)
    api.patch(f"/v1/subscriptions/{sub_id}", json={"pause_at_period_end": True})
    emu.clock.advance(days=32)
    api.patch(f"/v1/subscriptions/{sub_id}", json={"resume": True})
    api.patch(f"/v1/subscriptions/{sub_id}", json={"cancel_at_period_end": True})
    api.patch(f"/v1/subscriptions/{sub_id}", json={"cancel_at_period_end": False})
    api.delete(f"/v1/subscriptions/{sub_id}")

    order = api.get("/v1/orders/", params={"subscription_id": sub_id, "limit": 1}).json()
    order_id = order["items"][0]["id"]
    api.post("/v1/refunds/", json={"order_id": order_id, "reason": "other", "amount": 100})

    # Seats: a team purchase (member.created for the owner), an invitation, its claim,
    # a revocation; then a member added, renamed and removed.
    team = api.post(
        "/v1/checkouts/",
        json={"products": [ids["team"]], "external_customer_id": "c-1", "seats": 3},
    ).json()
    emu.pay_checkout(team["id"])
    team_sub = emu.store.checkouts[team["id"]]["subscription_id"]
    seat = api.post(
        "/v1/customer-seats", json={"subscription_id": team_sub, "email": "m@example.com"}
    ).json()
    token = emu.store.customer_seats[seat["id"]]["_invitation_token"]
    api.post("/v1/customer-seats/claim", json={"invitation_token": token})
    api.delete(f"/v1/customer-seats/{seat['id']}")
    added = api.post(
        f"/v1/customers/{customer['id']}/members", json={"email": "n@example.com"}
    ).json()
    api.patch(f"/v1/customers/{customer['id']}/members/{added['id']}", json={"name": "N"})
    api.delete(f"/v1/customers/{customer['id']}/members/{added['id']}")
    api.delete(f"/v1/customers/{customer['id']}")
    emu.deliver()
    return FlowIds(subscription_id=sub_id, customer_id=customer["id"], order_id=order_id)


def never_emitted_payloads(emu: Emulator, flow: FlowIds) -> dict[str, dict[str, Any]]:
    """Data for the types the emulator never emits, built from its state, SDK-checked."""
    api = api_client(emu)
    subscription = api.get(f"/v1/subscriptions/{flow.subscription_id}").json()
    payloads = {
        "subscription.migrated": (subscription, outputs.Subscription),
    }
    for data, model in payloads.values():
        polar.deserialize(data, model)  # raises if Polar's SDK would reject it
    return {event_type: data for event_type, (data, _) in payloads.items()}


Delivery = tuple[bytes, dict[str, str]]


def type_of(delivery: Delivery) -> str:
    return str(json.loads(delivery[0])["type"])


def purchase_deliveries(
    *, secret: str | None = None, scheme: str = "standard", external_id: str = "user-1"
) -> list[Delivery]:
    """Everything Polar sends for one purchase of the monthly plan, as sent."""
    emu, recorder = recording_emulator(secret=secret, scheme=scheme)
    buy_monthly(emu, external_id)
    return recorder.deliveries


def customer_delivery(*, secret: str | None = None, scheme: str = "standard") -> Delivery:
    """The customer.created webhook for a customer named Ada, as the emulator sent it."""
    emu, recorder = recording_emulator(secret=secret, scheme=scheme)
    api_client(emu).post("/v1/customers/", json={"email": "ada@example.com", "name": "Ada"})
    emu.deliver()
    return first(recorder.deliveries, "customer.created")


def emitted_delivery(event_type: str, data: dict[str, Any]) -> Delivery:
    """An event of any type (even one Polar may add later) signed and sent by the emulator."""
    emu, recorder = recording_emulator()
    emu.emit(event_type, data)
    emu.deliver()
    return first(recorder.deliveries, event_type)


def first(deliveries: list[Delivery], event_type: str) -> Delivery:
    return next(d for d in deliveries if type_of(d) == event_type)
