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


REASONS = {
    "NaN": "the body contains NaN, which is not JSON",
    "Infinity": "the body contains -Infinity, which is not JSON",
    "1e999": "the number 1e999 does not fit a float",
    "escaped NUL": "the body contains a NUL character",
    "escaped NUL in a key": "the body contains a NUL character",
    "lone surrogate": "the body contains a lone surrogate",
    "raw NUL byte": "the body is not JSON",
    "raw NUL outside a string": "the body is not JSON",
    "nested 1000 deep": "the body is nested too deeply to parse",
    "nested 100000 deep": "the body is nested too deeply to parse",
    "NUL in the type": "the body contains a NUL character",
}


@pytest.mark.parametrize("name", REASONS)
def test_a_body_stored_as_malformed_says_exactly_why_in_its_row(client, name):
    """The inbox row is what an operator reads: the id and time of the delivery, and why
    it could not be stored as an event."""
    body = BODIES[name]
    signed = int(time.time())
    headers = pp.sign(body, SECRET, webhook_id="msg_" + name.replace(" ", "_"), timestamp=signed)
    assert post(client, body.encode(), headers).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.webhook_id == headers["webhook-id"]
    assert event.timestamp.timestamp() == signed
    assert event.last_error == f"Malformed event: {REASONS[name]}."
    assert list(event.payload) == ["raw_body"]


def nested(depth: int, *, container: str = "list") -> str:
    """An event whose ``data.deep`` holds ``depth - 2`` nested containers, so its deepest
    value sits ``depth`` levels below the top."""
    opening, closing = ("[", "]") if container == "list" else ('{"k": ', "}")
    inner = opening * (depth - 2) + "1" + closing * (depth - 2)
    data = json.dumps(pp.customer(pp.new_id()))[:-1] + f', "deep": {inner}}}'
    return f'{{"type": "customer.created", "data": {data}}}'


@pytest.mark.parametrize("container", ["list", "object"])
def test_nesting_of_64_levels_is_an_event_and_65_is_malformed(client, container):
    """The limit is exact: a real event is never refused for being deep enough."""
    for depth, status, error in [
        (64, "processed", ""),
        (65, "failed", "Malformed event: the body is nested deeper than 64 levels."),
    ]:
        body = nested(depth, container=container)
        headers = pp.sign(body, SECRET)
        assert post(client, body.encode(), headers).status_code == 200
        event = WebhookEvent.objects.get(webhook_id=headers["webhook-id"])
        assert (event.status, event.last_error) == (status, error), depth


@pytest.mark.parametrize(
    ("body", "payload"),
    [
        (b"[1, 2, 3]", {"raw_body": "[1, 2, 3]"}),
        (b'"just a string"', {"raw_body": '\\"just a string\\"'}),
        (b'{"type": 42, "data": {}}', {"type": 42, "data": {}}),  # JSON: kept as JSON
    ],
)
def test_a_body_that_is_not_an_event_keeps_its_json_and_says_so(client, body, payload):
    headers = pp.sign(body, SECRET, webhook_id="msg_not_event")
    assert post(client, body, headers).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.webhook_id, event.type, event.status) == ("msg_not_event", "", "failed")
    assert event.payload == payload
    assert event.last_error == (
        "Malformed event: the body is not a JSON object with a string 'type'."
    )


def test_over_long_type_version_and_id_are_cut_to_their_columns(client):
    """The inbox columns hold 64, 16 and 64 characters (PostgreSQL refuses more); the
    payload keeps the whole values."""
    data = pp.customer(pp.new_id())
    data["id"] = "i" * 100
    envelope = {**pp.envelope("customer.created", data), "api_version": "v" * 30}
    envelope["type"] = "t" * 100
    body = json.dumps(envelope)
    assert post(client, body.encode(), pp.sign(body, SECRET)).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.type, event.api_version, event.object_id) == ("t" * 64, "v" * 16, "i" * 64)
    assert event.payload["type"] == "t" * 100


def test_an_overflowing_number_is_named_by_its_first_20_characters(client):
    number = "1e" + "9" * 30
    body = CUSTOMER.replace('"metadata": {}', f'"metadata": {{"x": {number}}}')
    assert post(client, body.encode(), pp.sign(body, SECRET)).status_code == 200
    assert WebhookEvent.objects.get().last_error == (
        f"Malformed event: the number {number[:20]} does not fit a float."
    )


def test_the_raw_text_of_a_malformed_body_stays_readable(client):
    """Only what a database could refuse is escaped: accents and emoji read as sent."""
    body = 'not JSON: Zoë 🦄 "quoted"\n'
    assert post(client, body.encode(), pp.sign(body, SECRET)).status_code == 200
    assert WebhookEvent.objects.get().payload == {"raw_body": 'not JSON: Zoë 🦄 \\"quoted\\"\\n'}


@pytest.mark.parametrize("body", ["[1, 2, 3]", '{"type": 42, "data": {}}'])
def test_a_body_that_is_not_an_event_is_dated_by_its_signature(client, body):
    """Such a row has no event time of its own: the inbox orders it by when Polar signed it."""
    signed = int(time.time()) - 60
    assert post(client, body.encode(), pp.sign(body, SECRET, timestamp=signed)).status_code == 200
    assert WebhookEvent.objects.get().timestamp.timestamp() == signed
