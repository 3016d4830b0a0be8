"""Events that break a deferred constraint: recorded, retried, never stuck or blocking others.

Foreign keys are checked at COMMIT on PostgreSQL and SQLite; these tests go through the
real view with real signatures and (``transaction=True``) real commits.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.template import Context, Template
from django.test import override_settings
from django.urls import include, path, reverse
from rest_framework.test import APIClient

from django_polar.models import Price, Product, Subscription, WebhookEvent
from django_polar.webhooks import dispatch
from tests import polar_payloads as pp
from tests.settings import TASKS_PACKAGE
from tests.test_webhook_view import deliver, polar, sub_payload
from tests.testapp.models import Team

urlpatterns = [
    path("admin/", admin.site.urls),
    path("polar/", include("django_polar.urls")),
    path("api/billing/", include("django_polar.api.urls")),
]

pytestmark = [pytest.mark.urls(__name__)]


def price_of_other_product(product_id: str) -> tuple[dict, str]:
    """A product payload listing a price whose ``product_id`` is a product we never saw."""
    other = pp.new_id()
    prices = [pp.price(pp.new_id(), product_id), pp.price(pp.new_id(), other)]
    return pp.product(product_id, prices, [pp.benefit(pp.new_id())]), other


def dangling_team(data, *, event_time=None):
    """A project's own handler with a bug: a row whose foreign key names no user."""
    return Team.objects.create(name="orphan", owner_id=987654321)


@pytest.mark.django_db(transaction=True)
def test_a_price_of_an_unmirrored_product_gets_a_placeholder_never_for_sale(client):
    product_id = pp.new_id()
    data, other = price_of_other_product(product_id)
    assert deliver(client, "product.created", data).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.last_error) == ("processed", 1, "")
    placeholder = Product.objects.get(pk=other)
    assert placeholder.is_placeholder
    assert Price.objects.filter(product_id=other).count() == 1
    assert list(Product.objects.active()) == [Product.objects.get(pk=product_id)]
    button = Template("{% load polar %}{% polar_checkout_button product %}")
    assert button.render(Context({"product": placeholder})) == ""

    api = APIClient()
    api.force_authenticate(get_user_model().objects.create_user("ada", "ada@example.com", "pw"))
    listed = [item["id"] for item in api.get("/api/billing/products/").json()["results"]]
    assert listed == [product_id]
    client.force_login(get_user_model().objects.get(username="ada"))
    assert client.get(reverse("django_polar:checkout", args=[other])).status_code == 404
    bought = api.post("/api/billing/checkouts/", {"products": [other]}, format="json")
    assert bought.status_code == 400

    # Its own snapshot arrives later and fills it in: then it is for sale.
    full = pp.product(other, [pp.price(pp.new_id(), other)], [], name="Add-on")
    assert deliver(client, "product.created", full).status_code == 200
    assert not Product.objects.get(pk=other).is_placeholder
    assert Product.objects.active().filter(pk=other).exists()


@pytest.mark.django_db(transaction=True)
def test_a_subscription_whose_product_lists_a_foreign_price_is_applied(client):
    data = sub_payload()
    nested, other = price_of_other_product(data["product"]["id"])
    data["product"] = nested
    assert deliver(client, "subscription.created", data).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_error) == ("processed", "")
    assert Subscription.objects.filter(pk=data["id"]).exists()
    assert Product.objects.get(pk=other).is_placeholder


@pytest.mark.django_db(transaction=True)
def test_a_constraint_failure_is_recorded_with_backoff_and_attempts_stop(client, monkeypatch):
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", dangling_team)
    with polar(WEBHOOK_MAX_ATTEMPTS=2):
        assert deliver(client, "customer.created", pp.customer(pp.new_id())).status_code == 200
        event = WebhookEvent.objects.get()
        assert (event.status, event.attempts) == ("failed", 1)
        assert "IntegrityError" in event.last_error and "Traceback" in event.last_error
        assert event.next_attempt_at is not None
        assert not Team.objects.exists()  # the attempt wrote nothing

        WebhookEvent.objects.update(next_attempt_at=event.received_at)  # the retry is due
        with pytest.raises(CommandError) as failed:
            call_command("polar_webhooks", "retry-failed")
        assert failed.value.returncode == 1
        event.refresh_from_db()
        assert (event.status, event.attempts, event.next_attempt_at) == ("failed", 2, None)


@pytest.mark.django_db(transaction=True)
def test_retry_failed_goes_past_a_bad_event_and_counts_it_in_the_exit_code(client, monkeypatch):
    good = [sub_payload() for _ in range(2)]
    with override_settings(
        TASKS={"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    ):
        with polar(WEBHOOK_PROCESSING="task"):  # stored, not applied
            deliver(client, "customer.created", pp.customer(pp.new_id()))
            for data in good:
                deliver(client, "subscription.created", data)
    WebhookEvent.objects.update(received_at=pp.T0)  # stranded pending events
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", dangling_team)
    with pytest.raises(CommandError) as failed:
        call_command("polar_webhooks", "retry-failed")
    assert failed.value.returncode == 1
    assert Subscription.objects.count() == 2
    statuses = dict(WebhookEvent.objects.values_list("type", "status"))
    assert statuses == {"customer.created": "failed", "subscription.created": "processed"}

    # The bug is fixed: everything applies and the exit status is 0.
    monkeypatch.undo()
    call_command("polar_webhooks", "retry-failed", "--all")
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.django_db(transaction=True)
def test_admin_replay_of_an_event_that_fails_at_commit_answers_200(client, monkeypatch):
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", dangling_team)
    deliver(client, "customer.created", pp.customer(pp.new_id()))
    deliver(client, "subscription.created", sub_payload())
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw"))
    response = client.post(
        reverse("admin:django_polar_webhookevent_changelist"),
        {
            "action": "replay_events",
            "_selected_action": list(WebhookEvent.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Replayed 1 event(s); 1 failed again." in response.content.decode()
    assert WebhookEvent.objects.get(type="customer.created").attempts == 2


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="PostgreSQL's SET CONSTRAINTS ALL IMMEDIATE finds the row before the commit",
)
@pytest.mark.django_db(transaction=True)
def test_a_failed_commit_is_logged_with_the_event_and_recorded_on_it(client, monkeypatch, caplog):
    """The log names the event and carries the database's error; the row says the same.

    On SQLite the check before the commit reads only the mirror's tables, so a broken row
    in another table (a project's own, as here) surfaces at COMMIT."""
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", dangling_team)
    with caplog.at_level("ERROR", logger="django_polar.webhooks"):
        assert deliver(client, "customer.created", pp.customer(pp.new_id())).status_code == 200
    event = WebhookEvent.objects.get()
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == f"Committing webhook event {event.pk} failed"
    assert type(record.exc_info[1]).__name__ == "IntegrityError"
    assert event.last_error.splitlines()[-1].startswith("django.db.utils.IntegrityError: ")


def dangling_price(data, *, event_time=None):
    """A handler bug in a mirror table: a price of a product never mirrored."""
    return Price.objects.create(id=pp.new_id(), product_id=pp.new_id(), amount_type="fixed")


def dangling_product_benefit(data, *, event_time=None):
    """The same in an auto-created table: a product's benefit that does not exist."""
    return Product.benefits.through.objects.create(product_id=pp.new_id(), benefit_id=pp.new_id())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("handler", [dangling_price, dangling_product_benefit])
def test_a_dangling_mirror_row_fails_the_event_not_the_callers_transaction(
    client, monkeypatch, handler
):
    """A replay inside the caller's transaction (the admin under ATOMIC_REQUESTS, a
    script): the broken row is found before the savepoint ends, so the event is failed
    with the error and the caller's transaction still commits."""
    assert deliver(client, "customer.created", pp.customer(pp.new_id())).status_code == 200
    event = WebhookEvent.objects.get()
    monkeypatch.setitem(dispatch.HANDLERS, "customer.created", handler)
    with transaction.atomic():
        replayed = dispatch.replay(event)
        get_user_model().objects.create_user("caller", "caller@example.com", "pw")
    assert replayed.status == "failed"
    # The traceback's own line (PostgreSQL adds a DETAIL line after it).
    assert any(
        line.startswith("django.db.utils.IntegrityError: ")
        for line in replayed.last_error.splitlines()
    )
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 2)
    assert get_user_model().objects.filter(username="caller").exists()  # committed
