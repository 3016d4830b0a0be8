"""Seat-based plans end to end: the emulator's real webhooks through the real view.

Buy 5 seats -> assign 3 -> two claim -> those two members have the product's benefit and
the billing manager does not -> revoke one -> its member loses access -> reducing the
seats below those assigned is refused as Polar refuses it.
"""

import pytest
from django.core.management import call_command

from django_polar.client import get_client
from django_polar.errors import (
    PolarAuthenticationError,
    PolarError,
    PolarNotFoundError,
    PolarPermissionError,
    PolarValidationError,
)
from django_polar.models import Customer, Member, Seat, SeatStatus
from tests.fixtures import polar_fixture, recorded  # noqa: F401  (the polar fixture)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


def seeded(polar, key: str):
    """A seed product mirrored with its benefits, as polar_sync would."""
    from django_polar import mirror

    product = get_client().get_product(polar.ids[key])
    for benefit in product["benefits"]:
        mirror.upsert_benefit(get_client().get_benefit(benefit["id"]))
    return mirror.upsert_product(product)


def invitation_token(polar, seat: Seat) -> str:
    """The token Polar mails to the invitee (the emulator keeps it, like Polar's DB)."""
    return polar.store.customer_seats[str(seat.pk)]["_invitation_token"]


@pytest.fixture
def team(polar):
    manager = User.objects.create_user("boss", "boss@example.com")
    members = [User.objects.create_user(f"m{i}", f"m{i}@example.com") for i in range(3)]
    product = seeded(polar, "team")
    # A project's checkout view passes a success_url (its own page), as the app's does.
    builder = manager.checkout([product]).with_seats(5)
    session = builder.with_success_url("https://app.example.com/billing/done").session
    assert session["success_url"] == "https://app.example.com/billing/done"
    polar.pay_checkout(session["id"])
    polar.deliver()
    return manager, members, manager.subscription(), polar.ids["pro-features"]


def test_buying_seats_makes_a_team_customer_and_grants_the_manager_nothing(polar, team):
    manager, _, subscription, benefit = team
    assert subscription.seats == 5
    assert manager.polar_customer.data["type"] == "team"
    assert not manager.has_benefit(benefit)
    # The app always sets a success_url, so the buyer does not auto-claim a seat.
    assert list(subscription.assigned_seats()) == []
    owner = Member.objects.get(customer=manager.polar_customer)
    assert (owner.role, owner.external_id) == ("owner", manager.get_polar_external_id())


def test_without_a_custom_success_url_the_buyer_claims_a_seat(polar):
    buyer = User.objects.create_user("solo", "solo@example.com")
    session = buyer.checkout([seeded(polar, "team")]).with_seats(2).session
    polar.pay_checkout(session["id"])
    polar.deliver()
    (seat,) = buyer.subscription().assigned_seats()
    assert seat.status == SeatStatus.CLAIMED
    assert seat.member.external_id == buyer.get_polar_external_id()  # the owner member
    assert buyer.has_benefit(polar.ids["pro-features"])


def test_assign_claim_revoke_and_the_seat_floor(polar, team):
    manager, (ann, ben, cid), subscription, benefit = team
    seats = [subscription.assign_seat(u) for u in (ann, ben)] + [
        subscription.assign_seat("outsider@example.com")
    ]
    polar.deliver()
    assert [s.status for s in subscription.assigned_seats()] == ["pending"] * 3
    assert get_client().list_seats(str(subscription.pk))["available_seats"] == 2

    for seat in seats[:2]:
        get_client().claim_seat(invitation_token(polar, seat))
    polar.deliver()  # customer_seat.claimed, then benefit_grant.created with the member

    assert ann.has_benefit(benefit) and ben.has_benefit(benefit)
    assert not manager.has_benefit(benefit)
    assert not cid.has_benefit(benefit)
    assert Seat.objects.get(pk=seats[0].pk).status == SeatStatus.CLAIMED

    subscription.revoke_seat(seats[0])
    polar.deliver()
    assert not ann.has_benefit(benefit)
    assert ben.has_benefit(benefit)
    assert Seat.objects.get(pk=seats[0].pk).status == SeatStatus.REVOKED

    # Two seats are still assigned (one claimed, one pending): 1 is below that.
    with pytest.raises(PolarError, match="Currently 2 seats are assigned"):
        subscription.update_seats(1)
    subscription.refresh_from_db()
    assert subscription.seats == 5


def test_a_full_subscription_refuses_another_seat(polar, team):
    _, _, subscription, _ = team
    for i in range(4):
        subscription.assign_seat(f"p{i}@example.com")
    with pytest.raises(PolarError, match=r"already assigned to customer p0@example\.com"):
        subscription.assign_seat("p0@example.com")
    subscription.assign_seat("p4@example.com")
    # Polar checks availability first: a full subscription refuses anyone.
    with pytest.raises(PolarError, match="No available seats"):
        subscription.assign_seat("sixth@example.com")
    assert subscription.assigned_seats().count() == 5


def test_resend_only_a_pending_invitation(polar, team):
    _, (ann, *_), subscription, _ = team
    seat = subscription.assign_seat(ann)
    assert subscription.resend_invitation(seat).status == SeatStatus.PENDING
    get_client().claim_seat(invitation_token(polar, seat))
    with pytest.raises(PolarError, match="not in pending status"):
        subscription.resend_invitation(seat)


def test_ending_the_subscription_revokes_every_seat_and_its_benefits(polar, team):
    _, (ann, *_), subscription, benefit = team
    seat = subscription.assign_seat(ann)
    get_client().claim_seat(invitation_token(polar, seat))
    polar.deliver()
    assert ann.has_benefit(benefit)
    subscription.cancel_now()
    polar.deliver()
    assert not ann.has_benefit(benefit)
    assert Seat.objects.get(pk=seat.pk).status == SeatStatus.REVOKED


def test_polar_sync_rebuilds_seats_and_members(polar, team):
    manager, (ann, *_), subscription, _ = team
    seat = subscription.assign_seat(ann)
    Seat.objects.all().delete()
    Member.objects.all().delete()
    call_command("polar_sync", "members", "seats", verbosity=0)
    assert Seat.objects.get(pk=seat.pk).member.external_id == ann.get_polar_external_id()
    assert Member.objects.filter(customer=Customer.objects.get(pk=manager.polar_customer.pk))


def claim_link_token(polar, email: str) -> str:
    """The token of the last invitation Polar mailed to ``email`` (its claim link)."""
    from urllib.parse import parse_qs, urlsplit

    (mail, *_) = [m for m in reversed(polar.seats.outbox) if m["to"] == email]
    return parse_qs(urlsplit(mail["claim_url"]).query)["token"][0]


def test_an_email_invitation_claimed_in_the_app_gives_the_signed_in_user_access(
    polar, team, client
):
    _, (ann, ben, _), subscription, benefit = team
    subscription.assign_seat("ann.private@example.org")  # a bare address, no external id
    polar.deliver()
    token = claim_link_token(polar, "ann.private@example.org")

    client.force_login(ann)
    page = client.get("/polar/seats/claim/", {"token": token})
    assert page.status_code == 200
    assert b"ann.private@example.org" in page.content
    assert not ann.has_benefit(benefit)  # opening the link claims nothing

    answer = client.post("/polar/seats/claim/", {"token": token})
    assert answer.status_code == 303
    polar.deliver()
    assert ann.has_benefit(benefit)
    assert not ben.has_benefit(benefit)

    # The token is single use: a second claim (by anyone) is refused, nothing changes.
    client.force_login(ben)
    again = client.post("/polar/seats/claim/", {"token": token})
    assert again.status_code == 400
    assert client.get("/polar/seats/claim/", {"token": token}).status_code == 404
    assert client.get("/polar/seats/claim/").status_code == 400
    assert not ben.has_benefit(benefit)


def test_the_claim_view_needs_a_signed_in_user(polar, team, client):
    answer = client.get("/polar/seats/claim/", {"token": "seat_whatever"})
    assert answer.status_code == 302 and "login" in answer["Location"]


def test_polars_hosted_claim_page_claims_the_seat(polar, team):
    from polar_emulator.web.pages import Pages, Request

    _, (ann, *_), subscription, benefit = team
    subscription.assign_seat(ann)
    mail = polar.seats.outbox[-1]
    path, _, query = mail["claim_url"].removeprefix(polar.base_url).partition("?")
    token = query.removeprefix("token=")
    pages = Pages(polar)
    shown = pages.handle(Request("GET", path, query={"token": token}))
    assert shown.status == 200 and ann.email.encode() in shown.body
    assert not ann.has_benefit(benefit)
    claimed = pages.handle(Request("POST", path, form={"token": token}))
    assert claimed.status == 303
    polar.deliver()
    assert ann.has_benefit(benefit)
    assert pages.handle(Request("POST", path, form={"token": token})).status == 400


@pytest.fixture
def hooks(polar):
    """Entitlement hooks on the seat plan's benefit, recording (kind, username)."""
    from django_polar import entitlements

    seen: list[tuple[str, str | None]] = []
    benefit_id = polar.ids["pro-features"]

    @entitlements.on_benefit_granted(benefit_id)
    def granted(billable, benefit, customer, transition):
        seen.append(("granted", getattr(billable, "username", None)))

    @entitlements.on_benefit_revoked(benefit_id)
    def revoked(billable, benefit, customer, transition):
        seen.append(("revoked", getattr(billable, "username", None)))

    yield seen
    for kind in entitlements._hooks:
        entitlements._hooks[kind] = [
            (k, f) for k, f in entitlements._hooks[kind] if f not in (granted, revoked)
        ]


def test_benefit_hooks_fire_for_the_member_who_claims_not_the_manager(
    polar, team, hooks, django_capture_on_commit_callbacks
):
    manager, (ann, ben, _), subscription, _ = team
    with django_capture_on_commit_callbacks(execute=True):
        seats = [subscription.assign_seat(u) for u in (ann, ben)]
        polar.deliver()
    assert hooks == []  # an invitation grants nothing
    with django_capture_on_commit_callbacks(execute=True):
        get_client().claim_seat(invitation_token(polar, seats[0]))
        polar.deliver()
    assert hooks == [("granted", "m0")]  # ann's own user; the billing manager gets nothing
    with django_capture_on_commit_callbacks(execute=True):
        get_client().claim_seat(invitation_token(polar, seats[1]))
        polar.deliver()
    assert hooks == [("granted", "m0"), ("granted", "m1")]  # each member once
    with django_capture_on_commit_callbacks(execute=True):
        subscription.revoke_seat(seats[0])
        polar.deliver()
    assert hooks[2:] == [("revoked", "m0")]  # ben keeps his seat and his benefit
    assert not ann.has_benefit(polar.ids["pro-features"])
    assert ben.has_benefit(polar.ids["pro-features"])
    assert not manager.has_benefit(polar.ids["pro-features"])


def test_benefit_hooks_find_a_user_who_claimed_an_email_invitation_in_the_app(
    polar, team, hooks, client, django_capture_on_commit_callbacks
):
    _, (ann, *_), subscription, _ = team
    subscription.assign_seat("ann.private@example.org")  # no external id: a bare address
    polar.deliver()
    client.force_login(ann)
    with django_capture_on_commit_callbacks(execute=True):
        token = claim_link_token(polar, "ann.private@example.org")
        assert client.post("/polar/seats/claim/", {"token": token}).status_code == 303
        polar.deliver()
    assert hooks == [("granted", "m0")]


def test_a_team_managers_portal_link_opens_a_session_of_its_owner_member(polar, team):
    """With the member model Polar refuses a team customer's session that names no member
    (customer_session/service.py): the app names the owner, who is the billable."""
    manager, *_ = team
    with pytest.raises(PolarError, match="member_id is required for team customers"):
        get_client().create_customer_session({"customer_id": str(manager.polar_customer.pk)})
    url = manager.customer_portal_url()
    session = polar.customer_session(url.rsplit("/", 1)[-1])
    assert session["token"].startswith("polar_mst_")
    owner = polar.store.members[polar.store.customer_sessions[session["id"]]["_member_id"]]
    assert (owner["role"], owner["external_id"]) == ("owner", manager.get_polar_external_id())


def test_a_team_portal_link_costs_one_polar_call(polar, team):
    """The mirror knows the customer is a team: the owner is named at once, not after a
    refusal."""
    manager, *_ = team
    with recorded(polar) as polar_calls:
        manager.customer_portal_url()
    assert polar_calls.calls() == ["POST /v1/customer-sessions/"]


def test_a_portal_link_asks_again_for_the_owner_when_the_mirror_lags(polar, team):
    """The customer.updated making the customer a team has not arrived yet: Polar's 422
    asking for the member is answered by naming the owner."""
    manager, *_ = team
    Customer.objects.filter(pk=manager.polar_customer.pk).update(type="individual")
    manager = User.objects.get(pk=manager.pk)
    session = polar.customer_session(manager.customer_portal_url().rsplit("/", 1)[-1])
    member = polar.store.members[polar.store.customer_sessions[session["id"]]["_member_id"]]
    assert member["external_id"] == manager.get_polar_external_id()
    # A 422 for the member named is Polar's answer, not asked again: here the owner
    # member lost our external id on Polar's side.
    Customer.objects.filter(pk=manager.polar_customer.pk).update(type="team")
    for m in polar.seats.members_of(str(manager.polar_customer.pk)):
        m["external_id"] = "someone-else"
    with pytest.raises(PolarValidationError, match="Member does not exist for this customer"):
        User.objects.get(pk=manager.pk).customer_portal_url()


def test_the_billing_manager_manages_seats_in_the_portal_and_a_member_cannot(polar, team):
    manager, (ann, ben, _), subscription, benefit = team
    client = get_client()
    token = client.create_customer_session(
        {
            "customer_id": str(manager.polar_customer.pk),
            "external_member_id": manager.get_polar_external_id(),
        }
    )["token"]
    seat = client.portal_assign_seat(
        token,
        {
            "subscription_id": str(subscription.pk),
            "email": ann.email,
            "external_member_id": ann.get_polar_external_id(),
        },
    )
    polar.deliver()
    assert Seat.objects.get(pk=seat["id"]).status == SeatStatus.PENDING  # via the webhook
    listed = client.portal_list_seats(token, subscription_id=str(subscription.pk))
    assert (listed["total_seats"], listed["available_seats"]) == (5, 4)
    assert client.portal_resend_seat_invitation(token, seat["id"])["status"] == "pending"

    # Ann claims: her session is a member session of role "member".
    ann_token = client.claim_seat(invitation_token(polar, Seat.objects.get(pk=seat["id"])))[
        "customer_session_token"
    ]
    polar.deliver()
    assert ann.has_benefit(benefit)
    assert client.portal_list_seats(ann_token, subscription_id=str(subscription.pk))["seats"]
    with pytest.raises(PolarPermissionError, match="Only owners and billing managers"):
        client.portal_assign_seat(
            ann_token, {"subscription_id": str(subscription.pk), "email": ben.email}
        )
    with pytest.raises(PolarPermissionError):
        client.portal_revoke_seat(ann_token, seat["id"])

    # Another customer's subscription and seats are out of the session's reach.
    outsider = User.objects.create_user("other", "other@example.com")
    session = outsider.checkout([seeded(polar, "team")]).with_seats(2)
    polar.pay_checkout(session.with_success_url("https://app.example.com/x").session["id"])
    polar.deliver()
    with pytest.raises(PolarNotFoundError, match="Subscription not found"):
        client.portal_list_seats(token, subscription_id=str(outsider.subscription().pk))
    with pytest.raises(PolarAuthenticationError):
        client.portal_list_seats("polar_mst_forged", subscription_id=str(subscription.pk))

    revoked = client.portal_revoke_seat(token, seat["id"])
    polar.deliver()
    assert revoked["status"] == "revoked"
    assert not ann.has_benefit(benefit)


def member_session(team_owner, **member) -> str:
    """A portal session token for a member of ``team_owner``'s team (the owner by default)."""
    ref = member or {"external_member_id": team_owner.get_polar_external_id()}
    body = {"customer_id": str(team_owner.polar_customer.pk), **ref}
    return get_client().create_customer_session(body)["token"]


def test_the_billing_manager_runs_the_team_in_the_portal(polar, team):
    manager, (ann, *_), subscription, benefit = team
    client = get_client()
    owner = member_session(manager)
    helper = client.portal_add_member(
        owner, {"email": "helper@example.com", "role": "billing_manager"}
    )
    assert helper["role"] == "billing_manager"
    with pytest.raises(PolarValidationError, match="exactly one owner"):
        client.portal_add_member(owner, {"email": "boss2@example.com", "role": "owner"})
    emails = {m["email"] for m in client.portal_list_members(owner)["items"]}
    assert emails == {"boss@example.com", "helper@example.com"}

    # The helper, a billing manager, gives Ann a seat; Ann, a plain member, may not manage.
    as_helper = member_session(manager, member_id=helper["id"])
    seat = client.portal_assign_seat(
        as_helper,
        {
            "subscription_id": str(subscription.pk),
            "email": ann.email,
            "external_member_id": ann.get_polar_external_id(),
            "immediate_claim": True,
        },
    )
    polar.deliver()
    assert ann.has_benefit(benefit)
    as_ann = member_session(manager, external_member_id=ann.get_polar_external_id())
    with pytest.raises(PolarPermissionError, match="Insufficient role"):
        client.portal_list_members(as_ann)
    with pytest.raises(PolarValidationError, match="cannot modify your own role"):
        client.portal_update_member(as_helper, helper["id"], {"role": "member"})
    with pytest.raises(PolarValidationError, match="cannot remove yourself"):
        client.portal_remove_member(as_helper, helper["id"])

    # Removing Ann from the team revokes her seat and with it her benefit.
    client.portal_remove_member(owner, seat["member"]["id"])
    polar.deliver()
    assert Seat.objects.get(pk=seat["id"]).status == SeatStatus.REVOKED
    assert not ann.has_benefit(benefit)


def test_portal_members_need_a_team_and_a_member_session(polar, team):
    manager, (ann, *_), subscription, _ = team
    client = get_client()
    # A customer session (what a checkout hands out) manages seats, as Polar's legacy
    # rule allows, but members only answer to a member session.
    customer = polar.store.customers[str(manager.polar_customer.pk)]
    legacy = polar.customers.new_session(customer, None)["token"]
    assert legacy.startswith("polar_cst_")
    seat = client.portal_assign_seat(
        legacy, {"subscription_id": str(subscription.pk), "email": ann.email}
    )
    assert seat["status"] == "pending"
    with pytest.raises(PolarAuthenticationError):
        client.portal_list_members(legacy)
    # An individual customer's owner session: member management is for teams only.
    solo = User.objects.create_user("solo", "solo@example.com")
    individual = solo.get_or_create_polar_customer()
    token = client.create_customer_session({"customer_id": str(individual.pk)})["token"]
    assert token.startswith("polar_mst_")
    with pytest.raises(PolarPermissionError, match="only available for team customers"):
        client.portal_list_members(token)


def test_seats_by_id_metadata_and_the_assigned_list(polar, team, django_assert_num_queries):
    _, (ann, ben, _), subscription, _ = team
    seat = subscription.assign_seat(ann, metadata={"department": "sales"})
    assert seat.data["seat_metadata"] == {"department": "sales"}  # what Polar stored
    other = subscription.assign_seat(ben)
    get_client().claim_seat(invitation_token(polar, other))
    polar.deliver()
    # By id as well as by row, as the docstrings promise.
    assert subscription.resend_invitation(str(seat.pk)).status == SeatStatus.PENDING
    assert subscription.revoke_seat(str(seat.pk)).status == SeatStatus.REVOKED
    subscription.refresh_from_db()
    with django_assert_num_queries(1):  # the seats with their members: one query
        assigned = [(s.pk, s.member.external_id) for s in subscription.assigned_seats()]
    assert assigned == [(other.pk, ben.get_polar_external_id())]  # the revoked one is gone
