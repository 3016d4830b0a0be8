"""The inbox view: authenticity, storage once, acknowledgement, application."""

from __future__ import annotations

import io
import json
import time
import wsgiref.util
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import Client, override_settings
from django.urls import reverse

from django_polar import signals
from django_polar.models import Customer, Subscription, WebhookEvent
from django_polar.webhooks import dispatch
from tests import polar_payloads as pp

URL = "/polar/webhook/"
SECRET = pp.standard_secret()


def polar(**overrides):
    from django.conf import settings

    return override_settings(POLAR={**settings.POLAR, **overrides})


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


@pytest.mark.django_db
def test_authentic_event_is_stored_applied_and_acknowledged(client):
    data = sub_payload()
    response = deliver(client, "subscription.created", data, webhook_id="msg_1")
    assert response.status_code == 200
    assert response.json() == {"status": "stored"}
    event = WebhookEvent.objects.get(webhook_id="msg_1")
    assert (event.type, event.status, event.attempts) == ("subscription.created", "processed", 1)
    assert event.api_version == "2026-10" and event.object_id == data["id"]
    assert event.processed_at is not None
    sub = Subscription.objects.get(pk=data["id"])
    assert sub.status == "active" and sub.product.prices.count() == 1
    assert sub.product.benefits.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("secret", "scheme"),
    [
        (pp.standard_secret(), "standard"),
        (pp.standard_secret(), "legacy"),  # a whsec_ secret made before 2026-09-08
        ("polar_whs_Legacy-Secret_not-base64!", "legacy"),
        ("c2hvcnQ", "legacy"),  # happens to be base64: both keys are tried
    ],
)
def test_both_key_schemes_verify(client, secret, scheme):
    with polar(WEBHOOK_SECRET=secret):
        response = deliver(
            client, "customer.created", pp.customer(pp.new_id()), secret=secret, scheme=scheme
        )
    assert response.status_code == 200
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_several_signatures_one_valid(client):
    body = pp.body_of(pp.envelope("customer.created", pp.customer(pp.new_id())))
    headers = pp.sign(body, SECRET)
    headers["webhook-signature"] = "v1,AAAA v2,xyz garbage " + headers["webhook-signature"]
    assert post(client, body, headers).status_code == 200


def _zoo():
    body = pp.body_of(pp.envelope("customer.created", pp.customer(pp.new_id())))
    good = pp.sign(body, SECRET)
    now = time.time()
    yield "no headers", body, {}, 400
    yield "no signature", body, {k: v for k, v in good.items() if k != "webhook-signature"}, 400
    yield "no id", body, {k: v for k, v in good.items() if k != "webhook-id"}, 400
    yield "timestamp not a number", body, {**good, "webhook-timestamp": "yesterday"}, 400
    yield "timestamp nan", body, {**good, "webhook-timestamp": "nan"}, 400
    yield "timestamp inf", body, {**good, "webhook-timestamp": "1e999"}, 400
    yield "old timestamp", body, pp.sign(body, SECRET, timestamp=now - 400), 403
    yield "future timestamp", body, pp.sign(body, SECRET, timestamp=now + 400), 403
    yield "wrong secret", body, pp.sign(body, pp.standard_secret(b"another-secret")), 403
    yield "tampered body", body.replace(b"Ada", b"Eve"), good, 403
    yield "bad base64", body, {**good, "webhook-signature": "v1,!!!not-base64!!!"}, 403
    yield "no comma", body, {**good, "webhook-signature": "garbage"}, 403
    yield "many commas", body, {**good, "webhook-signature": "v1,a,b,c"}, 403
    yield (
        "other version",
        body,
        {**good, "webhook-signature": good["webhook-signature"].replace("v1,", "v2,")},
        403,
    )
    yield "id swapped", body, {**good, "webhook-id": "msg_other"}, 403
    yield "id too long", body, {**good, "webhook-id": "x" * 300}, 400
    latin1 = '{"type": "customer.created", "x": "caf\xe9"}'.encode("latin-1")
    yield "non-UTF-8 body", latin1, pp.sign(latin1.decode("latin-1"), SECRET), 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "body", "headers", "status"),
    list(_zoo()),
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_unauthentic_requests_are_refused_without_detail(client, name, body, headers, status):
    response = post(client, body, headers)
    assert response.status_code == status, name
    assert response.json() == {"status": "refused"}
    assert SECRET not in response.content.decode()
    assert WebhookEvent.objects.count() == 0
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_missing_secret_setting_refuses_with_403(client):
    body = pp.body_of(pp.envelope("customer.created", pp.customer(pp.new_id())))
    with polar(WEBHOOK_SECRET=""):
        response = post(client, body, pp.sign(body, SECRET))
    assert response.status_code == 403
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_tolerance_setting_is_honoured(client):
    body = pp.body_of(pp.envelope("customer.created", pp.customer(pp.new_id())))
    headers = pp.sign(body, SECRET, timestamp=time.time() - 200)
    with polar(WEBHOOK_TOLERANCE=60):
        assert post(client, body, headers).status_code == 403
    assert post(client, body, headers).status_code == 200


@pytest.mark.django_db
def test_body_over_the_limit_is_413_and_not_stored(client):
    data = pp.customer(pp.new_id(), name="x" * 5000)
    with polar(WEBHOOK_MAX_BODY_BYTES=4096):
        response = deliver(client, "customer.created", data)
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_body_larger_than_django_upload_limit_is_still_accepted(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    data = pp.customer(pp.new_id(), metadata={"note": "x" * 4000})
    assert deliver(client, "customer.created", data).status_code == 200


@pytest.mark.django_db
def test_get_is_405(client):
    assert client.get(URL).status_code == 405


@pytest.mark.django_db
def test_exempt_from_csrf_and_login_required_middleware(settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    client = Client(enforce_csrf_checks=True)
    response = deliver(client, "customer.created", pp.customer(pp.new_id()))
    assert response.status_code == 200
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_duplicate_webhook_id_is_acknowledged_and_not_applied_again(client):
    received = []

    def on_received(sender, event, **kwargs):
        received.append(event)

    signals.webhook_received.connect(on_received)
    try:
        data = pp.customer(pp.new_id())
        first = deliver(client, "customer.created", data, webhook_id="msg_dup")
        second = deliver(client, "customer.created", data, webhook_id="msg_dup")
    finally:
        signals.webhook_received.disconnect(on_received)
    assert first.json() == {"status": "stored"}
    assert second.status_code == 200 and second.json() == {"status": "duplicate"}
    event = WebhookEvent.objects.get()
    assert event.attempts == 1
    assert len(received) == 1


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
def test_unmirrored_type_is_stored_ignored_and_signalled(client):
    seen = []

    def receiver(sender, event, obj, billable, **kwargs):
        seen.append((sender, obj, billable))

    signals.for_event("checkout.created").connect(receiver)
    try:
        response = deliver(client, "checkout.created", {"id": pp.new_id(), "status": "open"})
    finally:
        signals.for_event("checkout.created").disconnect(receiver)
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "ignored"
    assert seen == [("checkout.created", None, None)]


@pytest.mark.django_db
def test_future_event_type_is_stored_ignored(client):
    response = deliver(client, "invoice.teleported", {"id": pp.new_id()})
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "ignored"


@pytest.mark.django_db
def test_handler_failure_is_kept_with_traceback_then_replayed(client, monkeypatch):
    def buggy(data, *, event_time=None):
        raise RuntimeError("handler bug")

    monkeypatch.setitem(dispatch.HANDLERS, "subscription.created", buggy)
    data = sub_payload()
    response = deliver(client, "subscription.created", data, webhook_id="msg_bug")
    assert response.status_code == 200
    event = WebhookEvent.objects.get(webhook_id="msg_bug")
    assert event.status == "failed" and "RuntimeError: handler bug" in event.last_error
    assert event.next_attempt_at is not None
    assert not Subscription.objects.exists()
    assert not Customer.objects.exists()  # the failed application left nothing half-written

    monkeypatch.undo()  # the bug is fixed and deployed
    call_command("polar_webhooks", "replay", "msg_bug", stdout=None)
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")
    assert Subscription.objects.filter(pk=data["id"]).exists()


@pytest.mark.django_db
def test_failed_events_are_retried_with_backoff_up_to_max_attempts(client, monkeypatch):
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", lambda data, **kw: 1 / 0)
    with polar(WEBHOOK_MAX_ATTEMPTS=2):
        deliver(client, "customer.created", pp.customer(pp.new_id()), webhook_id="msg_retry")
        event = WebhookEvent.objects.get()
        first_delay = event.next_attempt_at - event.received_at
        assert timedelta(seconds=50) < first_delay < timedelta(minutes=2)
        call_command("polar_webhooks", "retry-failed", stdout=None)
        assert WebhookEvent.objects.get().attempts == 1  # not due yet
        WebhookEvent.objects.update(next_attempt_at=event.received_at)
        call_command("polar_webhooks", "retry-failed", stdout=None)
    event.refresh_from_db()
    assert event.attempts == 2 and event.status == "failed"
    assert event.next_attempt_at is None  # out of attempts, still visible and replayable


@pytest.mark.django_db
def test_signals_carry_event_obj_and_billable_and_a_failing_receiver_changes_nothing(client):
    from tests.testapp.models import User

    user = User.objects.create(username="ada")
    seen = []

    def good(sender, event, obj, billable, **kwargs):
        seen.append((sender, event.webhook_id, obj, billable))

    def bad(sender, **kwargs):
        raise RuntimeError("receiver bug")

    typed = signals.for_event("subscription.active")
    typed.connect(bad)
    typed.connect(good)
    signals.webhook_event_processed.connect(good)
    try:
        data = sub_payload(external_id=user.get_polar_external_id())
        response = deliver(client, "subscription.active", data, webhook_id="msg_sig")
    finally:
        typed.disconnect(bad)
        typed.disconnect(good)
        signals.webhook_event_processed.disconnect(good)
    assert response.status_code == 200
    sub = Subscription.objects.get(pk=data["id"])
    assert WebhookEvent.objects.get().status == "processed"
    assert seen == [("subscription.active", "msg_sig", sub, user)] * 2
    assert user.polar_customer.pk == sub.customer_id


@pytest.mark.django_db(transaction=True)
def test_under_atomic_requests_the_event_survives_a_failed_application(client, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", lambda data, **kw: 1 / 0)
    response = deliver(
        client, "customer.created", pp.customer(pp.new_id()), webhook_id="msg_atomic"
    )
    assert response.status_code == 200
    event = WebhookEvent.objects.get(webhook_id="msg_atomic")
    assert event.status == "failed" and "ZeroDivisionError" in event.last_error


@pytest.mark.django_db(transaction=True)
def test_task_processing_with_the_immediate_backend(client):
    with polar(WEBHOOK_PROCESSING="task"):
        data = sub_payload()
        response = deliver(client, "subscription.created", data)
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "processed"
    assert Subscription.objects.filter(pk=data["id"]).exists()


@pytest.mark.django_db
def test_management_command_lists_by_status(client, monkeypatch, capsys):
    monkeypatch.setitem(dispatch.HANDLERS, "customer.updated", lambda data, **kw: 1 / 0)
    deliver(client, "customer.created", pp.customer(pp.new_id()), webhook_id="msg_ok")
    deliver(client, "customer.updated", pp.customer(pp.new_id()), webhook_id="msg_ko")
    call_command("polar_webhooks", "list", "--status", "failed")
    out = capsys.readouterr().out
    assert "msg_ko" in out and "msg_ok" not in out and "ZeroDivisionError" in out


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
def test_inline_mode_sends_the_answer_before_applying_the_event():
    data = pp.customer(pp.new_id())
    body = pp.body_of(pp.envelope("customer.created", data))
    environ = wsgi_environ(body, pp.sign(body, SECRET, webhook_id="msg_ack_first"))
    statuses = []
    with raw_wsgi_server() as app:
        result = app(environ, lambda status, headers: statuses.append(status))
        sent = b"".join(result)  # the server writes the whole answer to Polar
        assert statuses == ["200 OK"] and json.loads(sent) == {"status": "stored"}
        event = WebhookEvent.objects.get(webhook_id="msg_ack_first")
        assert event.status == "pending"  # stored (committed), not applied yet
        assert not Customer.objects.exists()
        result.close()  # what every WSGI server does once the body is out
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1)
    assert Customer.objects.filter(pk=data["id"]).exists()


@pytest.mark.django_db
def test_a_crash_after_the_answer_is_recorded_and_the_request_still_finishes(monkeypatch):
    def buggy(data, *, event_time=None):
        raise RuntimeError("handler bug")

    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", buggy)
    finished = []

    def on_finished(sender, **kwargs):
        finished.append(sender)

    body = pp.body_of(pp.envelope("customer.created", pp.customer(pp.new_id())))
    environ = wsgi_environ(body, pp.sign(body, SECRET, webhook_id="msg_ack_crash"))
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
    event = WebhookEvent.objects.get(webhook_id="msg_ack_crash")
    assert event.status == "failed" and "RuntimeError: handler bug" in event.last_error
    assert event.attempts == 1
    assert len(finished) == 2  # Django's own close() ran (connections are released)
