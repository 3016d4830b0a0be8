"""Events produced by the emulator's real flows, signed by it, through the real view."""

from __future__ import annotations

import copy
import random

import pytest
from django.db import transaction

from django_polar.client import get_client
from django_polar.mirror.guard import to_datetime
from django_polar.models import BenefitGrant, Order, Subscription, WebhookEvent
from django_polar.testing.pytest_plugin import polar_emulator, polar_emulator_seed  # noqa: F401
from django_polar.webhooks import dispatch


def purchase_cancel_uncancel_revoke(emu, user):
    checkout = get_client().create_checkout(
        {
            "products": [emu.product_id("pro-monthly")],
            "external_customer_id": user.get_polar_external_id(),
        }
    )
    emu.pay_checkout(checkout["id"], email="ada@example.com")
    emu.deliver()
    sub_id = Subscription.objects.get().pk
    for step in (emu.cancel_subscription, emu.uncancel_subscription, emu.revoke_subscription):
        emu.clock.advance(minutes=5)
        step(str(sub_id))
        emu.deliver()
    return str(sub_id)


@pytest.mark.django_db
def test_every_emitted_event_is_stored_and_applied(polar_emulator):  # noqa: F811
    from tests.testapp.models import User

    user = User.objects.create(username="ada", email="ada@example.com")
    before = len(polar_emulator.sent_events)  # the seed's own events predate the flow
    sub_id = purchase_cancel_uncancel_revoke(polar_emulator, user)
    emitted = polar_emulator.event_types()[before:]
    assert {
        "subscription.created",
        "subscription.canceled",
        "subscription.uncanceled",
        "subscription.revoked",
        "order.paid",
        "customer.state_changed",
    } <= set(emitted)
    stored = list(
        WebhookEvent.objects.filter(received_at__isnull=False).values_list("type", "status")
    )
    assert sorted(t for t, _ in stored) == sorted(emitted)
    assert not [s for _, s in stored if s == "failed"]
    truth = polar_emulator.handle(
        "GET",
        f"/v1/subscriptions/{sub_id}",
        {"authorization": "Bearer polar_oat_test_token_0123456789"},
    )
    sub = Subscription.objects.get()
    assert sub.customer.billable == user
    assert sub.status == "canceled" and sub.ended_at is not None
    assert truth[0] == 200 and b'"canceled"' in truth[2]
    assert Order.objects.get().paid is True
    assert not BenefitGrant.objects.granted().exists()


@pytest.mark.django_db
def test_emulator_events_in_any_order_end_in_the_true_state(polar_emulator):  # noqa: F811
    """A bounded sample of permutations (seeded, reproducible) of the real event stream."""
    from tests.testapp.models import User

    with transaction.atomic():
        user = User.objects.create(username="ada", email="ada@example.com")
        purchase_cancel_uncancel_revoke(polar_emulator, user)
        events = copy.deepcopy(polar_emulator.sent_events)
        transaction.set_rollback(True)
    mirrored = [e for e in events if e["type"] in dispatch.HANDLERS]

    def final(sequence):
        with transaction.atomic():
            for e in sequence:
                dispatch.HANDLERS[e["type"]](
                    copy.deepcopy(e["data"]), event_time=to_datetime(e["timestamp"])
                )
            sub = Subscription.objects.get()
            state = (
                sub.status,
                sub.cancel_at_period_end,
                sub.ended_at,
                sub.modified_at,
                sorted(BenefitGrant.objects.values_list("is_granted", "is_revoked")),
                sorted(Order.objects.values_list("status", "paid")),
            )
            transaction.set_rollback(True)
        return state

    truth = final(mirrored)
    assert truth[0] == "canceled"
    rng = random.Random(20261121)
    for _ in range(30):
        assert final(rng.sample(mirrored, len(mirrored))) == truth
    assert final(list(reversed(mirrored))) == truth
