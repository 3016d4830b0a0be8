"""Two usage flushers at once on PostgreSQL (real threads, connections and row locks)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from django_polar import usage
from django_polar.client import get_client, use_transport
from django_polar.models import UsageEvent
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.test_usage import Counting
from tests.test_webhook_concurrency import run_together
from tests.testapp.models import User

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def cron_sending(settings):
    """Only the flushers under test send (the test settings flush after each commit)."""
    settings.POLAR = {**settings.POLAR, "USAGE_SENDING": "cron"}


def test_two_concurrent_flushers_never_send_a_row_twice(polar):
    user = User.objects.create_user("ada", "ada@example.com")
    user.get_or_create_polar_customer()
    user.record_usage_many(["api_call"] * 1500)
    polar.faults.latency = 0.02  # each ingest takes a while, so the flushers overlap
    counting = Counting(polar)
    with use_transport(counting):
        reports = run_together(
            lambda: usage.flush(batch_size=100), lambda: usage.flush(batch_size=100)
        )
    sent = Counter(external_id for ids in counting.ingests for external_id in ids)
    assert len(sent) == 1500 and set(sent.values()) == {1}  # every row, once
    assert all(report.sent > 0 for report in reports)  # both really worked
    assert sum(report.sent for report in reports) == 1500
    assert sum(report.duplicates for report in reports) == 0
    assert not UsageEvent.objects.filter(ingested_at__isnull=True).exists()
    [meter] = get_client().list_customer_meters(external_customer_id=user.get_polar_external_id())
    assert meter["consumed_units"] == 1500.0


def test_a_claim_skips_rows_another_flusher_holds_locked(polar):
    user = User.objects.create_user("ada", "ada@example.com")
    user.record_usage_many(["api_call"] * 10)
    locked, release = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():  # a claim in progress: the first 4 rows are locked
            rows = UsageEvent.objects.select_for_update().order_by("pk")[:4]
            held = [e.pk for e in rows]
            locked.set()
            release.wait(10)
        return held

    def claimer():
        locked.wait(10)
        try:
            return [e.pk for e in usage.claim(100)]  # does not wait for the lock
        finally:
            release.set()

    held, claimed = run_together(holder, claimer)
    assert len(held) == 4 and len(claimed) == 6 and not set(held) & set(claimed)
    connection.close()
