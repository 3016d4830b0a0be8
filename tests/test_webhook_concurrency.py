"""Two workers at once (PostgreSQL, real threads and connections)."""

from __future__ import annotations

import copy
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client

from django_polar import mirror
from django_polar.models import Subscription, WebhookEvent
from tests import polar_payloads as pp
from tests import webhook_flows as flows
from tests.test_webhook_view import sub_payload


def run_together(*targets):
    barrier = threading.Barrier(len(targets))
    results, errors = [None] * len(targets), []

    def wrap(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_webhook_at_the_same_moment_is_stored_and_applied_once():
    """One delivery the emulator signed, replayed by six workers at once."""
    body, headers = flows.first(flows.purchase_deliveries(), "subscription.created")
    responses = run_together(*[lambda: flows.post_signed(Client(), body, headers)] * 6)
    assert [r.status_code for r in responses] == [200] * 6
    assert sorted(r.json()["status"] for r in responses) == ["duplicate"] * 5 + ["stored"]
    event = WebhookEvent.objects.get()
    assert (event.webhook_id, event.status, event.attempts) == (
        headers["webhook-id"],
        "processed",
        1,
    )
    assert [str(pk) for pk in Subscription.objects.values_list("pk", flat=True)] == [
        event.object_id
    ]


# Hand-written on purpose: two snapshots of one subscription racing on two connections
# need a controlled modified_at pair, which no emulator flow produces at the same moment.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_older_snapshot_never_wins_a_race():
    base = sub_payload()
    mirror.upsert_subscription(base)
    for round_ in range(8):
        t = pp.T0 + timedelta(hours=round_ + 1)
        newer = {
            **copy.deepcopy(base),
            "modified_at": pp.iso(t + timedelta(seconds=1)),
            "status": "past_due",
        }
        older = {**copy.deepcopy(base), "modified_at": pp.iso(t), "status": "active"}
        order = [older, newer] if round_ % 2 else [newer, older]
        run_together(*[lambda d=d: mirror.upsert_subscription(d) for d in order])
        sub = Subscription.objects.get()
        assert (sub.status, sub.modified_at) == ("past_due", t + timedelta(seconds=1))
