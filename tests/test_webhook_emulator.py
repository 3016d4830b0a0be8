"""Events produced by the emulator's real flows, signed by it, through the real view."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_polar import signals
from django_polar.models import (
    Benefit,
    BenefitGrant,
    Customer,
    Member,
    Order,
    Product,
    Refund,
    Seat,
    Subscription,
    WebhookEvent,
)
from django_polar.testing.pytest_plugin import polar_emulator, polar_emulator_seed  # noqa: F401
from django_polar.webhooks import dispatch
from polar_emulator.core import NEVER_EMITTED
from tests import webhook_flows as flows

#: The mirror row each event family lands in (customer.state_changed: the customer).
MODEL_OF = {
    "customer": Customer,
    "product": Product,
    "benefit": Benefit,
    "benefit_grant": BenefitGrant,
    "order": Order,
    "refund": Refund,
    "subscription": Subscription,
    "customer_seat": Seat,
    "member": Member,
}


def test_every_event_type_is_either_mirrored_or_deliberately_unmirrored():
    assert set(dispatch.HANDLERS) | dispatch.UNMIRRORED == set(signals.EVENT_TYPES)
    assert len(signals.EVENT_TYPES) == len(set(signals.EVENT_TYPES)) == 42
    assert not set(dispatch.HANDLERS) & dispatch.UNMIRRORED


@pytest.mark.django_db
def test_all_42_event_types_signed_by_the_emulator_are_stored_and_applied(
    polar_emulator,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    processed: list[tuple[str, str, object]] = []

    def on_processed(sender, event, obj, billable, **kwargs):
        processed.append((sender, event.webhook_id, obj))

    seeded = len(polar_emulator.sent_events)  # the seed's events predate the endpoint
    signals.webhook_event_processed.connect(on_processed)
    try:  # signals go out on commit: run those callbacks as a real commit would
        with django_capture_on_commit_callbacks(execute=True):
            flow = flows.every_event_flow(polar_emulator)
            extra = flows.never_emitted_payloads(polar_emulator, flow)
            assert set(extra) == NEVER_EMITTED
            for event_type, data in extra.items():
                polar_emulator.emit(event_type, data)  # signed and delivered like any other
            polar_emulator.deliver()
    finally:
        signals.webhook_event_processed.disconnect(on_processed)

    log = polar_emulator.webhooks.delivery_log
    assert log and all(entry["ok"] for entry in log)  # every delivery answered 2xx
    events = list(WebhookEvent.objects.order_by("pk"))
    assert {e.type for e in events} == set(signals.EVENT_TYPES)
    sent = polar_emulator.sent_events[seeded:]
    assert [e.payload for e in events] == sent  # stored as sent, in order, none lost
    assert len(events) == len({entry["webhook_id"] for entry in log})
    assert [e.status for e in events if e.status not in ("processed", "ignored")] == []
    assert {e.type for e in events if e.status == "ignored"} == set(dispatch.UNMIRRORED)

    # each mirrored event created or updated the row of the object it carries
    by_id = {e.webhook_id: e for e in events}
    touched = set()
    for event_type, webhook_id, obj in processed:
        if event_type in dispatch.UNMIRRORED:
            assert obj is None
            continue
        model = MODEL_OF[event_type.split(".")[0]]
        assert isinstance(obj, model), event_type
        assert str(obj.pk) == by_id[webhook_id].object_id, event_type
        assert model.objects.filter(pk=obj.pk).exists()
        touched.add(event_type)
    assert touched == set(dispatch.HANDLERS)
    assert len(processed) == len(events)

    # and the mirror ends where Polar (the emulator) ends
    truth = flows.api_client(polar_emulator).get(f"/v1/subscriptions/{flow.subscription_id}")
    sub = Subscription.objects.get(pk=flow.subscription_id)
    assert sub.status == truth.json()["status"] == "canceled"
    assert Customer.objects.get(pk=flow.customer_id).deleted_at is not None
    assert Refund.objects.filter(order_id=flow.order_id).exists()
    assert Order.objects.get(pk=flow.order_id).refunded_amount == 100


@pytest.mark.django_db
def test_purchase_to_revoke_flow_mirrors_the_emulator_state(polar_emulator):  # noqa: F811
    from tests.testapp.models import User

    user = User.objects.create(username="ada", email="ada@example.com")
    before = len(polar_emulator.sent_events)  # the seed's own events predate the flow
    sub_id = flows.purchase_cancel_uncancel_revoke(polar_emulator, user.get_polar_external_id())
    emitted = polar_emulator.event_types()[before:]
    assert {
        "subscription.created",
        "subscription.canceled",
        "subscription.uncanceled",
        "subscription.revoked",
        "order.paid",
        "customer.state_changed",
    } <= set(emitted)
    stored = list(WebhookEvent.objects.order_by("pk").values_list("type", "status"))
    assert [t for t, _ in stored] == emitted
    assert not [s for _, s in stored if s == "failed"]
    truth = flows.api_client(polar_emulator).get(f"/v1/subscriptions/{sub_id}").json()
    sub = Subscription.objects.get(pk=sub_id)
    assert sub.customer.billable == user
    assert sub.status == truth["status"] == "canceled" and sub.ended_at is not None
    assert Order.objects.get().paid is True
    assert not BenefitGrant.objects.granted().exists()


@pytest.mark.django_db
def test_emulator_sending_every_delivery_twice_applies_each_once(polar_emulator):  # noqa: F811
    endpoint = polar_emulator.webhooks.endpoints[0]  # the fixture's: the real view
    to_view = endpoint.target
    answers: list[tuple[str, int, str]] = []

    def answered(body: bytes, headers: dict[str, str]) -> int:
        response = flows.post_signed(Client(), body, headers)
        answers.append((headers["webhook-id"], response.status_code, response.json()["status"]))
        return response.status_code

    assert callable(to_view)
    endpoint.target = answered
    received: list[str] = []

    def on_received(sender, event, **kwargs):
        received.append(event.webhook_id)

    signals.webhook_received.connect(on_received)
    try:
        polar_emulator.faults.duplicate_next(1000)  # Polar's at-least-once delivery, always
        sub_id = flows.purchase_cancel_uncancel_revoke(polar_emulator, "someone")
    finally:
        signals.webhook_received.disconnect(on_received)
    duplicates = [e for e in polar_emulator.webhooks.delivery_log if e.get("duplicate")]
    ids = [webhook_id for webhook_id, _, _ in answers]
    assert duplicates and len(answers) == 2 * len(set(ids))
    for webhook_id in set(ids):
        statuses = [(code, status) for i, code, status in answers if i == webhook_id]
        assert statuses == [(200, "stored"), (200, "duplicate")]
    assert sorted(received) == sorted(set(ids))  # one webhook_received per event
    assert WebhookEvent.objects.count() == len(set(ids))
    assert set(WebhookEvent.objects.values_list("attempts", flat=True)) == {1}
    assert Subscription.objects.get(pk=sub_id).status == "canceled"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_handler_exception_on_a_real_purchase_is_kept_then_replayed(polar_emulator, monkeypatch):  # noqa: F811
    def buggy(data, *, event_time=None):
        raise RuntimeError("handler bug")

    monkeypatch.setitem(dispatch.HANDLERS, "order.paid", buggy)
    flows.purchase_cancel_uncancel_revoke(polar_emulator, "someone")
    assert all(entry["ok"] for entry in polar_emulator.webhooks.delivery_log)  # still acked
    failed = WebhookEvent.objects.get(type="order.paid")
    assert failed.status == "failed" and "RuntimeError: handler bug" in failed.last_error
    assert failed.next_attempt_at is not None
    others = WebhookEvent.objects.exclude(pk=failed.pk)
    assert set(others.values_list("status", flat=True)) <= {"processed", "ignored"}
    # the later order.updated still mirrored the order: one failure blocks nothing else
    assert str(Order.objects.get().pk) == failed.object_id

    monkeypatch.undo()  # the bug is fixed and deployed
    call_command("polar_webhooks", "replay", failed.webhook_id, stdout=None)
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == ("processed", 2, "")
    assert failed.next_attempt_at is None
    assert Order.objects.get().paid is True


# -- every order of a purchase -> cancel -> uncancel -> revoke stream ---------------------


@pytest.fixture(scope="module")
def lifecycle_deliveries() -> list[tuple[bytes, dict[str, str]]]:
    """The stream as the emulator signed and sent it (captured once; no database needed).

    checkout.* events are left out: they are stored as ignored whatever their order, and
    dropping them keeps each example short.
    """
    emu, recorder = flows.recording_emulator()
    flows.purchase_cancel_uncancel_revoke(emu, "user-1")
    return [d for d in recorder.deliveries if flows.type_of(d) in dispatch.HANDLERS]


def mirror_state() -> tuple:
    sub = Subscription.objects.get()
    return (
        sub.status,
        sub.cancel_at_period_end,
        sub.canceled_at,
        sub.ended_at,
        sub.modified_at,
        sub.customer_id,
        sub.product_id,
        sorted(BenefitGrant.objects.values_list("pk", "is_granted", "is_revoked")),
        sorted(Order.objects.values_list("pk", "status", "paid")),
        sorted(Customer.objects.values_list("pk", "external_id", "email")),
    )


def deliver_all(deliveries) -> tuple:
    """Deliver in this order to the real view on a clean mirror; return the final state."""
    with transaction.atomic():
        assert not WebhookEvent.objects.exists() and not Subscription.objects.exists()
        client = Client()
        for body, headers in deliveries:
            response = flows.post_signed(client, body, headers)
            assert response.status_code == 200 and response.json()["status"] == "stored"
        assert not WebhookEvent.objects.failed().exists()
        state = mirror_state()
        transaction.set_rollback(True)  # the next order starts from an empty database
    return state


@pytest.fixture
def true_order_state(db, lifecycle_deliveries) -> tuple:
    types = [json.loads(body)["type"] for body, _ in lifecycle_deliveries]
    assert {"subscription.canceled", "subscription.uncanceled", "subscription.revoked"} <= set(
        types
    )
    state = deliver_all(lifecycle_deliveries)
    assert state[0] == "canceled" and state[3] is not None
    return state


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_order_of_the_real_stream_ends_in_the_true_state(
    data, lifecycle_deliveries, true_order_state
):
    order = data.draw(st.permutations(range(len(lifecycle_deliveries))))
    assert deliver_all([lifecycle_deliveries[i] for i in order]) == true_order_state
