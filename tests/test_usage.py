"""Usage metering against the emulator: recording writes one row and nothing else, the
flusher sends batches of up to 1,000 exactly once (outages, 429s, crashes), and Polar counts
every event once however often it is sent."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from django_polar import tasks, usage
from django_polar.client import get_client, use_transport
from django_polar.errors import InvalidUsageEvent
from django_polar.models import UsageEvent, UsageIngest
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
def no_retries(settings):
    settings.POLAR = {**settings.POLAR, "MAX_RETRIES": 0}


@pytest.fixture
def polar_down(polar, user, no_retries):
    """Polar answers the next request with a 503, and the client does not retry it
    (``user`` first: its Polar customer exists before Polar goes down)."""
    polar.faults.fail_next(1, status=503)
    return polar


class Counting(httpx.BaseTransport):
    """The emulator's transport, remembering the external ids of every ingest call."""

    def __init__(self, polar):
        self.inner = polar.transport()
        self.ingests: list[list[str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/events/ingest":
            events = httpx.Response(200, content=request.read()).json()["events"]
            self.ingests.append([e["external_id"] for e in events])
        return self.inner.handle_request(request)


@pytest.fixture
def counting(polar):
    transport = Counting(polar)
    with use_transport(transport):
        yield transport


def usage_command(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command("polar_usage", command, *args, stdout=out)
    return out.getvalue()


def consumed(user) -> float:
    [meter] = get_client().list_customer_meters(external_customer_id=user.get_polar_external_id())
    return meter["consumed_units"]


def bulk(user, count: int, name: str = "api_call") -> None:
    user.record_usage_many([name] * count)


# -- recording -----------------------------------------------------------------------------


def test_recording_writes_one_row_and_calls_nobody(
    user, counting, settings, django_assert_num_queries, django_capture_on_commit_callbacks
):
    settings.POLAR = {**settings.POLAR, "USAGE_SENDING": "cron"}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with django_assert_num_queries(1):  # the INSERT
            event = user.record_usage("api_call", {"endpoint": "/v1/summaries"})
        user.record_usage("api_call")
    assert len(callbacks) == 1  # one flush request for the whole transaction
    assert counting.ingests == []
    assert UsageEvent.objects.filter(ingested_at__isnull=True).count() == 2
    assert event.external_customer_id == user.get_polar_external_id()


def test_a_rolled_back_request_sends_nothing(user, counting, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            user.record_usage("api_call")
            raise RuntimeError("the view failed")
    assert callbacks == []
    assert not UsageEvent.objects.exists()
    assert usage.flush().sent == 0
    assert counting.ingests == []


def test_one_flush_task_is_queued_when_the_transaction_commits(
    user, settings, counting, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY_TASKS
    settings.POLAR = {**settings.POLAR, "USAGE_SENDING": "task"}
    backend = tasks.send_usage_events.get_backend()
    backend.clear()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(200):
            user.record_usage("api_call")
    assert len(backend.results) == 1 and counting.ingests == []
    assert tasks.send_usage_events.call() == 200  # the worker sends them, in one call
    assert len(counting.ingests) == 1 and consumed(user) == 200.0


def test_with_the_immediate_backend_task_mode_queues_nothing(
    user, settings, counting, django_capture_on_commit_callbacks
):
    settings.POLAR = {**settings.POLAR, "USAGE_SENDING": "task"}
    with django_capture_on_commit_callbacks(execute=True):
        user.record_usage("api_call")
    assert counting.ingests == []  # no request waits on Polar; cron flushes
    assert "Sent 1 usage event(s)" in usage_command("flush")


@pytest.mark.parametrize(
    ("name", "metadata", "message"),
    [
        ("", None, "1 to 128"),
        ("x" * 129, None, "1 to 128"),
        ("ok", {"k" * 41: 1}, "keys are strings of 1 to 40"),
        ("ok", {f"k{i}": i for i in range(51)}, "at most 50 keys"),
        ("ok", {"note": ""}, "1 to 500"),
        ("ok", {"note": "x" * 501}, "1 to 500"),
        ("ok", {"tags": ["a"]}, "string, integer, float or boolean"),
        ("ok", {"nested": {"a": 1}}, "string, integer, float or boolean"),
        ("ok", {"ratio": float("nan")}, "finite"),
        ("ok", {"_cost": {"amount": 10, "currency": "eur"}}, "usd"),
        ("ok", {"_cost": {"amount": "ten", "currency": "usd"}}, "number of cents"),
        ("ok", {"_cost": {"amount": 123456, "currency": "usd"}}, "17 digits"),
        ("ok", {"_cost": {"amount": 0.1234567890123, "currency": "usd"}}, "12 decimal"),
        ("ok", {"_llm": {"vendor": "openai", "model": "gpt-4o"}}, "input_tokens"),
    ],
)
def test_bad_events_are_refused_when_recorded(user, name, metadata, message):
    with pytest.raises(InvalidUsageEvent, match=message):
        user.record_usage(name, metadata)
    with pytest.raises(InvalidUsageEvent, match=message):
        user.record_usage_many([{"name": "fine"}, {"name": name, "metadata": metadata}])
    assert not UsageEvent.objects.exists()  # one bad event records none


def test_events_polar_accepts_are_recorded_and_sent(user, polar):
    metadata = {
        "note": "x" * 500,
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "_cost": {"amount": 0.025, "currency": "usd"},
    }
    when = timezone.now() - timedelta(hours=1)
    user.record_usage("api_call", metadata, external_id="request-42", timestamp=when)
    usage.flush()
    [event] = get_client().list_events(name="api_call")
    assert event["metadata"] == metadata
    assert UsageEvent.objects.get().external_id == "request-42"  # what Polar dedupes on
    assert event["timestamp"][:19] == when.isoformat()[:19]  # when it happened, not sent


def test_meter_time_records_elapsed_seconds_even_when_the_block_fails(user, polar):
    with user.meter_time("render", {"template": "invoice"}) as extra:
        extra["pages"] = 2
    with pytest.raises(ValueError), user.meter_time("render"):
        raise ValueError("boom")
    first, second = UsageEvent.objects.order_by("pk")
    assert first.metadata["template"] == "invoice" and first.metadata["pages"] == 2
    assert 0 <= first.metadata["seconds"] < 5 and "seconds" in second.metadata
    assert usage.flush().sent == 2


def test_meter_time_records_the_seconds_under_the_key_asked_for(user):
    """A meter summing ``metadata.duration`` gets its value there, not under ``seconds``."""
    with user.meter_time("render", key="duration"):
        pass
    [event] = UsageEvent.objects.all()
    assert set(event.metadata) == {"duration"} and 0 <= event.metadata["duration"] < 5


def test_llm_usage_uses_polars_conventional_metadata(user, polar):
    user.record_llm_usage(
        "summaries",
        model="gpt-4o",
        vendor="openai",
        input_tokens=812,
        output_tokens=96,
        cached_input_tokens=100,
        cost_cents=1.25,
    )
    usage.flush()
    [event] = get_client().list_events(name="summaries")
    metadata = event["metadata"]
    assert (metadata["inputTokens"], metadata["outputTokens"], metadata["totalTokens"]) == (
        812,
        96,
        908,
    )
    assert metadata["model"] == "gpt-4o" and metadata["strategy"] == "LLM"
    assert metadata["_llm"] == {
        "vendor": "openai",
        "model": "gpt-4o",
        "input_tokens": 812,
        "output_tokens": 96,
        "total_tokens": 908,
        "cached_input_tokens": 100,
    }
    assert metadata["_cost"] == {"amount": 1.25, "currency": "usd"}


# -- flushing ------------------------------------------------------------------------------


def test_2000_events_reach_polar_in_2_calls(user, counting):
    bulk(user, 2000)
    report = usage.flush()
    assert [len(ids) for ids in counting.ingests] == [1000, 1000]
    assert (report.sent, report.calls, report.inserted, report.duplicates) == (2000, 2, 2000, 0)
    assert consumed(user) == 2000.0
    assert list(UsageIngest.objects.values_list("events", "inserted", "duplicates")) == [
        (1000, 1000, 0),
        (1000, 1000, 0),
    ]


def test_an_outage_then_recovery_sends_everything_exactly_once(user, polar, counting, no_retries):
    bulk(user, 1500)
    polar.faults.fail_next(1, status=503)
    report = usage.flush()
    assert report.sent == 0 and report.failed == 1000 and report.retry_at is not None
    assert UsageEvent.objects.filter(ingested_at__isnull=True).count() == 1500
    assert "503" in UsageEvent.objects.first().last_error
    with pytest.raises(CommandError, match="1500 usage event"):
        polar.faults.fail_next(1, status=502)
        usage_command("flush")
    report = usage.flush()  # Polar is back
    assert report.sent == 1500 and report.duplicates == 0
    sent = [external_id for ids in counting.ingests for external_id in ids]
    assert len(set(sent)) == 1500
    assert consumed(user) == 1500.0
    assert UsageEvent.objects.filter(ingested_at__isnull=True).count() == 0


def test_a_crash_between_send_and_mark_resends_only_what_polar_deduplicates(user, polar, counting):
    bulk(user, 300)
    claimed = usage.claim(1000)  # a flusher claims the rows ...
    get_client().ingest_events([usage._body(e) for e in claimed])  # ... sends them, and dies
    assert UsageEvent.objects.filter(ingested_at__isnull=True).count() == 300
    assert usage.flush().sent == 0  # its claim still holds: nobody else sends them
    # The lease runs out (the flusher never came back).
    UsageEvent.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    report = usage.flush()
    assert (report.sent, report.inserted, report.duplicates) == (300, 0, 300)
    assert consumed(user) == 300.0  # Polar counted each event once


def test_429_pauses_for_retry_after_then_goes_on(user, polar, counting, no_retries):
    bulk(user, 1200)
    polar.faults.retry_after = 7
    polar.faults.fail_next(1, status=429)
    waits: list[float] = []
    report = usage.flush(sleep=waits.append)
    assert waits == [7.0]
    assert report.sent == 1200 and consumed(user) == 1200.0


def test_429_past_the_run_deadline_ends_the_run_with_its_retry_time(
    user, polar, counting, no_retries, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY_TASKS
    backend = tasks.send_usage_events.get_backend()
    backend.clear()
    bulk(user, 10)
    polar.faults.retry_after = 600
    polar.faults.fail_next(1, status=429)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_usage_events.call() == 0
    [queued] = backend.results  # the retry, at Retry-After
    assert before + timedelta(seconds=590) < queued.task.run_after
    assert queued.task.run_after < timezone.now() + timedelta(seconds=610)
    assert tasks.send_usage_events.call() == 10


def test_an_event_polar_rejects_does_not_hold_back_the_others(user, polar, counting):
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
        usage_command("flush")
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.ingested_at is not None
    assert bad.ingested_at is None and "past" in bad.last_error
    assert bad.next_attempt_at is not None  # it backs off on its own
    assert len(counting.ingests) == 2  # the batch, then the batch without the bad row
    assert consumed(user) == 1.0
    listed = usage_command("pending")
    assert "next_attempt=" in listed and "past" in listed


def test_a_billable_without_a_customer_gets_one_before_its_events(polar, counting):
    grace = User.objects.create_user("grace", "grace@example.com")
    assert grace.polar_customer is None
    grace.record_usage("api_call")
    assert usage.flush().sent == 1
    customer = grace.polar_customer
    assert customer is not None and UsageEvent.objects.get().customer == customer
    assert consumed(grace) == 1.0


def test_events_wait_with_the_reason_when_the_customer_cannot_be_created(polar, counting):
    # Polar already has a customer with this email (made in its dashboard): not ours.
    get_client().create_customer({"email": "taken@example.com"})
    grace = User.objects.create_user("grace", "taken@example.com")
    grace.record_usage("api_call")
    report = usage.flush()
    assert report.sent == 0 and report.waiting == 1 and counting.ingests == []
    event = UsageEvent.objects.get()
    assert "Waiting for a Polar customer" in event.last_error
    assert event.next_attempt_at is not None
    assert "Waiting for a Polar customer" in usage_command("pending")


def test_flush_command_reports_polars_counts(user, polar):
    bulk(user, 3)
    out = usage_command("flush")
    assert "Sent 3 usage event(s) to Polar in 1 request(s) (3 inserted, 0 duplicates)" in out
    assert usage_command("flush", "--quiet-when-empty") == ""
    with pytest.raises(CommandError, match="between 1 and 1000"):
        usage_command("flush", "--batch-size", "1001")


def test_flush_batch_size_and_the_earlier_name(user, counting):
    for _ in range(5):
        user.ingest_usage("api_call")  # the earlier name still records
    assert "Sent 5" in usage_command("flush", "--batch-size", "2")
    assert [len(ids) for ids in counting.ingests] == [2, 2, 1]


class RejectingOnce(httpx.BaseTransport):
    """The emulator, except that the first ingest call is answered with a 422 whose one
    error points at ``loc`` (Polar's validation errors name ``["body", "events", i, ...]``)."""

    def __init__(self, polar, loc, msg="Value error, bad event"):
        self.inner = polar.transport()
        self.loc = loc
        self.msg = msg
        self.rejected = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/events/ingest" and not self.rejected:
            self.rejected = True
            error = {"loc": self.loc, "msg": self.msg, "type": "value_error"}
            return httpx.Response(422, json={"detail": [error]})
        return self.inner.handle_request(request)


@pytest.mark.parametrize(
    ("loc", "set_aside"),
    [
        (["body", "events", 1], [1]),  # the row itself
        (["body", "events", 2, "metadata", "k"], [2]),  # a field of the row
        (["body", "events", 3], []),  # no such row: nobody is blamed
        (["body", "events"], []),  # the list, not a row
        (["body", "metadata", 0], []),  # not the events
        (["body"], []),
        (["query", "events", 0], []),
    ],
)
def test_a_422_sets_aside_only_the_rows_it_names(user, polar, loc, set_aside):
    bulk(user, 3)
    rows = list(UsageEvent.objects.order_by("pk"))
    with use_transport(RejectingOnce(polar, loc)):
        report = usage.flush()
    assert report.rejected == len(set_aside)
    assert report.sent == 3 - len(set_aside)
    waiting = [
        i for i, row in enumerate(rows) if UsageEvent.objects.get(pk=row.pk).ingested_at is None
    ]
    assert waiting == set_aside
    assert consumed(user) == 3 - len(set_aside)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"_cost": 5}, '"_cost" must be {"amount": <cents>, "currency": "usd"}.'),
        (
            {"_cost": {"amount": 1, "currency": "usd", "note": "x"}},
            '"_cost" must be {"amount": <cents>, "currency": "usd"}.',
        ),
        ({"_cost": {"amount": "ten", "currency": "usd"}}, '"_cost.amount" must be a number of cents.'),
        ({"_cost": {"amount": True, "currency": "usd"}}, '"_cost.amount" must be a number of cents.'),
        (
            {"_cost": {"amount": 123456, "currency": "usd"}},
            '"_cost.amount" takes up to 17 digits with 12 decimal places (cents).',
        ),
        (
            {"_cost": {"amount": 1, "currency": "eur"}},
            '"_cost.currency" must be "usd" (Polar supports only usd).',
        ),
        (
            {"tags": ["a"]},
            "Usage event metadata 'tags' must be a string, integer, float or boolean; got list.",
        ),
        ({"_llm": "gpt"}, '"_llm" must be a dict (vendor, model, token counts).'),
        ({"_llm": {"model": "gpt-4o"}}, '"_llm.vendor" is required and must be a string.'),
        (
            {"_llm": {"vendor": "openai", "model": "gpt-4o", "output_tokens": 1, "total_tokens": 1}},
            '"_llm.input_tokens" is required and must be an integer.',
        ),
        (
            {"_llm": {"vendor": "v", "model": "m", "input_tokens": 1, "output_tokens": 1,
                      "total_tokens": 2, "cached_input_tokens": "1"}},
            '"_llm.cached_input_tokens" is required and must be an integer.',
        ),
        (
            {"_llm": {"vendor": "v", "model": "m", "input_tokens": 1, "output_tokens": 1,
                      "total_tokens": 2, "prompt": 5}},
            '"_llm.prompt" must be a string or None.',
        ),
        (
            {"_llm": {"vendor": "v", "model": "m", "input_tokens": 1, "output_tokens": 1,
                      "total_tokens": 2, "response": ["no"]}},
            '"_llm.response" must be a string or None.',
        ),
    ],
)  # fmt: skip
def test_each_refusal_names_the_rule_it_breaks(metadata, message):
    with pytest.raises(InvalidUsageEvent) as refused:
        usage.validate_event("ok", metadata)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "metadata",
    [
        {"note": "x", "long": "x" * 500},  # 1 to 500 characters
        {"_cost": {"amount": 12345, "currency": "usd"}},  # 5 whole digits
        {"_cost": {"amount": 0.123456789012, "currency": "usd"}},  # 12 decimal places
        {"_cost": {"amount": 12345.123456789012, "currency": "usd"}},  # both: 17 digits
        {"_llm": {"vendor": "v", "model": "m", "input_tokens": 1, "output_tokens": 2,
                  "total_tokens": 3}},  # no cached_input_tokens
        {"_llm": {"vendor": "v", "model": "m", "input_tokens": 1, "output_tokens": 2,
                  "total_tokens": 3, "cached_input_tokens": 1, "prompt": "Hi", "response": None}},
    ],
)  # fmt: skip
def test_the_limits_polar_accepts_are_accepted(metadata):
    assert usage.validate_event("ok", metadata) == metadata


def test_llm_metadata_follows_polars_conventions():
    assert usage.llm_metadata(
        model="openai/gpt-4o/mini", input_tokens=10, output_tokens=5, team="red"
    ) == {
        "team": "red",
        "strategy": "LLM",
        "model": "openai/gpt-4o/mini",
        "inputTokens": 10,
        "outputTokens": 5,
        "totalTokens": 15,
        "_llm": {  # the vendor is the model's first path segment when not given
            "vendor": "openai",
            "model": "openai/gpt-4o/mini",
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
        },
    }
    metadata = usage.llm_metadata(
        model="gpt-4o", vendor="azure", input_tokens=1, output_tokens=1, cached_input_tokens=1
    )
    assert metadata["provider"] == "azure" and metadata["_llm"]["vendor"] == "azure"
    assert metadata["cachedInputTokens"] == 1 and metadata["_llm"]["cached_input_tokens"] == 1


def test_a_decimal_cost_becomes_a_json_number():
    assert json.dumps(usage.cost(Decimal("1.25"))) == '{"amount": 1.25, "currency": "usd"}'


def test_a_rejected_row_backs_off_longer_each_time_and_keeps_a_bounded_reason(user, polar, caplog):
    user.record_usage("api_call")
    row = UsageEvent.objects.get()
    for attempt, minutes in ((1, 1), (2, 2)):
        UsageEvent.objects.update(next_attempt_at=None)  # due again
        before = timezone.now()
        with use_transport(RejectingOnce(polar, ["body", "events", 0], msg="x" * 3000)):
            report = usage.flush()
        assert report.rejected == 1
        row.refresh_from_db()
        assert row.attempts == attempt and row.ingested_at is None
        wait = row.next_attempt_at - before
        assert timedelta(minutes=minutes) <= wait < timedelta(minutes=minutes, seconds=30)
        assert len(row.last_error) == 2000 and row.last_error.endswith("x")
    [warning, *_] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.getMessage().startswith("Sending 1 usage event(s) to Polar failed: ")
    assert "xxxx" in warning.getMessage()


def test_pending_events_are_listed_oldest_first(user):
    now = timezone.now()
    late = user.record_usage("b", timestamp=now - timedelta(minutes=1))
    early = user.record_usage("a", timestamp=now - timedelta(minutes=5))
    same = user.record_usage("c", timestamp=now - timedelta(minutes=5))
    assert list(usage.pending_events()) == [early, same, late]


def test_a_run_that_pauses_then_fails_reports_every_failure(user, polar, counting, no_retries):
    bulk(user, 10)
    polar.faults.retry_after = 7
    polar.faults.fail_next(1, status=429)
    polar.faults.fail_next(1, status=503)
    before = timezone.now()
    report = usage.flush(sleep=lambda seconds: None)
    after = timezone.now()
    assert (report.sent, report.failed) == (0, 20)  # the batch failed twice
    assert len(report.errors) == 2
    assert "429" in report.errors[0] and "503" in report.errors[1]
    row = UsageEvent.objects.first()
    assert row.attempts == 2 and "503" in row.last_error
    # Polar is down: the run ends, to retry after the backoff of the rows' next (2nd) attempt.
    assert before + timedelta(minutes=2) <= report.retry_at <= after + timedelta(minutes=2)
    report = usage.flush()
    assert report.sent == 10 and report.failed == 0


def test_polar_down_while_creating_a_customer_holds_the_whole_run(polar, counting, no_retries):
    grace = User.objects.create_user("grace", "grace@example.com")
    grace.record_usage("api_call")
    for attempt, minutes in ((1, 1), (2, 2)):
        polar.faults.fail_next(1, status=503)
        before = timezone.now()
        report = usage.flush()
        after = timezone.now()
        assert (report.sent, report.failed) == (0, 1)
        [error] = report.errors
        assert error.startswith("Creating the Polar customer failed: ")
        row = UsageEvent.objects.get()
        assert row.attempts == attempt and row.last_error == error
        wait = timedelta(minutes=minutes)
        assert before + wait <= report.retry_at <= after + wait
    assert usage.flush().sent == 1 and grace.polar_customer is not None


def test_rows_waiting_for_their_customer_back_off_longer_each_time(polar, counting):
    get_client().create_customer({"email": "taken@example.com"})
    grace = User.objects.create_user("grace", "taken@example.com")
    grace.record_usage("api_call")
    for attempt, minutes in ((1, 1), (2, 2)):
        UsageEvent.objects.update(next_attempt_at=None)  # due again
        before = timezone.now()
        report = usage.flush()
        after = timezone.now()
        assert report.waiting == 1 and report.sent == 0
        row = UsageEvent.objects.get()
        assert row.attempts == attempt and row.last_error.startswith("Waiting for a Polar customer")
        wait = timedelta(minutes=minutes)
        assert before + wait <= row.next_attempt_at <= after + wait


class RejectingTwice(RejectingOnce):
    """The first two ingest calls each refuse their first row."""

    calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/events/ingest" and self.calls < 2:
            self.calls += 1
            self.rejected = False
        return super().handle_request(request)


def test_two_rejections_in_one_run_are_both_reported(user, polar):
    bulk(user, 4)
    with use_transport(RejectingTwice(polar, ["body", "events", 0], msg="bad one")):
        report = usage.flush()
    assert (report.rejected, report.sent) == (2, 2)
    assert len(report.errors) == 2 and all("bad one" in error for error in report.errors)


def test_duplicates_are_counted_over_every_batch_and_logged(user, polar, counting):
    bulk(user, 4)
    claimed = usage.claim(1000)
    get_client().ingest_events([usage._body(e) for e in claimed])  # sent, never marked
    UsageEvent.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    report = usage.flush(batch_size=2)
    assert (report.calls, report.sent, report.duplicates) == (2, 4, 4)
    assert [(i.events, i.inserted, i.duplicates) for i in UsageIngest.objects.order_by("pk")] == [
        (2, 0, 2),
        (2, 0, 2),
    ]


def test_a_run_that_pauses_twice_reports_both_failures(user, polar, counting, no_retries):
    bulk(user, 10)
    polar.faults.retry_after = 3
    polar.faults.fail_next(2, status=429)
    waits: list[float] = []
    report = usage.flush(sleep=waits.append)
    assert waits == [3.0, 3.0]
    assert (report.sent, report.failed, len(report.errors)) == (10, 20, 2)
    assert all("Rate limit" in error for error in report.errors)


def test_record_many_takes_names_or_dicts_and_refuses_anything_else(user):
    when = timezone.now() - timedelta(minutes=3)
    rows = user.record_usage_many(
        ["plain", {"name": "full", "metadata": {"k": 1}, "timestamp": when, "external_id": "e-1"}]
    )
    assert [(r.name, r.metadata, r.external_id) for r in rows][1] == ("full", {"k": 1}, "e-1")
    assert UsageEvent.objects.get(external_id="e-1").timestamp == when
    message = "Each event is a name or a dict of name, metadata, timestamp, external_id."
    for bad in (["api_call"], {"name": "x", "when": when}, 5):
        with pytest.raises(InvalidUsageEvent) as refused:
            user.record_usage_many([bad])
        assert str(refused.value) == message
    assert UsageEvent.objects.count() == 2


def test_flush_limit_and_batch_size_bound_a_run(user, polar, counting):
    bulk(user, 5)
    report = usage.flush(limit=3, batch_size=2)
    assert (report.sent, report.calls) == (3, 2)  # 2 + 1, then the limit
    assert usage.pending_events().count() == 2
    report = usage.flush(batch_size=1)
    assert (report.sent, report.calls) == (2, 2)


def test_each_billables_events_are_linked_to_its_own_customer(polar, counting):
    ann = User.objects.create_user("ann", "ann@example.com")
    bob = User.objects.create_user("bob", "bob@example.com")
    ann.record_usage("api_call")
    bob.record_usage("api_call")
    assert usage.flush().sent == 2
    for user in (ann, bob):
        [event] = UsageEvent.objects.filter(external_customer_id=user.get_polar_external_id())
        assert event.customer == user.polar_customer


def test_every_billable_waiting_for_its_customer_is_reported(polar, counting):
    for name in ("ann", "bob"):
        get_client().create_customer({"email": f"{name}@example.com"})  # taken in Polar
        User.objects.create_user(name, f"{name}@example.com").record_usage("api_call")
    report = usage.flush()
    assert (report.waiting, report.sent) == (2, 0)
    assert sorted(report.errors) == sorted(e.last_error for e in UsageEvent.objects.all())


@pytest.mark.parametrize(("count", "rejected"), [(1, 1), (2, 0)])
def test_a_422_naming_no_row_is_halved_until_the_row_is_alone(user, polar, count, rejected):
    bulk(user, count)
    with use_transport(RejectingOnce(polar, ["body"])):
        report = usage.flush()
    # One row alone is the culprit; two are split, and each half goes through.
    assert (report.rejected, report.sent) == (rejected, count - rejected)


def test_an_events_own_fields_are_refused_with_their_rule(user):
    naive = timezone.now().replace(tzinfo=None)
    cases = [
        ({"metadata": ["k"]}, "Usage event metadata must be a dict."),
        ({"external_id": ""}, "A usage event external_id must be a non-empty string."),
        ({"external_id": 42}, "A usage event external_id must be a non-empty string."),
        ({"external_id": "x" * 256}, "A usage event external_id holds at most 255 characters."),
        ({"timestamp": naive}, "A usage event timestamp must be timezone-aware."),
    ]
    for fields, message in cases:
        with pytest.raises(InvalidUsageEvent) as refused:
            user.record_usage("ok", fields.pop("metadata", None), **fields)
        assert str(refused.value) == message, fields
    assert not UsageEvent.objects.exists()


def test_the_event_limits_polar_accepts_are_accepted(user):
    metadata = {"k": 1, "k" * 40: 2, **{f"n{i}": i for i in range(48)}}  # 50 keys
    row = user.record_usage("n" * 128, metadata, external_id="e" * 255)
    assert (len(row.name), len(row.metadata), len(row.external_id)) == (128, 50, 255)
