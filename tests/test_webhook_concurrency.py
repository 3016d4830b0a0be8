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
from tests.test_webhook_view import SECRET, post, sub_payload


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
    body = pp.body_of(pp.envelope("subscription.created", sub_payload()))
    headers = pp.sign(body, SECRET, webhook_id="msg_race")
    responses = run_together(*[lambda: post(Client(), body, headers) for _ in range(6)])
    assert [r.status_code for r in responses] == [200] * 6
    assert sorted(r.json()["status"] for r in responses) == ["duplicate"] * 5 + ["stored"]
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("processed", 1)
    assert Subscription.objects.count() == 1


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
