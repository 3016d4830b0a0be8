"""The Polar customer follows its billable (CUSTOMER_SYNC, CUSTOMER_ON_DELETE) against the
emulator: a saved email or name reaches Polar after the commit with no call from the
project, the customer.updated webhook that follows changes nothing more, a failure is
retried or left for ``polar_customers push``, and a deleted billable's customer is kept,
deleted or anonymized in Polar."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from django_polar import tasks
from django_polar.client import get_client
from django_polar.errors import PolarNotFoundError
from django_polar.models import Customer, Subscription, WebhookEvent
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.settings import TASKS_PACKAGE
from tests.testapp.models import Team, User

pytestmark = pytest.mark.django_db

DUMMY_TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}


def mode(settings, sync: str = "inline", on_delete: str = "keep") -> None:
    settings.POLAR = {**settings.POLAR, "CUSTOMER_SYNC": sync, "CUSTOMER_ON_DELETE": on_delete}


@pytest.fixture
def user(polar):
    user = User.objects.create_user("ada", "ada@example.com", first_name="Ada")
    user.get_or_create_polar_customer()
    return user


def remote(user) -> dict:
    return get_client().get_customer(str(user.polar_customer.pk))


def updates(polar) -> list[dict]:
    return [e for e in polar.webhooks.sent_events if e["type"] == "customer.updated"]


def push_command(*args: str) -> str:
    out = io.StringIO()
    call_command("polar_customers", "push", *args, stdout=out)
    return out.getvalue()


def test_a_changed_email_and_name_reach_polar_after_the_commit(
    polar, user, settings, django_capture_on_commit_callbacks
):
    mode(settings, "inline")
    with django_capture_on_commit_callbacks(execute=True):
        user.email, user.first_name, user.last_name = "ada@lovelace.org", "Ada", "Lovelace"
        user.save()
    assert (remote(user)["email"], remote(user)["name"]) == ("ada@lovelace.org", "Ada Lovelace")
    customer = Customer.objects.get()
    assert (customer.email, customer.name) == ("ada@lovelace.org", "Ada Lovelace")
    # The customer.updated webhook came through the real view and agrees with the mirror.
    assert WebhookEvent.objects.filter(type="customer.updated", status="processed").count() == 1
    assert len(updates(polar)) == 1


def test_a_save_that_changes_nothing_polar_shows_calls_nothing(
    polar, user, settings, django_capture_on_commit_callbacks
):
    mode(settings, "inline")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        user.is_staff = True
        user.save()
        user.save(update_fields=["last_login"])
    assert callbacks == [] and updates(polar) == []


def test_a_rolled_back_change_sends_nothing(
    polar, user, settings, django_capture_on_commit_callbacks
):
    mode(settings, "inline")
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            user.email = "oops@example.com"
            user.save()
            raise RuntimeError("the form failed")
    assert remote(user)["email"] == "ada@example.com"


def test_off_leaves_polar_alone(polar, user, settings, django_capture_on_commit_callbacks):
    mode(settings, "off")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        user.email = "new@example.com"
        user.save()
    assert callbacks == [] and remote(user)["email"] == "ada@example.com"
    assert push_command("--dry-run") == ""


def test_task_mode_queues_one_task_that_a_worker_runs(
    polar, user, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY_TASKS
    mode(settings, "task")
    backend = tasks.push_polar_customer.get_backend()
    backend.clear()
    with django_capture_on_commit_callbacks(execute=True):
        user.email = "queued@example.com"
        user.save()
    assert remote(user)["email"] == "ada@example.com"  # the request did not wait on Polar
    (result,) = backend.results
    assert tasks.push_polar_customer.call(*result.args) == "updated"
    assert remote(user)["email"] == "queued@example.com"
    assert tasks.push_polar_customer.call(*result.args) == "unchanged"  # a duplicate: no call


def test_a_failed_push_is_retried_later_then_left_for_cron(polar, user, settings):
    settings.TASKS = DUMMY_TASKS
    mode(settings, "task")
    settings.POLAR = {**settings.POLAR, "MAX_RETRIES": 0}
    backend = tasks.push_polar_customer.get_backend()
    backend.clear()
    User.objects.filter(pk=user.pk).update(email="later@example.com")  # no signal
    pk = str(user.polar_customer.pk)
    polar.faults.fail_next(1, status=503)
    assert tasks.push_polar_customer.call(pk) == "retrying"
    (retry,) = backend.results
    assert retry.kwargs == {"attempt": 1} and retry.task.run_after is not None
    assert remote(user)["email"] == "ada@example.com"
    polar.faults.fail_next(1, status=503)
    with pytest.raises(Exception, match="503"):
        tasks.push_polar_customer.call(pk, attempt=tasks.CUSTOMER_RETRIES - 1)
    # The difference is the outbox: the cron pass sends it.
    assert push_command("--dry-run") == f"Would push: customer {pk}\n"
    assert "1 updated" in push_command()
    assert remote(user)["email"] == "later@example.com"


def test_the_immediate_backend_queues_nothing_and_cron_sends_it(
    polar, user, settings, django_capture_on_commit_callbacks
):
    mode(settings, "task")  # tests/settings.py: the immediate backend
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        user.email = "cron@example.com"
        user.save()
    assert callbacks == [] and remote(user)["email"] == "ada@example.com"
    assert "1 updated" in push_command()
    assert remote(user)["email"] == "cron@example.com"
    assert "none pending" in push_command()


def test_polar_refusing_the_email_is_logged_not_retried(
    polar, user, settings, caplog, django_capture_on_commit_callbacks
):
    mode(settings, "inline")
    get_client().create_customer({"email": "taken@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        user.email = "taken@example.com"
        user.save()
    assert remote(user)["email"] == "ada@example.com"
    assert "refused the new details" in caplog.text


def test_a_team_is_synced_by_its_own_hooks(
    polar, user, settings, django_capture_on_commit_callbacks
):
    mode(settings, "inline")
    team = Team.objects.create(name="Analytical", owner=user, billing_email="ae@example.com")
    team.get_or_create_polar_customer()
    with django_capture_on_commit_callbacks(execute=True):
        team.name = "Analytical Engines"
        team.save()
    assert get_client().get_customer(str(team.polar_customer.pk))["name"] == "Analytical Engines"
    assert remote(user)["name"] == "Ada"  # the user's customer is another one


# -- deletion -------------------------------------------------------------------------------


def test_by_default_a_deleted_billable_keeps_its_polar_customer(
    polar, user, settings, django_capture_on_commit_callbacks
):
    mode(settings, "inline")
    pk = str(user.polar_customer.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert get_client().get_customer(pk)["deleted_at"] is None


def test_delete_deletes_the_customer_in_polar_and_ends_its_subscription(
    polar, user, settings, django_capture_on_commit_callbacks
):
    mode(settings, "inline", "delete")
    checkout = user.checkout([polar.product_id("pro-monthly")])
    polar.pay_checkout(checkout.id, email="ada@example.com")
    pk = str(user.polar_customer.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    with pytest.raises(PolarNotFoundError):
        get_client().get_customer(pk)
    customer = Customer.objects.get(pk=pk)
    assert customer.deleted_at is not None
    assert Subscription.objects.get().status == "canceled"  # revoked, through webhooks
    assert polar.store.customers[pk]["email"] == "ada@example.com"  # not anonymized


def test_anonymize_scrubs_the_customers_personal_data_in_polar(
    polar, user, settings, django_capture_on_commit_callbacks
):
    mode(settings, "inline", "anonymize")
    pk = str(user.polar_customer.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    stored = polar.store.customers[pk]
    # A sha256 hex digest may contain "ada" (hex letters): check the address, not letters.
    assert stored["email"].endswith("@anonymized.polar.sh")
    assert "ada@example.com" not in stored["email"]
    assert stored["name"] != "Ada" and stored["billing_address"] is None
    assert Customer.objects.get(pk=pk).email.endswith("@anonymized.polar.sh")  # the webhook


def test_a_queued_deletion_runs_after_the_billable_row_is_gone(
    polar, user, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY_TASKS
    mode(settings, "off", "anonymize")  # deletion still runs even with the sync off
    backend = tasks.delete_polar_customer.get_backend()
    backend.clear()
    pk = str(user.polar_customer.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    (result,) = backend.results
    assert not User.objects.exists()
    assert tasks.delete_polar_customer.call(*result.args) == "deleted"
    assert polar.store.customers[pk]["deleted_at"] is not None
    assert tasks.delete_polar_customer.call(*result.args) == "gone"  # twice: harmless


def test_cron_deletes_customers_whose_billable_is_gone(
    polar, user, settings, django_capture_on_commit_callbacks
):
    mode(settings, "task", "delete")  # the immediate backend: nothing queued
    pk = str(user.polar_customer.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert polar.store.customers[pk]["deleted_at"] is None
    assert push_command("--dry-run") == f"Would delete: customer {pk}\n"
    assert "1 deleted" in push_command()
    assert polar.store.customers[pk]["deleted_at"] is not None
    assert "none pending" in push_command()


def test_what_a_save_costs(polar, user, settings, django_assert_num_queries):
    # The UPDATE itself, plus one indexed lookup of the customer when a task could run.
    settings.TASKS = DUMMY_TASKS
    mode(settings, "task")
    with django_assert_num_queries(2):
        user.save()
    with django_assert_num_queries(1):
        user.save(update_fields=["last_login"])  # every login: no lookup
    settings.TASKS = {
        "default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}
    }
    with django_assert_num_queries(1):
        user.save()  # nothing would be queued: no lookup
    mode(settings, "off")
    with django_assert_num_queries(1):
        user.save()


def test_inline_mode_never_fails_the_request_when_polar_is_down(
    polar, user, settings, caplog, django_capture_on_commit_callbacks
):
    mode(settings, "inline")
    settings.POLAR = {**settings.POLAR, "MAX_RETRIES": 0}
    polar.faults.fail_next(1, status=503)
    with django_capture_on_commit_callbacks(execute=True):
        user.email = "down@example.com"
        user.save()  # no exception: the save committed
    assert "left for `polar_customers push`" in caplog.text
    assert remote(user)["email"] == "ada@example.com"
    assert "1 updated" in push_command()
    assert remote(user)["email"] == "down@example.com"
