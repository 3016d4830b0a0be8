"""Usage metering against the emulator: failed sends stay pending, are retried and flushed,
and Polar counts every event once however often it is sent."""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_polar import tasks
from django_polar.client import get_client, use_transport
from django_polar.models import UsageEvent
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db

DUMMY_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def user(polar):
    user = User.objects.create_user("ada", "ada@example.com")
    user.get_or_create_polar_customer()  # Polar knows the customer, so its meters move
    return user


@pytest.fixture
def polar_down(polar, user, settings):
    """Polar answers the next request with a 503, and the client does not retry it
    (``user`` first: its Polar customer exists before Polar goes down)."""
    settings.POLAR = {**settings.POLAR, "MAX_RETRIES": 0}
    polar.faults.fail_next(1, status=503)
    return polar


def usage(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command("polar_usage", command, *args, stdout=out)
    return out.getvalue()


def consumed(user) -> float:
    [meter] = get_client().list_customer_meters(external_customer_id=user.get_polar_external_id())
    return meter["consumed_units"]


def test_failed_send_stays_pending_then_flush_sends_it_once(
    polar_down, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = user.ingest_usage("api_call", {"endpoint": "/v1/summaries"})
    event.refresh_from_db()
    assert event.ingested_at is None and event.attempts == 1 and "503" in event.last_error
    listed = usage("pending")
    assert "1 usage event(s) not sent" in listed
    assert str(event.external_id) in listed and "attempts=1" in listed and "503" in listed

    assert "Sent 1 usage event(s) to Polar; 0 still pending." in usage("flush")
    event.refresh_from_db()
    assert event.ingested_at is not None and event.last_error == "" and event.attempts == 2
    assert "Sent 0 usage event(s) to Polar; 0 still pending." in usage("flush")
    assert consumed(user) == 1.0
    assert usage("pending").startswith("0 usage event(s) not sent")


def test_an_event_sent_twice_is_counted_once(polar, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = user.ingest_usage("api_call")
    # Polar stored it but the answer was lost: the row still looks unsent.
    UsageEvent.objects.filter(pk=event.pk).update(ingested_at=None)
    assert "Sent 1 usage event(s)" in usage("flush")
    assert consumed(user) == 1.0


def test_flush_fails_loudly_while_polar_is_down_and_keeps_the_events(polar_down, user):
    UsageEvent.objects.create(
        name="api_call", external_customer_id=user.get_polar_external_id(), timestamp=timezone.now()
    )
    with pytest.raises(CommandError, match="1 usage event"):
        usage("flush")
    assert UsageEvent.objects.get().ingested_at is None
    assert "Sent 1 usage event(s)" in usage("flush")  # Polar is back


def test_flush_sends_at_most_100_events_per_request(polar, user):
    now = timezone.now()
    UsageEvent.objects.bulk_create(
        UsageEvent(
            name="api_call", external_customer_id=user.get_polar_external_id(), timestamp=now
        )
        for _ in range(250)
    )
    ingests = []
    inner = polar.transport()

    class Counting(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/v1/events/ingest":
                ingests.append(len(httpx.Response(200, content=request.read()).json()["events"]))
            return inner.handle_request(request)

    with use_transport(Counting()):
        assert "Sent 250 usage event(s) to Polar; 0 still pending." in usage("flush")
    assert ingests == [100, 100, 50]
    assert consumed(user) == 250.0
    with pytest.raises(CommandError, match="between 1 and 100"):
        usage("flush", "--batch-size", "500")


def test_an_event_polar_rejects_does_not_hold_back_the_others(polar, user):
    external_id = user.get_polar_external_id()
    good = UsageEvent.objects.create(
        name="api_call", external_customer_id=external_id, timestamp=timezone.now()
    )
    # A clock far ahead of Polar's: "Timestamp must be in the past." (422)
    bad = UsageEvent.objects.create(
        name="api_call",
        external_customer_id=external_id,
        timestamp=timezone.now() + timedelta(days=1),
    )
    with pytest.raises(CommandError, match="1 usage event"):
        usage("flush")
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.ingested_at is not None
    assert bad.ingested_at is None and "past" in bad.last_error
    assert consumed(user) == 1.0


def test_failed_send_schedules_a_deferred_retry_task(
    polar_down, user, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY_TASKS  # a backend that can defer, and records what was queued
    backend = tasks.send_usage_events.get_backend()
    backend.clear()
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        event = user.ingest_usage("api_call")
    [queued] = backend.results
    assert queued.args == [[event.pk]]
    assert (
        before + timedelta(seconds=50)
        < queued.task.run_after
        < timezone.now() + timedelta(minutes=2)
    )
    # The worker runs it once Polar is back; a retry would be queued on commit, so commit.
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_usage_events.call(*queued.args) == 1
    event.refresh_from_db()
    assert event.ingested_at is not None
    assert len(backend.results) == 1  # sent: nothing more scheduled
    assert consumed(user) == 1.0


def test_retry_task_reschedules_until_its_attempts_run_out(
    polar, user, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY_TASKS
    settings.POLAR = {**settings.POLAR, "MAX_RETRIES": 0}
    backend = tasks.send_usage_events.get_backend()
    backend.clear()
    event = UsageEvent.objects.create(
        name="api_call", external_customer_id=user.get_polar_external_id(), timestamp=timezone.now()
    )
    polar.faults.fail_next(1, status=503)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_usage_events.call([event.pk]) == 0
    assert len(backend.results) == 1  # another try, later
    UsageEvent.objects.filter(pk=event.pk).update(attempts=tasks.USAGE_RETRY_ATTEMPTS - 1)
    polar.faults.fail_next(1, status=503)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_usage_events.call([event.pk]) == 0
    assert len(backend.results) == 1  # out of attempts: left for `polar_usage flush`
    assert UsageEvent.objects.get().ingested_at is None


def test_without_a_deferring_backend_the_retry_is_left_to_flush(
    polar_down, user, django_capture_on_commit_callbacks
):
    assert not tasks.send_usage_events.get_backend().supports_defer  # the immediate backend
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        event = user.ingest_usage("api_call")
    assert len(callbacks) == 1  # the send; no task was queued on top of it
    event.refresh_from_db()
    assert event.ingested_at is None
    assert tasks.send_usage_events.enqueue().return_value == 1  # a periodic run sends it
    assert consumed(user) == 1.0
