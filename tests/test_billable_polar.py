"""The Billable mixin against the emulator: customers, portal, usage."""

import pytest

from django_polar.billable import CustomerConflictError
from django_polar.client import get_client
from django_polar.errors import InvalidUsageEvent, PolarValidationError
from django_polar.models import Customer, UsageEvent
from django_polar.usage import flush
from tests.fixtures import polar_fixture, recorded  # noqa: F401  (the polar fixture)
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


def test_a_mirrored_customer_costs_no_polar_call(polar, user):
    """Every action asks for the customer: once it is mirrored, Polar is not asked."""
    first = user.get_or_create_polar_customer()
    with recorded(polar) as polar_calls:
        assert user.get_or_create_polar_customer() == first
    assert polar_calls.calls() == []


def test_the_refusal_to_claim_by_email_says_why_and_what_to_do(polar, user):
    get_client().create_customer({"email": "ada@example.com"})
    with pytest.raises(CustomerConflictError) as refused:
        user.get_or_create_polar_customer()
    assert str(refused.value) == (
        f"Polar refused to create a customer for testapp.User {user.pk}: its email probably "
        "belongs to an existing Polar customer, and email is not an identity key, so it is "
        "not linked. Link it in Polar (set its external id) or return True from "
        "polar_may_claim_customer_by_email() once emails are verified."
    )


def test_a_refusal_with_no_customer_to_claim_says_so(polar, user, monkeypatch):
    """Polar refused the customer for another reason (here its metadata): there is none
    with our external id or email to link."""
    monkeypatch.setattr(User, "polar_may_claim_customer_by_email", lambda self: True)
    monkeypatch.setattr(User, "get_polar_customer_metadata", lambda self: {"k" * 41: "v"})
    with pytest.raises(CustomerConflictError) as refused:
        user.get_or_create_polar_customer()
    assert str(refused.value) == (
        f"Polar refused to create a customer for testapp.User {user.pk} and none with its "
        "external id or email exists; check the customer in Polar."
    )


@pytest.mark.parametrize("opt_in", [False, True])
def test_a_refused_team_without_an_email_has_nothing_to_claim(polar, user, monkeypatch, opt_in):
    """A team customer may have no email: when Polar refuses it (here its metadata) there
    is no address to claim by, and the error says none exists (it used to blame an email
    it did not have, or fail with AttributeError once claiming was allowed)."""
    user.email = ""
    user.save()
    team = Team.objects.create(name="No mail", owner=user)
    monkeypatch.setattr(Team, "polar_may_claim_customer_by_email", lambda self: opt_in)
    monkeypatch.setattr(Team, "get_polar_customer_metadata", lambda self: {"k" * 41: "v"})
    with recorded(polar) as polar_calls, pytest.raises(CustomerConflictError) as refused:
        team.get_or_create_polar_customer()
    assert str(refused.value) == (
        f"Polar refused to create a customer for testapp.Team {team.pk} and none with its "
        "external id or email exists; check the customer in Polar."
    )
    assert not any(c.startswith("GET /v1/customers/?") for c in polar_calls.calls())


def test_the_refusal_to_link_another_billables_customer_names_it(polar, user, monkeypatch):
    monkeypatch.setattr(User, "polar_may_claim_customer_by_email", lambda self: True)
    get_client().create_customer({"email": "ada@example.com", "external_id": "someone-else"})
    with pytest.raises(CustomerConflictError) as refused:
        user.get_or_create_polar_customer()
    assert str(refused.value) == (
        f"A Polar customer with the email of testapp.User {user.pk} already belongs to "
        "another billable (different external id); not linking it."
    )


def test_claiming_asks_polar_for_that_email_and_ignores_its_case(polar, monkeypatch):
    """Polar matches emails without case; the claim asks for the one address (not the
    whole customer list) and links the customer whatever the case of either side."""
    monkeypatch.setattr(User, "polar_may_claim_customer_by_email", lambda self: True)
    user = User.objects.create_user("ada", "Ada@Example.COM")  # Django lowers the domain
    remote = get_client().create_customer({"email": "ada@example.com"})
    with recorded(polar) as polar_calls:
        customer = user.get_or_create_polar_customer()
    assert str(customer.pk) == remote["id"]
    listed = [
        r for r in polar_calls.requests if r.method == "GET" and r.url.path == "/v1/customers/"
    ]
    assert [r.url.params.get("email") for r in listed] == ["Ada@example.com"]
    assert get_client().get_customer(remote["id"])["external_id"] == f"testapp.user:{user.pk}"


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


def test_metadata_changes_are_pushed(polar, user):
    team = Team.objects.create(name="Engines", owner=user, billing_email="ae@example.com")
    team.get_or_create_polar_customer()
    user.username = "augusta"
    user.save()
    customer = Team.objects.get(pk=team.pk).sync_polar_customer()
    remote = get_client().get_customer(str(customer.pk))
    assert remote["metadata"] == {"team_id": team.pk, "owner": "augusta"}


def test_the_portal_redirect_carries_the_return_url(polar, user):
    response = user.redirect_to_customer_portal(return_url="https://app.example.com/account")
    session = polar.customer_session(response["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert session["return_url"] == "https://app.example.com/account"


def test_a_portal_link_polar_refuses_for_another_reason_is_not_asked_again(polar, user):
    """Only Polar's 422 asking for the member is answered by asking again."""
    user.get_or_create_polar_customer()
    with recorded(polar) as polar_calls, pytest.raises(PolarValidationError) as refused:
        user.customer_portal_url(return_url="not a url")
    assert [e["loc"][-1] for e in refused.value.errors] == ["return_url"]
    assert polar_calls.calls() == ["POST /v1/customer-sessions/"]


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
