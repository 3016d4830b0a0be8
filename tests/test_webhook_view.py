"""The inbox view: authenticity, storage once, acknowledgement, application."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wsgiref.util
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import CommandError, call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import Client, override_settings
from django.urls import reverse

from django_polar import signals
from django_polar.models import Customer, Subscription, WebhookEvent
from django_polar.webhooks import dispatch
from django_polar.webhooks.verify import VerificationError, verify
from tests import polar_payloads as pp
from tests import webhook_flows as flows

URL = "/polar/webhook/"
SECRET = pp.standard_secret()


def polar(**overrides):
    from django.conf import settings

    return override_settings(POLAR={**settings.POLAR, **overrides})


# Hand-written payload helpers, kept for the modules that import them (signals, admin,
# tasks worker) and for the one test here the emulator cannot feed (malformed bodies).
def sub_payload(*, external_id=None, modified=None, **kw):
    prod_id = pp.new_id()
    prod = pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], [pp.benefit(pp.new_id())])
    cust = pp.customer(pp.new_id(), external_id)
    return pp.subscription(pp.new_id(), cust, prod, modified=modified, **kw)


def post(client, body: bytes, headers: dict[str, str]):
    return client.post(URL, data=body, content_type="application/json", **pp.as_meta(headers))


def deliver(client, event_type, data, *, secret=SECRET, scheme="standard", webhook_id=None):
    body = pp.body_of(pp.envelope(event_type, data))
    return post(client, body, pp.sign(body, secret, scheme=scheme, webhook_id=webhook_id))


def test_url_name_resolves_to_the_inbox():
    assert reverse("django_polar:webhook") == URL


@pytest.fixture
def purchase():
    """A real purchase's webhooks, signed by the emulator with the project's secret."""
    return flows.purchase_deliveries()


@pytest.fixture
def ada():
    """The emulator's customer.created delivery for a customer named Ada."""
    return flows.customer_delivery()


@pytest.mark.django_db
def test_a_real_purchase_is_stored_applied_and_acknowledged(client, purchase):
    for body, headers in purchase:
        response = flows.post_signed(client, body, headers)
        assert response.status_code == 200
        assert response.json() == {"status": "stored"}
    assert WebhookEvent.objects.count() == len(purchase)
    body, headers = flows.first(purchase, "subscription.created")
    event = WebhookEvent.objects.get(webhook_id=headers["webhook-id"])
    assert (event.type, event.status, event.attempts) == ("subscription.created", "processed", 1)
    assert event.payload == json.loads(body)
    data = event.payload["data"]
    assert event.api_version == "2026-10" and event.object_id == data["id"]
    assert event.processed_at is not None
    sub = Subscription.objects.get(pk=data["id"])
    last = [json.loads(b)["data"] for b, _ in purchase if b'"type":"subscription.' in b][-1]
    assert sub.status == last["status"] == "trialing"  # the monthly plan starts with a trial
    assert sub.product.prices.count() == len(data["product"]["prices"])
    assert sub.product.benefits.count() == len(data["product"]["benefits"]) > 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("secret", "scheme"),
    [
        (SECRET, "standard"),
        (SECRET, "legacy"),  # a whsec_ secret made before 2026-09-08
        ("polar_whs_Legacy-Secret_not-base64!", "legacy"),
        ("c2hvcnQ", "legacy"),  # happens to be base64: both keys are tried
    ],
)
def test_both_key_schemes_verify(client, secret, scheme):
    body, headers = flows.customer_delivery(secret=secret, scheme=scheme)
    with polar(WEBHOOK_SECRET=secret):
        response = flows.post_signed(client, body, headers)
    assert response.status_code == 200
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_several_signatures_one_valid(client, ada):
    body, headers = ada
    headers = {
        **headers,
        "webhook-signature": "v1,AAAA v2,xyz garbage " + headers["webhook-signature"],
    }
    assert flows.post_signed(client, body, headers).status_code == 200


def zoo(body: bytes, good: dict[str, str]) -> dict[str, tuple[bytes, dict[str, str], int]]:
    """Every way a request can fail to prove it is Polar's, derived from a real delivery."""
    now = time.time()
    latin1 = body.replace(b'"Ada"', b'"Ad\xe9"')
    return {
        "no headers": (body, {}, 400),
        "no signature": (body, {k: v for k, v in good.items() if k != "webhook-signature"}, 400),
        "no id": (body, {k: v for k, v in good.items() if k != "webhook-id"}, 400),
        "no timestamp": (body, {k: v for k, v in good.items() if k != "webhook-timestamp"}, 400),
        "timestamp not a number": (body, {**good, "webhook-timestamp": "yesterday"}, 400),
        "timestamp nan": (body, {**good, "webhook-timestamp": "nan"}, 400),
        "timestamp inf": (body, {**good, "webhook-timestamp": "1e999"}, 400),
        "old timestamp": (body, pp.sign(body, SECRET, timestamp=now - 400), 403),
        "replayed header, old timestamp": (
            body,
            {**good, "webhook-timestamp": str(int(now - 400))},
            403,
        ),
        "future timestamp": (body, pp.sign(body, SECRET, timestamp=now + 400), 403),
        "wrong secret": (body, pp.sign(body, pp.standard_secret(b"another-secret")), 403),
        "tampered body": (body.replace(b'"Ada"', b'"Eve"'), good, 403),
        "bad base64": (body, {**good, "webhook-signature": "v1,!!!not-base64!!!"}, 403),
        "garbage signature": (body, {**good, "webhook-signature": "garbage"}, 403),
        "many commas": (body, {**good, "webhook-signature": "v1,a,b,c"}, 403),
        "other version": (
            body,
            {**good, "webhook-signature": good["webhook-signature"].replace("v1,", "v2,")},
            403,
        ),
        "id swapped": (body, {**good, "webhook-id": "msg_other"}, 403),
        "id too long": (body, {**good, "webhook-id": "x" * 300}, 400),
        "non-UTF-8 body": (latin1, pp.sign(latin1.decode("latin-1"), SECRET), 400),
    }


ZOO = list(zoo(b'{"name":"Ada"}', pp.sign(b"{}", SECRET)))


@pytest.mark.django_db
def test_the_zoo_source_is_an_accepted_delivery(client, ada):
    body, headers = ada
    assert b'"Ada"' in body  # every zoo entry below alters this very delivery
    assert flows.post_signed(client, body, headers).status_code == 200
    assert Customer.objects.get().name == "Ada"


@pytest.mark.django_db
@pytest.mark.parametrize("name", ZOO)
def test_unauthentic_requests_are_refused_without_detail(client, ada, name):
    body, headers, status = zoo(*ada)[name]
    response = flows.post_signed(client, body, headers)
    assert response.status_code == status, name
    assert response.json() == {"status": "refused"}
    assert SECRET not in response.content.decode()
    assert WebhookEvent.objects.count() == 0
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_missing_secret_setting_refuses_with_403(client, ada):
    with polar(WEBHOOK_SECRET=""):
        response = flows.post_signed(client, *ada)
    assert response.status_code == 403
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_tolerance_setting_is_honoured(client, ada):
    body, _ = ada
    headers = pp.sign(body, SECRET, timestamp=time.time() - 200)
    with polar(WEBHOOK_TOLERANCE=60):
        assert flows.post_signed(client, body, headers).status_code == 403
    assert flows.post_signed(client, body, headers).status_code == 200


@pytest.mark.django_db
def test_body_over_the_limit_is_413_and_not_stored(client, ada):
    body, headers = ada
    with polar(WEBHOOK_MAX_BODY_BYTES=len(body) - 1):
        response = flows.post_signed(client, body, headers)
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0
    with polar(WEBHOOK_MAX_BODY_BYTES=len(body)):
        assert flows.post_signed(client, body, headers).status_code == 200


@pytest.mark.django_db
def test_body_larger_than_django_upload_limit_is_still_accepted(client, settings, purchase):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body, headers = flows.first(purchase, "subscription.created")
    assert len(body) > 1024
    assert flows.post_signed(client, body, headers).status_code == 200
    assert Subscription.objects.exists()


@pytest.mark.django_db
def test_get_is_405(client):
    assert client.get(URL).status_code == 405


@pytest.mark.django_db
def test_exempt_from_csrf_and_login_required_middleware(settings, ada):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    response = flows.post_signed(Client(enforce_csrf_checks=True), *ada)
    assert response.status_code == 200
    assert Customer.objects.count() == 1


# Hand-written on purpose: the emulator only ever sends well-formed events, so authentic
# but malformed bodies (signed with the real secret) cannot come from it.
@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b"[1, 2, 3]", b'{"data": {}}', b'{"type": 42}', b"not json at all", b'"just a string"'],
)
def test_authentic_malformed_body_is_stored_failed_and_acknowledged(client, body):
    response = post(client, body, pp.sign(body, SECRET, webhook_id="msg_bad"))
    assert response.status_code == 200
    event = WebhookEvent.objects.get(webhook_id="msg_bad")
    assert event.status == "failed" and "Malformed event" in event.last_error
    assert event.next_attempt_at is None  # replaying cannot fix it


@pytest.mark.django_db
def test_unmirrored_type_is_stored_ignored_and_signalled(
    client, purchase, django_capture_on_commit_callbacks
):
    seen = []

    def receiver(sender, event, obj, billable, **kwargs):
        seen.append((sender, event.webhook_id, obj, billable))

    body, headers = flows.first(purchase, "checkout.created")
    signals.for_event("checkout.created").connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = flows.post_signed(client, body, headers)
    finally:
        signals.for_event("checkout.created").disconnect(receiver)
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "ignored"
    assert seen == [("checkout.created", headers["webhook-id"], None, None)]


@pytest.mark.django_db
def test_future_event_type_is_stored_ignored(client):
    delivery = flows.emitted_delivery("invoice.teleported", {"id": pp.new_id()})
    response = flows.post_signed(client, *delivery)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.type, event.status) == ("invoice.teleported", "ignored")


@pytest.mark.django_db
def test_failed_events_are_retried_with_backoff_up_to_max_attempts(client, monkeypatch, ada):
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", lambda data, **kw: 1 / 0)
    with polar(WEBHOOK_MAX_ATTEMPTS=2):
        flows.post_signed(client, *ada)
        event = WebhookEvent.objects.get()
        first_delay = event.next_attempt_at - event.received_at
        assert timedelta(seconds=50) < first_delay < timedelta(minutes=2)
        call_command("polar_webhooks", "retry-failed", stdout=None)
        assert WebhookEvent.objects.get().attempts == 1  # not due yet
        WebhookEvent.objects.update(next_attempt_at=event.received_at)
        with pytest.raises(CommandError) as failed_again:  # the exit status counts it
            call_command("polar_webhooks", "retry-failed", stdout=None)
        assert failed_again.value.returncode == 1
    event.refresh_from_db()
    assert event.attempts == 2 and event.status == "failed"
    assert event.next_attempt_at is None  # out of attempts, still visible and replayable
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_signals_carry_event_obj_and_billable_and_a_failing_receiver_changes_nothing(
    client, django_capture_on_commit_callbacks
):
    from tests.testapp.models import User

    user = User.objects.create(username="ada")
    body, headers = flows.first(
        flows.purchase_deliveries(external_id=user.get_polar_external_id()),
        "subscription.created",
    )
    seen = []

    def good(sender, event, obj, billable, **kwargs):
        seen.append((sender, event.webhook_id, obj, billable))

    def bad(sender, **kwargs):
        raise RuntimeError("receiver bug")

    typed = signals.for_event("subscription.created")
    typed.connect(bad)
    typed.connect(good)
    signals.webhook_event_processed.connect(good)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = flows.post_signed(client, body, headers)
    finally:
        typed.disconnect(bad)
        typed.disconnect(good)
        signals.webhook_event_processed.disconnect(good)
    assert response.status_code == 200
    sub = Subscription.objects.get(pk=json.loads(body)["data"]["id"])
    assert WebhookEvent.objects.get().status == "processed"
    assert seen == [("subscription.created", headers["webhook-id"], sub, user)] * 2
    assert user.polar_customer.pk == sub.customer_id


@pytest.mark.django_db(transaction=True)
def test_under_atomic_requests_the_event_survives_a_failed_application(client, monkeypatch, ada):
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", lambda data, **kw: 1 / 0)
    response = flows.post_signed(client, *ada)
    assert response.status_code == 200
    event = WebhookEvent.objects.get(webhook_id=ada[1]["webhook-id"])
    assert event.status == "failed" and "ZeroDivisionError" in event.last_error


@pytest.mark.django_db(transaction=True)
def test_task_processing_with_the_immediate_backend(client, purchase):
    body, headers = flows.first(purchase, "subscription.created")
    with polar(WEBHOOK_PROCESSING="task"):
        response = flows.post_signed(client, body, headers)
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "processed"
    assert Subscription.objects.filter(pk=json.loads(body)["data"]["id"]).exists()


@pytest.mark.django_db
def test_management_command_lists_by_status(client, monkeypatch, capsys, purchase):
    monkeypatch.setitem(dispatch.HANDLERS, "order.created", lambda data, **kw: 1 / 0)
    ok = flows.first(purchase, "customer.created")
    ko = flows.first(purchase, "order.created")
    for delivery in (ok, ko):
        flows.post_signed(client, *delivery)
    call_command("polar_webhooks", "list", "--status", "failed")
    out = capsys.readouterr().out
    assert ko[1]["webhook-id"] in out and ok[1]["webhook-id"] not in out
    assert "ZeroDivisionError" in out


# -- acknowledge first, then apply (inline mode) --------------------------------------------


@contextmanager
def raw_wsgi_server():
    """Call the project's WSGI app as a server would, without the test Client's help.

    Like django.test.Client, keep Django from closing the test's connection on
    request_started / request_finished (the test runs inside a transaction).
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


def wsgi_environ(body: bytes, headers: dict[str, str]) -> dict:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": URL,
        "HTTP_HOST": "testserver",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **pp.as_meta(headers),
    }
    wsgiref.util.setup_testing_defaults(environ)
    return environ


@pytest.mark.django_db
def test_inline_mode_sends_the_answer_before_applying_the_event(ada):
    body, headers = ada
    data = json.loads(body)["data"]
    environ = wsgi_environ(body, headers)
    statuses = []
    with raw_wsgi_server() as app:
        result = app(environ, lambda status, headers: statuses.append(status))
        sent = b"".join(result)  # the server writes the whole answer to Polar
        assert statuses == ["200 OK"] and json.loads(sent) == {"status": "stored"}
        event = WebhookEvent.objects.get(webhook_id=headers["webhook-id"])
        assert event.status == "pending"  # stored (committed), not applied yet
        assert not Customer.objects.exists()
        result.close()  # what every WSGI server does once the body is out
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1)
    assert Customer.objects.filter(pk=data["id"]).exists()


@pytest.mark.django_db
def test_a_crash_after_the_answer_is_recorded_and_the_request_still_finishes(monkeypatch, ada):
    def buggy(data, *, event_time=None):
        raise RuntimeError("handler bug")

    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", buggy)
    finished = []

    def on_finished(sender, **kwargs):
        finished.append(sender)

    body, headers = ada
    environ = wsgi_environ(body, headers)
    statuses = []
    request_finished.connect(on_finished)
    try:
        with raw_wsgi_server() as app:
            result = app(environ, lambda status, headers: statuses.append(status))
            assert json.loads(b"".join(result)) == {"status": "stored"}
            result.close()  # does not raise
            result.close()  # a second close applies nothing again
    finally:
        request_finished.disconnect(on_finished)
    assert statuses == ["200 OK"]
    event = WebhookEvent.objects.get(webhook_id=headers["webhook-id"])
    assert event.status == "failed" and "RuntimeError: handler bug" in event.last_error
    assert event.attempts == 1
    assert len(finished) == 2  # Django's own close() ran (connections are released)


# -- the exact refusals: what the operator reads in the log ---------------------------------


def inbox_log(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "django_polar.webhooks"]


def refusals(
    body: bytes, good: dict[str, str]
) -> dict[str, tuple[bytes, dict[str, str], int, str]]:
    """Each kind of refusal with its status and the reason logged (never sent to Polar)."""
    now = time.time()
    latin1 = body.replace(b'"Ada"', b'"Ad\xe9"')
    without = {k: v for k, v in good.items() if k != "webhook-signature"}
    return {
        "missing header": (
            body,
            without,
            400,
            "missing webhook-id, webhook-timestamp or webhook-signature",
        ),
        "id too long": (body, {**good, "webhook-id": "x" * 256}, 400, "webhook-id is too long"),
        "timestamp not an integer": (
            body,
            {**good, "webhook-timestamp": "yesterday"},
            400,
            "webhook-timestamp is not an integer number of seconds",
        ),
        "stale": (
            body,
            pp.sign(body, SECRET, timestamp=now - 400),
            403,
            "webhook-timestamp outside the tolerance",
        ),
        "not UTF-8": (latin1, pp.sign(latin1.decode("latin-1"), SECRET), 400, "body is not UTF-8"),
        "no v1 signature": (
            body,
            {**good, "webhook-signature": "v2,AAAA v1,!!!not-base64!!!"},
            403,
            "no v1 signature in webhook-signature",
        ),
        "no match": (body, {**good, "webhook-id": "msg_other"}, 403, "no matching signature"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(refusals(b'{"name":"Ada"}', pp.sign(b"{}", SECRET))))
def test_each_refusal_logs_its_exact_reason_and_status(client, ada, caplog, name):
    """The 4xx body says nothing; the log line is how an operator finds out why."""
    body, headers, status, reason = refusals(*ada)[name]
    with caplog.at_level("WARNING", logger="django_polar.webhooks"):
        response = flows.post_signed(client, body, headers)
    assert (response.status_code, response.json()) == (status, {"status": "refused"})
    assert inbox_log(caplog) == [f"Refused webhook from 127.0.0.1: {reason}"]


@pytest.mark.django_db
def test_missing_secret_is_logged_with_the_setting_to_set(client, ada, caplog):
    with polar(WEBHOOK_SECRET=""), caplog.at_level("WARNING", logger="django_polar.webhooks"):
        assert flows.post_signed(client, *ada).status_code == 403
    assert inbox_log(caplog) == [
        "Refused webhook from 127.0.0.1: POLAR['WEBHOOK_SECRET'] is not set"
    ]


@pytest.mark.django_db
def test_a_webhook_id_of_255_characters_is_stored(client, ada):
    """255 is what the inbox column holds; only longer ids are refused."""
    body, _ = ada
    webhook_id = "m" * 255
    response = flows.post_signed(client, body, pp.sign(body, SECRET, webhook_id=webhook_id))
    assert response.status_code == 200
    assert WebhookEvent.objects.get().webhook_id == webhook_id


@pytest.mark.django_db
def test_a_garbled_signature_before_the_valid_one_does_not_hide_it(client, ada):
    """Polar sends one ``v1`` signature per active secret; a bad entry is skipped, not fatal."""
    body, headers = ada
    headers = {**headers, "webhook-signature": "v1,!!! " + headers["webhook-signature"]}
    assert flows.post_signed(client, body, headers).status_code == 200


@pytest.mark.django_db
def test_a_signature_with_characters_outside_base64_is_refused(client, ada):
    """The signature is base64, read strictly: one with foreign characters is not Polar's."""
    body, headers = ada
    version, _, encoded = headers["webhook-signature"].partition(",")
    garbled = f"{version},{encoded[:8]}*{encoded[8:]}"
    response = flows.post_signed(client, body, {**headers, "webhook-signature": garbled})
    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_signatures_verify_under_any_time_zone(client, settings, zone):
    """The signed timestamp is seconds since the epoch, whatever the project's TIME_ZONE;
    an event without its own ``timestamp`` is dated by the signature."""
    settings.TIME_ZONE = zone
    signed = int(time.time())
    body = json.dumps({"type": "customer.created", "data": pp.customer(pp.new_id())})
    response = post(client, body.encode(), pp.sign(body, SECRET, timestamp=signed))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.timestamp.timestamp() == signed


# verify() on its own: the tolerance edges need a fixed clock (``now``).
VERIFY_SECRET = pp.standard_secret()


@pytest.mark.parametrize(
    ("age", "accepted"), [(300, True), (300.5, False), (-300, True), (-300.5, False)]
)
def test_the_default_tolerance_is_five_minutes_either_way_inclusive(age, accepted):
    """Standard Webhooks' (and Polar's) tolerance: 5 minutes of clock skew, in the past or
    the future, the edge itself included."""
    signed = 1_700_000_000
    headers = pp.sign(b"{}", VERIFY_SECRET, timestamp=signed)
    if accepted:
        verified = verify(b"{}", headers, VERIFY_SECRET, now=signed + age)
        assert verified.timestamp == datetime.fromtimestamp(signed, tz=UTC)
    else:
        with pytest.raises(VerificationError, match="outside the tolerance"):
            verify(b"{}", headers, VERIFY_SECRET, now=signed + age)


@pytest.mark.parametrize("case", [str.lower, str.title])
def test_verify_reads_headers_from_a_plain_mapping_in_either_case(case):
    """Lower-case (as Polar sends them) or Title-Case (as some servers present them)."""
    headers = pp.sign(b"{}", VERIFY_SECRET)
    plain = {case(name): value for name, value in headers.items()}
    assert verify(b"{}", plain, VERIFY_SECRET).webhook_id == headers["webhook-id"]


# -- applying: the failure fields an operator reads, the event's own time -------------------


@pytest.mark.django_db
def test_an_event_without_a_data_object_fails_once_with_a_readable_reason(client):
    """Stored (Polar signed it), failed with the reason and no retry: none could fix it."""
    body = b'{"type": "customer.created", "data": "not an object"}'
    response = post(client, body, pp.sign(body, SECRET, webhook_id="msg_nodata"))
    assert (response.status_code, response.json()) == (200, {"status": "stored"})
    event = WebhookEvent.objects.get(webhook_id="msg_nodata")
    assert (event.status, event.attempts, event.next_attempt_at) == ("failed", 1, None)
    lines = event.last_error.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert all(line.startswith("  ") for line in lines[1:-1])  # a plain Python traceback
    assert lines[-1] == (
        "django_polar.errors.MalformedEvent: "
        "Malformed event: the body is not a JSON object with a 'data' object"
    )


@pytest.mark.django_db
def test_replaying_a_body_stored_as_malformed_leaves_it_failed(client):
    """A replay (admin, ``polar_webhooks replay``) cannot turn the raw text into an event."""
    body = b"not json at all"
    post(client, body, pp.sign(body, SECRET, webhook_id="msg_raw"))
    with pytest.raises(CommandError, match="failed again"):
        call_command("polar_webhooks", "replay", "msg_raw", stdout=io.StringIO())
    event = WebhookEvent.objects.get(webhook_id="msg_raw")
    assert (event.status, event.next_attempt_at) == ("failed", None)
    assert event.last_error.splitlines()[-1].endswith(
        "Malformed event: the body is not a JSON object with a 'data' object"
    )
    assert event.payload == {"raw_body": "not json at all"}


@pytest.mark.django_db
def test_a_failed_application_is_logged_with_id_type_attempt_and_error(
    client, monkeypatch, caplog, ada
):
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", lambda data, **kw: 1 / 0)
    with caplog.at_level("WARNING", logger="django_polar.webhooks"):
        flows.post_signed(client, *ada)
    assert inbox_log(caplog) == [
        f"Applying webhook event {ada[1]['webhook-id']} (customer.created) failed, "
        "attempt 1: ZeroDivisionError('division by zero')"
    ]


@pytest.mark.django_db
def test_applying_an_applied_event_again_changes_nothing_and_signals_nothing(
    client, ada, django_capture_on_commit_callbacks
):
    """A task run twice, or ``retry-failed`` racing the inline apply: applied once."""
    flows.post_signed(client, *ada)
    event = WebhookEvent.objects.get()
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    signals.webhook_event_processed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            again = dispatch.process_event(event.pk)
    finally:
        signals.webhook_event_processed.disconnect(receiver)
    assert (again.status, again.attempts) == ("processed", 1)
    assert seen == []


@pytest.mark.django_db
def test_the_event_is_dated_by_polars_timestamp_not_by_the_delivery(client):
    """A retried delivery is signed anew; the event keeps the time Polar made it."""
    made = pp.T0 + timedelta(hours=1)
    body = pp.body_of(pp.envelope("customer.created", pp.customer(pp.new_id()), timestamp=made))
    assert post(client, body, pp.sign(body, SECRET)).status_code == 200
    assert WebhookEvent.objects.get().timestamp == made


@pytest.mark.django_db
def test_an_object_without_its_own_dates_is_versioned_by_the_events_time(client):
    """Without ``modified_at``/``created_at`` the event's timestamp orders snapshots: an
    older event delivered late does not overwrite a newer one."""
    customer_id = pp.new_id()

    def snapshot(name: str, at: timedelta) -> bytes:
        data = pp.customer(customer_id, name=name)
        data.pop("modified_at", None)
        data.pop("created_at", None)
        return pp.body_of(pp.envelope("customer.updated", data, timestamp=pp.T0 + at))

    for body in (snapshot("New", timedelta(hours=2)), snapshot("Old", timedelta(hours=1))):
        assert post(client, body, pp.sign(body, SECRET)).status_code == 200
    assert Customer.objects.get(pk=customer_id).name == "New"


# -- reading the body, task mode, a crash after the answer ----------------------------------


@pytest.mark.django_db
def test_a_declared_length_over_the_limit_is_refused_before_reading_the_body(ada):
    """A 10 GB upload is answered 413 from its Content-Length: none of it is read."""
    body, headers = ada
    environ = wsgi_environ(body, headers)
    environ["CONTENT_LENGTH"] = str(10 * 1024**3)
    statuses = []
    with raw_wsgi_server() as app:
        result = app(environ, lambda status, headers: statuses.append(status))
        answer = json.loads(b"".join(result))
        result.close()
    assert (statuses, answer) == (["413 Request Entity Too Large"], {"status": "too large"})
    assert environ["wsgi.input"].tell() == 0
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_garbled_content_length_is_read_as_no_body_not_a_server_error(client, ada):
    body, headers = ada
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        CONTENT_LENGTH="many",
        **pp.as_meta(headers),
    )
    assert (response.status_code, response.json()) == (403, {"status": "refused"})
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_task_mode_stores_and_leaves_applying_to_the_worker(client, settings, ada):
    """With a backend that only queues, the answer is sent with the event still pending."""
    from tests.settings import TASKS_PACKAGE

    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    with polar(WEBHOOK_PROCESSING="task"):
        response = flows.post_signed(client, *ada)
    assert (response.status_code, response.json()) == (200, {"status": "stored"})
    assert WebhookEvent.objects.get().status == "pending"
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_an_event_gone_before_it_is_applied_is_logged_and_the_answer_stands(ada, caplog):
    """Whatever goes wrong after the answer is logged with the event's pk; the server's
    ``close()`` never raises."""
    body, headers = ada
    environ = wsgi_environ(body, headers)
    statuses = []
    with raw_wsgi_server() as app, caplog.at_level("ERROR", logger="django_polar.webhooks"):
        result = app(environ, lambda status, headers: statuses.append(status))
        assert json.loads(b"".join(result)) == {"status": "stored"}
        event = WebhookEvent.objects.get(webhook_id=headers["webhook-id"])
        pk = event.pk
        event.delete()
        result.close()
    assert statuses == ["200 OK"]
    [record] = [r for r in caplog.records if r.name == "django_polar.webhooks"]
    assert record.getMessage() == f"Processing webhook event {pk} crashed"
    assert isinstance(record.exc_info[1], WebhookEvent.DoesNotExist)


@pytest.mark.django_db
def test_an_asgi_body_without_a_content_length_is_still_held_to_the_limit(ada):
    """A chunked request (no Content-Length) under ASGI: the size read is what counts."""
    from asgiref.sync import async_to_sync
    from django.core.handlers.asgi import ASGIHandler

    body, headers = ada
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected until the answer

    async def send(message):
        sent.append(message)

    with polar(WEBHOOK_MAX_BODY_BYTES=len(body) - 1), raw_wsgi_server():
        async_to_sync(ASGIHandler())(scope, receive, send)
    assert sent[0]["status"] == 413
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:])) == {"status": "too large"}
    assert not WebhookEvent.objects.exists()
