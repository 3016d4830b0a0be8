"""A small shop on the emulator, bought into by two customers, for the agent tool tests.

Everything reaches the mirror the real way: checkouts paid on the emulated Polar, whose
signed webhooks go through the real webhook view.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from django_polar.models import Order, Subscription
from tests.testapp.models import User

SEED: dict[str, Any] = {
    "organization": {"name": "Jotter", "slug": "jotter"},
    "meters": [
        {"key": "api-calls", "name": "API calls", "event": "api_call", "aggregation": "count"}
    ],
    "benefits": [
        {
            "key": "license",
            "type": "license_keys",
            "description": "Desktop license key",
            "properties": {
                "prefix": "JOT",
                "activations": {"limit": 3, "enable_customer_admin": True},
            },
        },
        {
            "key": "credits",
            "type": "meter_credit",
            "description": "100 API calls included",
            "properties": {"meter": "api-calls", "units": 100, "rollover": False},
        },
    ],
    "products": [
        {
            "key": "monthly",
            "name": "Pro Monthly",
            "recurring_interval": "month",
            "prices": [{"amount": 1000, "currency": "usd"}],
            "benefits": ["credits"],
        },
        {
            "key": "yearly",
            "name": "Pro Yearly",
            "recurring_interval": "year",
            "prices": [{"amount": 10000, "currency": "usd"}],
        },
        {
            "key": "desktop",
            "name": "Desktop app",
            "prices": [{"amount": 4900, "currency": "usd"}],
            "benefits": ["license"],
        },
        {
            "key": "legacy",
            "name": "Legacy plan",
            "recurring_interval": "month",
            "prices": [{"amount": 500, "currency": "usd"}],
            "archived": True,
        },
    ],
}


@dataclass
class Shop:
    emu: Any
    ada: User
    bob: User
    ada_subscription: Subscription
    bob_subscription: Subscription
    ada_desktop_order: Order

    def product(self, key: str) -> str:
        return self.emu.product_id(key)


def buy(emu: Any, user: User, product_id: str) -> None:
    session = user.checkout([product_id]).session
    emu.pay_checkout(session["id"])
    emu.deliver()


def open_shop(emu: Any) -> Shop:
    """Ada: Pro Monthly + the desktop app (a license key); Bob: Pro Yearly."""
    call_command("polar_sync", stdout=io.StringIO())  # the catalog, as a project would
    ada = User.objects.create_user("ada", "ada@example.com", first_name="Ada", last_name="Lovelace")
    bob = User.objects.create_user("bob", "bob@example.com", first_name="Bob", last_name="Brown")
    buy(emu, ada, emu.product_id("monthly"))
    buy(emu, ada, emu.product_id("desktop"))
    buy(emu, bob, emu.product_id("yearly"))
    ada_sub = ada.subscription()
    bob_sub = bob.subscription()
    assert ada_sub is not None and ada_sub.active(), "Ada's subscription reached the mirror"
    assert bob_sub is not None and bob_sub.active()
    desktop = ada.orders.get(product_id=emu.product_id("desktop"))
    return Shop(emu, ada, bob, ada_sub, bob_sub, desktop)


@pytest.fixture(name="polar_emulator_seed")
def shop_seed() -> dict[str, Any]:
    """The emulator fixtures start from the shop's catalog."""
    return SEED


@pytest.fixture(name="shop")
def shop_fixture(polar_emulator: Any) -> Shop:
    return open_shop(polar_emulator)


class CountingTransport(httpx.BaseTransport):
    """Counts the requests the app's Polar client sends (wraps the emulator's transport)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)
