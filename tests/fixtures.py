"""Mirror rows for billing-state tests, built through the real models.

State helpers (``subscribed()``, tags, access) read only the mirror, so their tests put
rows there directly; tests of actions and the purchase loop use the emulator instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from django_polar.models import (
    Benefit,
    BenefitGrant,
    Customer,
    Order,
    Price,
    Product,
    Subscription,
)


def make_product(name: str = "Pro", *, archived: bool = False, recurring: bool = True) -> Product:
    product = Product.objects.create(
        id=uuid.uuid4(),
        name=name,
        is_recurring=recurring,
        recurring_interval="month" if recurring else None,
        is_archived=archived,
        created_at=timezone.now(),
        modified_at=timezone.now(),
    )
    Price.objects.create(
        id=uuid.uuid4(),
        product=product,
        amount_type="fixed",
        amount=1000,
        currency="usd",
        recurring_interval="month" if recurring else None,
    )
    return product


def make_customer(billable: Any, *, link: bool = True, external_id: str | None = "") -> Customer:
    """A customer for ``billable``: with our external id (default) and/or the stored link."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "email": getattr(billable, "email", "") or "team@example.com",
        "external_id": billable.get_polar_external_id() if external_id == "" else external_id,
    }
    if link:
        values["billable_type"] = ContentType.objects.get_for_model(
            billable, for_concrete_model=False
        )
        values["billable_id"] = str(billable.pk)
    return Customer.objects.create(**values)


def make_subscription(
    customer: Customer,
    product: Product,
    *,
    status: str = "active",
    type: str = "default",
    ends_in: timedelta | None = None,
    cancel_at_period_end: bool = False,
    price_id: str | None = None,
    checkout_id: uuid.UUID | None = None,
    created_ago: timedelta = timedelta(0),
) -> Subscription:
    now = timezone.now()
    prices = [{"id": price_id or str(product.prices.first().pk)}]
    return Subscription.objects.create(
        id=uuid.uuid4(),
        customer=customer,
        product=product,
        type=type,
        status=status,
        amount=1000,
        currency="usd",
        recurring_interval="month",
        current_period_start=now - timedelta(days=1),
        current_period_end=now + timedelta(days=29),
        cancel_at_period_end=cancel_at_period_end,
        ends_at=(now + ends_in) if ends_in is not None else None,
        checkout_id=checkout_id,
        created_at=now - created_ago,
        modified_at=now,
        data={"id": "x", "prices": prices},
    )


def make_order(
    customer: Customer,
    product: Product,
    *,
    paid: bool = True,
    status: str = "paid",
    checkout_id: uuid.UUID | None = None,
    amount: int = 1000,
) -> Order:
    return Order.objects.create(
        id=uuid.uuid4(),
        customer=customer,
        product=product,
        status=status,
        paid=paid,
        net_amount=amount,
        total_amount=amount,
        currency="usd",
        checkout_id=checkout_id,
        created_at=timezone.now(),
    )


def make_grant(
    customer: Customer, *, granted: bool = True, revoked: bool = False, member: Any = None
) -> BenefitGrant:
    """A grant of a new benefit to ``customer`` (to its seat ``member``, if given)."""
    benefit = Benefit.objects.create(id=uuid.uuid4(), type="custom", description="Discord")
    return BenefitGrant.objects.create(
        id=uuid.uuid4(),
        customer=customer,
        benefit=benefit,
        is_granted=granted,
        is_revoked=revoked,
        granted_at=timezone.now(),
        member_id=member.pk if member is not None else None,
    )


# -- the emulator -------------------------------------------------------------------------


@pytest.fixture(name="polar")
def polar_fixture(request, db, settings):
    """The Polar emulator, wired into ``get_client()`` and delivering signed webhooks to
    the real webhook view. Uses the shipped ``polar_emulator`` fixture when installed."""
    try:
        yield request.getfixturevalue("polar_emulator")
        return
    except pytest.FixtureLookupError:
        pass
    from django.test import Client
    from django.urls import reverse

    from django_polar.client import use_transport
    from django_polar.conf import polar_settings
    from polar_emulator import Emulator

    emu = Emulator()
    web = Client()

    def deliver(body: bytes, headers: dict) -> int:
        meta = {
            "HTTP_" + key.upper().replace("-", "_"): value
            for key, value in headers.items()
            if key.lower() != "content-type"
        }
        response = web.post(
            reverse("django_polar:webhook"), data=body, content_type="application/json", **meta
        )
        return response.status_code

    emu.add_webhook_endpoint(deliver, secret=polar_settings.WEBHOOK_SECRET)
    with use_transport(emu.transport()):
        yield emu


def polar_product(
    name: str = "Pro monthly",
    *,
    amount: int = 1000,
    recurring: str | None = "month",
    custom: bool = False,
) -> Product:
    """Create a product in (emulated) Polar and mirror it, as polar_sync would."""
    from django_polar import mirror
    from django_polar.client import get_client

    price: dict[str, Any] = (
        {"amount_type": "custom", "price_currency": "usd"}
        if custom
        else {"amount_type": "fixed", "price_amount": amount, "price_currency": "usd"}
    )
    body: dict[str, Any] = {"name": name, "prices": [price]}
    if recurring:
        body["recurring_interval"] = recurring
    return mirror.upsert_product(get_client().create_product(body))


class Recorded(httpx.BaseTransport):
    """The requests ``get_client()`` sent to the emulator inside ``recorded(polar)``."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def calls(self, path: str = "") -> list[str]:
        """``"METHOD /path?query"`` of each request (those under ``path``, if given)."""
        return [
            f"{r.method} {r.url.raw_path.decode()}"
            for r in self.requests
            if r.url.path.startswith(path)
        ]


@contextmanager
def recorded(polar: Any) -> Iterator[Recorded]:
    """Record the Polar calls made inside the block (what they cost the API budget)."""
    from django_polar.client import use_transport

    transport = Recorded(polar.transport())
    with use_transport(transport):
        yield transport
