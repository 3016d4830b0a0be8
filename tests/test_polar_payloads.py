"""The hand-written Polar payloads of the webhook and mirror tests are what Polar sends.

A fixture Polar's own SDK would reject proves nothing about the code it feeds, so every
builder in tests/polar_payloads.py (and the order, refund, grant and state builders of
test_mirror.py) is loaded here with the official polar-sdk types, alone and inside the
webhook body of each event it is delivered as.
"""

from __future__ import annotations

import pytest

from tests import polar_payloads as pp
from tests.emulator.oracle import load, load_event
from tests.test_mirror import (
    grant_payload,
    lifecycle,
    make_sub,
    order_payload,
    refund_payload,
    state_payload,
)
from tests.test_webhook_view import sub_payload


def objects() -> dict[str, tuple[dict, str]]:
    """One payload of every kind the tests build, with its polar-sdk output class."""
    sub = make_sub("testapp.user:1", modified=pp.T0)
    order = order_payload(sub)
    grant = grant_payload(sub)
    return {
        "customer": (sub["customer"], "Customer"),
        "benefit": (sub["product"]["benefits"][0], "Benefit"),
        "product": (sub["product"], "Product"),
        "price": (sub["product"]["prices"][0], "ProductPrice"),
        "subscription": (sub, "Subscription"),
        "webhook-view subscription": (sub_payload(external_id="testapp.user:2"), "Subscription"),
        "order": (order, "Order"),
        "refund": (refund_payload(order, 500), "Refund"),
        "benefit grant": (grant, "BenefitGrant"),
        "customer state with a subscription": (
            state_payload(sub, grant, active_sub=sub),
            "CustomerState",
        ),
        "customer state without grants": (
            state_payload(sub, grant, granted=False),
            "CustomerState",
        ),
    }


@pytest.mark.parametrize("kind", list(objects()))
def test_every_payload_builder_makes_an_object_polar_sdk_accepts(kind):
    data, model = objects()[kind]
    load(data, model)  # raises, naming the field, when the SDK rejects it


def test_every_event_of_the_mirror_lifecycle_is_a_valid_webhook_body():
    _, events = lifecycle()
    assert len(events) == 13
    for kind, data, when in events:
        parsed = load_event(pp.envelope(kind, data, timestamp=when))
        assert parsed.type == kind
