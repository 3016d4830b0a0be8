"""Events stranded ``pending`` (the process died between the answer and applying) are
picked up by ``polar_webhooks retry-failed`` once they are older than a grace period."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_polar import signals
from django_polar.models import Customer, WebhookEvent
from django_polar.webhooks import dispatch
from django_polar.webhooks.views import event_fields, store
from tests import polar_payloads as pp


def stranded(webhook_id: str, age: timedelta) -> tuple[WebhookEvent, dict]:
    """An event stored and acknowledged whose application never ran."""
    data = pp.customer(pp.new_id())
    body = pp.body_of(pp.envelope("customer.created", data)).decode()
    event = store(event_fields(body, webhook_id, timezone.now()))
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - age)
    return event, data


def retry(*args: str) -> str:
    out = io.StringIO()
    call_command("polar_webhooks", "retry-failed", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_retry_failed_applies_pending_events_older_than_the_grace_period():
    old, old_data = stranded("msg_stranded", timedelta(minutes=6))
    fresh, fresh_data = stranded("msg_in_flight", timedelta(seconds=30))
    out = retry()
    assert "msg_stranded customer.created: processed" in out and "msg_in_flight" not in out
    assert WebhookEvent.objects.get(pk=old.pk).status == "processed"
    assert WebhookEvent.objects.get(pk=fresh.pk).status == "pending"  # maybe being applied now
    assert Customer.objects.filter(pk=old_data["id"]).exists()
    assert not Customer.objects.filter(pk=fresh_data["id"]).exists()


@pytest.mark.django_db
def test_stale_after_option_sets_the_grace_period():
    event, data = stranded("msg_recent", timedelta(seconds=30))
    assert "Retried 0" in retry("--stale-after", "60")
    assert "Retried 1: 1 applied" in retry("--stale-after", "10")
    assert WebhookEvent.objects.get(pk=event.pk).status == "processed"
    assert Customer.objects.filter(pk=data["id"]).exists()


@pytest.mark.django_db
def test_negative_stale_after_is_refused():
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        retry("--stale-after", "-1")


@pytest.mark.django_db
def test_next_due_includes_stale_pending_and_due_failed_events():
    now = timezone.now()
    stranded("msg_old", timedelta(minutes=10))
    stranded("msg_new", timedelta(minutes=1))
    failed, _ = stranded("msg_failed", timedelta(minutes=10))
    WebhookEvent.objects.filter(pk=failed.pk).update(status="failed", next_attempt_at=now)
    due = set(dispatch.next_due(now).values_list("webhook_id", flat=True))
    assert due == {"msg_old", "msg_failed"}
    later = set(
        dispatch.next_due(now, stale_after=timedelta(seconds=30)).values_list(
            "webhook_id", flat=True
        )
    )
    assert later == {"msg_old", "msg_new", "msg_failed"}


@pytest.mark.django_db
def test_send_signal_logs_a_failing_receiver_and_goes_on(caplog):
    event, _ = stranded("msg_signal", timedelta(0))
    seen = []

    def bad(sender, **kwargs):
        raise RuntimeError("receiver bug")

    def good(sender, event, **kwargs):
        seen.append(event.webhook_id)

    signals.webhook_received.connect(bad)
    signals.webhook_received.connect(good)
    try:
        with caplog.at_level(logging.ERROR, logger="django_polar.webhooks"):
            dispatch.send_signal(signals.webhook_received, event, sender=WebhookEvent)
    finally:
        signals.webhook_received.disconnect(bad)
        signals.webhook_received.disconnect(good)
    assert seen == ["msg_signal"]
    assert "raised" in caplog.text


@pytest.mark.django_db
def test_retry_failed_leaves_old_applied_events_alone():
    """Only failed and stranded-pending events are due: an applied one is never re-run."""
    event, _ = stranded("msg_done", timedelta(minutes=10))
    dispatch.process_event(event.pk)
    assert "Retried 0" in retry()
    assert list(dispatch.next_due()) == []
