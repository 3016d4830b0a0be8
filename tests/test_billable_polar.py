"""The Billable mixin against the emulator: customers, portal, usage."""

import pytest

from django_polar.billable import CustomerConflictError
from django_polar.client import get_client
from django_polar.errors import InvalidUsageEvent
from django_polar.models import Customer, UsageEvent
from django_polar.usage import flush
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.testapp.models import Team, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return User.objects.create_user(
        "ada", "ada@example.com", first_name="Ada", last_name="Lovelace"
    )


def test_customer_is_created_in_polar_with_our_external_id(polar, user):
    customer = user.get_or_create_polar_customer()
    remote = get_client().get_customer_by_external_id(f"testapp.user:{user.pk}")
    assert str(customer.pk) == remote["id"]
    assert (remote["email"], remote["name"]) == ("ada@example.com", "Ada Lovelace")
    assert user.polar_customer == customer
    assert customer.billable == user


def test_second_call_reuses_the_customer(polar, user):
    first = user.get_or_create_polar_customer()
    assert user.get_or_create_polar_customer() == first
    assert len(list(get_client().list_customers(email="ada@example.com"))) == 1


def test_customer_existing_in_polar_is_linked_not_duplicated(polar, user):
    # Created elsewhere (another process, a lost response): Polar answers 422.
    remote = get_client().create_customer(
        {"email": "ada@example.com", "external_id": f"testapp.user:{user.pk}"}
    )
    customer = user.get_or_create_polar_customer()
    assert str(customer.pk) == remote["id"]
    assert Customer.objects.count() == 1


def test_customer_with_our_email_is_not_claimed_by_default(polar, user):
    # Someone signing up with another person's email must not take over their customer.
    remote = get_client().create_customer({"email": "ada@example.com"})
    with pytest.raises(CustomerConflictError, match="polar_may_claim_customer_by_email"):
        user.get_or_create_polar_customer()
    assert user.polar_customer is None
    assert get_client().get_customer(remote["id"])["external_id"] is None


def test_customer_with_our_email_and_no_external_id_is_claimed_on_opt_in(polar, user, monkeypatch):
    monkeypatch.setattr(User, "polar_may_claim_customer_by_email", lambda self: True)
    remote = get_client().create_customer({"email": "ada@example.com"})
    customer = user.get_or_create_polar_customer()
    assert str(customer.pk) == remote["id"]
    assert get_client().get_customer(remote["id"])["external_id"] == f"testapp.user:{user.pk}"


@pytest.mark.parametrize("opt_in", [False, True])
def test_email_owned_by_another_billable_is_never_linked(polar, user, monkeypatch, opt_in):
    monkeypatch.setattr(User, "polar_may_claim_customer_by_email", lambda self: opt_in)
    get_client().create_customer({"email": "ada@example.com", "external_id": "someone-else"})
    with pytest.raises(CustomerConflictError):
        user.get_or_create_polar_customer()
    assert user.polar_customer is None
    assert get_client().get_customer_by_external_id("someone-else")["email"] == "ada@example.com"


def test_team_customer_uses_the_team_hooks(polar, user):
    team = Team.objects.create(
        name="Analytical Engines", owner=user, billing_email="ae@example.com"
    )
    customer = team.get_or_create_polar_customer()
    remote = get_client().get_customer(str(customer.pk))
    assert remote["external_id"] == f"testapp.team:{team.pk}"
    assert (remote["email"], remote["name"], remote["type"]) == (
        "ae@example.com",
        "Analytical Engines",
        "team",
    )
    assert remote["metadata"] == {"team_id": team.pk, "owner": "ada"}
    assert user.polar_customer is None  # the owner is a different billable


def test_email_and_name_changes_are_pushed(polar, user):
    user.get_or_create_polar_customer()
    user.email, user.first_name = "ada@engines.example.com", "Augusta"
    user.save()
    customer = user.sync_polar_customer()
    remote = get_client().get_customer(str(customer.pk))
    assert (remote["email"], remote["name"]) == ("ada@engines.example.com", "Augusta Lovelace")
    assert customer.email == "ada@engines.example.com"


def test_customer_portal_url_is_for_our_own_customer(polar, user):
    other = User.objects.create_user("eve", "eve@example.com")
    others_customer = other.get_or_create_polar_customer()
    url = user.customer_portal_url(return_url="https://app.example.com/account")
    customer = user.polar_customer
    assert customer is not None and customer.pk != others_customer.pk
    session = polar.customer_session(url.rstrip("/").rsplit("/", 1)[-1])
    assert session["customer_id"] == str(customer.pk)
    assert session["return_url"] == "https://app.example.com/account"
    response = user.redirect_to_customer_portal()
    assert response.status_code == 303
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert polar.customer_session(token)["customer_id"] == str(customer.pk)


def test_usage_is_recorded_and_sent_with_its_external_id(
    polar, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = user.ingest_usage("tokens", {"count": 120})
    event.refresh_from_db()
    assert event.ingested_at is not None and event.attempts == 1
    events = list(get_client().list_events(name="tokens"))
    assert [(e["external_customer_id"], e["metadata"]["count"]) for e in events] == [
        (f"testapp.user:{user.pk}", 120)
    ]
    # Sending again is harmless: Polar de-duplicates on external_id.
    UsageEvent.objects.filter(pk=event.pk).update(ingested_at=None)
    assert flush().sent == 1
    assert len(list(get_client().list_events(name="tokens"))) == 1


def test_failed_usage_send_keeps_the_row_for_a_retry(
    polar, user, settings, django_capture_on_commit_callbacks
):
    settings.POLAR = {**settings.POLAR, "MAX_RETRIES": 0}
    polar.faults.fail_next(1, status=503)
    with django_capture_on_commit_callbacks(execute=True):
        event = user.ingest_usage("tokens")
    event.refresh_from_db()
    assert event.ingested_at is None
    assert event.attempts == 1 and "503" in event.last_error
    assert flush().sent == 1
    event.refresh_from_db()
    assert event.ingested_at is not None and event.last_error == ""
    assert len(list(get_client().list_events(name="tokens"))) == 1


def test_usage_name_is_validated(user):
    with pytest.raises(InvalidUsageEvent, match="128"):
        user.ingest_usage("x" * 129)
