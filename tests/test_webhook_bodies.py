"""Every authentic body is stored and acknowledged, whatever JSON the database refuses.

Bodies are signed with real Standard Webhooks signatures and posted to the real view;
run on SQLite and PostgreSQL (jsonb refuses NaN, \\u0000 and lone surrogates).
"""

from __future__ import annotations

import json
import time

import pytest

from django_polar.models import WebhookEvent
from tests import polar_payloads as pp
from tests.test_webhook_view import SECRET, post

pytestmark = pytest.mark.django_db

CUSTOMER = json.dumps(pp.envelope("customer.created", pp.customer(pp.new_id())))

BODIES = {
    "NaN": CUSTOMER.replace('"metadata": {}', '"metadata": {"x": NaN}'),
    "Infinity": CUSTOMER.replace('"metadata": {}', '"metadata": {"x": -Infinity}'),
    "1e999": CUSTOMER.replace('"metadata": {}', '"metadata": {"x": 1e999}'),
    "escaped NUL": CUSTOMER.replace('"metadata": {}', '"metadata": {"x": "a\\u0000b"}'),
    "escaped NUL in a key": CUSTOMER.replace('"metadata": {}', '"metadata": {"a\\u0000": 1}'),
    "lone surrogate": CUSTOMER.replace('"metadata": {}', '"metadata": {"x": "\\ud800"}'),
    "raw NUL byte": CUSTOMER.replace('"metadata": {}', '"metadata": {"x": "a\x00b"}'),
    "raw NUL outside a string": CUSTOMER + "\x00",
    "nested 1000 deep": '{"type": "customer.created", "data": ' + "[" * 1000 + "]" * 1000 + "}",
    "nested 100000 deep": "[" * 100_000 + "]" * 100_000,
    "NUL in the type": '{"type": "customer.\\u0000created", "data": {}}',
}


@pytest.mark.parametrize("name", BODIES)
def test_an_authentic_body_the_database_cannot_hold_is_stored_escaped_and_acknowledged(
    client, name
):
    body = BODIES[name]
    headers = pp.sign(body, SECRET)
    response = post(client, body.encode(), headers)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "stored"}
    event = WebhookEvent.objects.get(webhook_id=headers["webhook-id"])
    assert event.status == "failed" and event.type == ""
    assert event.last_error.startswith("Malformed event:")
    assert event.next_attempt_at is None  # no retry can fix it; replayable by hand
    assert json.loads('"' + event.payload["raw_body"] + '"') == body  # the raw text, kept
    assert "\x00" not in event.payload["raw_body"]

    # Polar's retry of the same delivery is a duplicate, not a second row or a 5xx.
    again = post(client, body.encode(), headers)
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert WebhookEvent.objects.count() == 1


def test_ordinary_unicode_and_big_numbers_are_stored_as_json(client):
    data = pp.customer(pp.new_id(), name="Zoë 🦄", metadata={"n": 10**30, "f": 1.5e300})
    body = json.dumps(pp.envelope("customer.created", data), ensure_ascii=False)
    assert post(client, body.encode(), pp.sign(body, SECRET)).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == "processed"
    assert event.payload["data"]["name"] == "Zoë 🦄"


@pytest.mark.parametrize(
    "timestamp", ["{now}.5", "{now}.0", "1.7e9", "+{now}", "-{now}", "0x10", "{now}e0", "١٢٣"]
)
def test_a_non_integer_webhook_timestamp_is_refused_with_400(client, timestamp):
    now = int(time.time())
    headers = pp.sign(CUSTOMER, SECRET, timestamp=now)
    headers["webhook-timestamp"] = timestamp.format(now=now)
    response = post(client, CUSTOMER.encode(), headers)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
