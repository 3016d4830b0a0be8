"""Webhook signals are sent once the mirror is committed, whoever applies the event.

A receiver that sends an e-mail or calls another service must never act on rows that are
not committed yet or that roll back: a replay from the admin under ``ATOMIC_REQUESTS`` or
from code already inside ``transaction.atomic()`` sends nothing until that transaction
commits, and nothing at all if it rolls back.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.urls import reverse

from django_polar import signals
from django_polar.models import Subscription, WebhookEvent
from django_polar.webhooks import dispatch
from tests import polar_payloads as pp
from tests.test_webhook_view import deliver, sub_payload
from tests.testapp.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def visible_elsewhere(subscription_id: str) -> bool | None:
    """Whether another connection sees the subscription row (None on SQLite in memory,
    where a second connection would open another, empty database)."""
    if connection.vendor != "postgresql":
        return None
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT 1 FROM polar_subscription WHERE id = %s", [subscription_id])
            return cursor.fetchone() is not None
    finally:
        other.close()


@contextmanager
def receiving(signal, receiver):
    signal.connect(receiver)
    try:
        yield
    finally:
        signal.disconnect(receiver)


class Recorder:
    """A receiver noting what it could see when it ran."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, sender, event, obj=None, **kwargs) -> None:
        self.calls.append(
            {
                "sender": sender,
                "in_atomic_block": connection.in_atomic_block,
                "status": WebhookEvent.objects.get(pk=event.pk).status,
                "visible_elsewhere": visible_elsewhere(str(obj.pk)) if obj is not None else None,
                "error": kwargs.get("error"),
            }
        )


def stored_event(client, event_type: str = "subscription.active") -> tuple[WebhookEvent, dict]:
    data = sub_payload()
    assert deliver(client, event_type, data).status_code == 200
    return WebhookEvent.objects.get(object_id=data["id"]), data


def expected_visibility() -> bool | None:
    return True if connection.vendor == "postgresql" else None


def test_receiver_of_a_delivered_event_sees_committed_rows(client):
    seen = Recorder()
    with receiving(signals.for_event("subscription.active"), seen):
        event, data = stored_event(client)
    assert event.status == "processed"
    assert Subscription.objects.filter(pk=data["id"]).exists()
    assert seen.calls == [
        {
            "sender": "subscription.active",
            "in_atomic_block": False,
            "status": "processed",
            "visible_elsewhere": expected_visibility(),
            "error": None,
        }
    ]


def test_replay_inside_a_transaction_signals_only_after_it_commits(client):
    event, data = stored_event(client)
    Subscription.objects.filter(pk=data["id"]).delete()  # the mirror lost the row
    seen = Recorder()
    with receiving(signals.webhook_event_processed, seen):
        with transaction.atomic():
            dispatch.replay(event)
            assert Subscription.objects.filter(pk=data["id"]).exists()
            assert seen.calls == []  # not committed yet: nothing sent
        assert len(seen.calls) == 1
    call = seen.calls[0]
    assert call["in_atomic_block"] is False
    assert call["visible_elsewhere"] == expected_visibility()


def test_replay_rolled_back_sends_nothing(client):
    event, data = stored_event(client)
    Subscription.objects.filter(pk=data["id"]).delete()
    seen = Recorder()
    with receiving(signals.webhook_event_processed, seen):
        with pytest.raises(RuntimeError, match="caller gave up"):
            with transaction.atomic():
                dispatch.replay(event)
                raise RuntimeError("caller gave up")
    assert seen.calls == []
    assert not Subscription.objects.filter(pk=data["id"]).exists()
    event.refresh_from_db()
    assert event.attempts == 1  # the replay itself rolled back too


def test_failed_signal_waits_for_commit_and_sees_the_failure_stored(client, monkeypatch):
    event, _ = stored_event(client)

    def buggy(data, *, event_time=None):
        raise RuntimeError("handler bug")

    monkeypatch.setitem(dispatch.HANDLERS, "subscription.active", buggy)
    seen = Recorder()
    with receiving(signals.webhook_event_failed, seen):
        with transaction.atomic():
            dispatch.replay(event)
            assert seen.calls == []
    assert len(seen.calls) == 1
    call = seen.calls[0]
    assert (call["status"], call["in_atomic_block"]) == ("failed", False)
    assert str(call["error"]) == "handler bug"


def test_failing_receiver_does_not_undo_the_mirror(client):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    seen = Recorder()
    typed = signals.for_event("subscription.active")
    with receiving(typed, broken), receiving(typed, seen):
        event, data = stored_event(client)
        Subscription.objects.filter(pk=data["id"]).delete()
        with transaction.atomic():
            dispatch.replay(event)
    event.refresh_from_db()
    assert event.status == "processed" and event.attempts == 2
    assert Subscription.objects.filter(pk=data["id"]).exists()
    assert len(seen.calls) == 2  # the receiver after the broken one still ran, both times


def test_admin_replay_under_atomic_requests_signals_after_commit(client, monkeypatch):
    event, data = stored_event(client)
    Subscription.objects.filter(pk=data["id"]).delete()
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    seen = Recorder()
    with receiving(signals.webhook_event_processed, seen):
        response = client.post(
            reverse("admin:django_polar_webhookevent_changelist"),
            {"action": "replay_events", "_selected_action": [event.pk]},
        )
    assert response.status_code == 302
    assert len(seen.calls) == 1
    assert seen.calls[0]["in_atomic_block"] is False
    assert seen.calls[0]["visible_elsewhere"] == expected_visibility()
    assert Subscription.objects.filter(pk=data["id"]).exists()


def test_a_customer_events_signals_carry_the_customers_billable(client):
    """For customer.* events the row is the Customer itself: its billable is the user."""
    user = User.objects.create(username="ada")
    seen = []

    def receiver(sender, event, obj, billable, **kwargs):
        seen.append((sender, str(obj.pk), billable))

    data = pp.customer(pp.new_id(), user.get_polar_external_id())
    with receiving(signals.for_event("customer.created"), receiver):
        assert deliver(client, "customer.created", data).status_code == 200
    assert seen == [("customer.created", data["id"], user)]


def test_webhook_received_is_sent_by_the_webhook_event_model(client):
    """``webhook_received`` fires on storing, before applying: receivers may filter on
    ``sender=WebhookEvent``, as for a model signal."""
    seen = Recorder()
    signals.webhook_received.connect(seen, sender=WebhookEvent)
    try:
        stored_event(client)
    finally:
        signals.webhook_received.disconnect(seen, sender=WebhookEvent)
    assert [call["sender"] for call in seen.calls] == [WebhookEvent]


def test_a_failing_receiver_is_logged_with_the_event_and_its_traceback(client, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    with receiving(signals.for_event("subscription.active"), broken):
        with caplog.at_level("ERROR", logger="django_polar.webhooks"):
            event, _ = stored_event(client)
    [record] = [r for r in caplog.records if r.name == "django_polar.webhooks"]
    assert record.getMessage() == (
        f"Receiver {broken!r} of webhook event {event.webhook_id} (subscription.active) raised"
    )
    assert record.exc_info is not None and str(record.exc_info[1]) == "receiver bug"
