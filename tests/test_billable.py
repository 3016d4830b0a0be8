"""The Billable mixin: identity and billing state read from the mirror."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.test import RequestFactory, override_settings
from django.utils import timezone

from django_polar.billable import Billable, billing_status_for, prefetch_polar_subscriptions
from django_polar.identity import billable_for_request, billable_from_external_id
from django_polar.models import Benefit, BenefitGrant, Customer, Member, Price, Product
from tests.fixtures import (
    make_customer,
    make_grant,
    make_order,
    make_product,
    make_subscription,
)
from tests.testapp.models import Team, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com", "pw", first_name="Ada", last_name="L")


@pytest.fixture
def team(user):
    return Team.objects.create(name="Analytical", owner=user, billing_email="billing@example.com")


@pytest.fixture
def product():
    return make_product("Pro")


# -- identity ---------------------------------------------------------------------------


def test_external_ids_of_two_billable_models_never_collide(user):
    team = Team.objects.create(pk=user.pk, name="Same pk", owner=user)  # same pk, other model
    assert user.get_polar_external_id() == f"testapp.user:{user.pk}"
    assert team.get_polar_external_id() == f"testapp.team:{team.pk}"


def test_external_id_resolves_back_to_the_right_model(user, team):
    assert billable_from_external_id(user.get_polar_external_id()) == user
    resolved = billable_from_external_id(team.get_polar_external_id())
    assert isinstance(resolved, Team) and resolved.pk == team.pk
    # The mirror's resolver agrees: one derivation, one parser.
    assert billable_from_external_id(team.get_polar_external_id()) == resolved


@pytest.mark.parametrize(
    "external_id", ["", None, "testapp.user:", "testapp.user:abc", "other:1", "1"]
)
def test_foreign_or_malformed_external_ids_resolve_to_nothing(user, external_id):
    assert billable_from_external_id(external_id) is None


def test_plain_pk_style_for_projects_with_existing_customers(user, monkeypatch):
    monkeypatch.setattr(User, "polar_external_id_is_pk", True)
    assert user.get_polar_external_id() == str(user.pk)
    assert billable_from_external_id(str(user.pk)) == user
    # Prefixed ids of other models still resolve to them, not to a user.
    team = Team.objects.create(name="T", owner=user)
    assert isinstance(billable_from_external_id(f"testapp.team:{team.pk}"), Team)


def test_two_plain_pk_models_are_refused(user, monkeypatch):
    monkeypatch.setattr(User, "polar_external_id_is_pk", True)
    monkeypatch.setattr(Team, "polar_external_id_is_pk", True)
    with pytest.raises(ImproperlyConfigured, match="collide"):
        billable_from_external_id("1")


def test_unsaved_billable_has_no_external_id():
    with pytest.raises(ValueError, match="Save this User"):
        User(username="x").get_polar_external_id()


def test_hooks_default_and_override(user, team):
    assert user.get_polar_email() == "ada@example.com"
    assert user.get_polar_name() == "Ada L"
    assert team.get_polar_email() == "billing@example.com"
    assert team.get_polar_name() == "Analytical"
    assert team.get_polar_customer_metadata() == {"team_id": team.pk, "owner": "ada"}


class Organization(Billable):
    """A billable with neither ``email`` nor ``get_full_name`` (not a user model)."""

    def __str__(self) -> str:
        return "Org 7"


def test_default_hooks_of_a_model_without_email_or_full_name():
    org = Organization()
    assert org.get_polar_email() == ""
    assert org.get_polar_name() == "Org 7"


def test_default_hooks_fall_back_for_a_user_without_email_or_names():
    nameless = User(username="nameless", email="")
    assert nameless.get_polar_email() == ""
    assert nameless.get_polar_name() == "nameless"


def test_default_name_is_cut_to_the_256_characters_polar_accepts():
    long = User(username="long", first_name="A" * 150, last_name="B" * 150)
    assert long.get_polar_name() == "A" * 150 + " " + "B" * 105


# -- customer ---------------------------------------------------------------------------


def test_polar_customer_by_external_id_or_stored_link(user, team):
    assert user.polar_customer is None
    by_external_id = make_customer(user, link=False)
    assert user.polar_customer == by_external_id
    linked_only = make_customer(team, external_id="legacy-7")
    assert team.polar_customer == linked_only
    assert user.polar_customer != team.polar_customer


def test_a_customer_linked_to_a_same_named_model_of_another_app_is_not_ours(user, product):
    """The stored link names the app as well as the model: ``other.user`` 1 is not
    ``testapp.user`` 1."""
    other_user = ContentType.objects.create(app_label="other", model="user")
    customer = Customer.objects.create(
        id=uuid.uuid4(), external_id="other-1", billable_type=other_user, billable_id=str(user.pk)
    )
    make_subscription(customer, product)
    assert user.polar_customer is None
    assert not user.subscribed()


# -- subscription state -----------------------------------------------------------------


def test_subscribed_follows_the_status(user, product):
    customer = make_customer(user)
    assert not user.subscribed()
    sub = make_subscription(customer, product, status="incomplete")
    assert not user.subscribed()
    sub.status = "trialing"
    sub.save()
    assert user.subscribed() and user.on_trial()
    sub.status = "active"
    sub.save()
    assert user.subscribed() and not user.on_trial()
    sub.status = "canceled"
    sub.save()
    assert not user.subscribed()


def test_grace_period_still_subscribed_until_the_end(user, product):
    customer = make_customer(user)
    sub = make_subscription(customer, product, cancel_at_period_end=True, ends_in=timedelta(days=3))
    assert user.subscribed()
    assert user.on_grace_period()
    sub.ends_at = sub.ends_at - timedelta(days=4)
    sub.save()
    assert not user.subscribed()
    assert not user.on_grace_period()


def test_past_due_access_is_a_setting(user, product, settings):
    make_subscription(make_customer(user), product, status="past_due")
    assert not user.subscribed()
    settings.POLAR = {**settings.POLAR, "PAST_DUE_GRANTS_ACCESS": True}
    assert user.subscribed()


def test_subscription_types_are_separate(user, product):
    customer = make_customer(user)
    make_subscription(customer, product, type="swimming")
    assert not user.subscribed()
    assert user.subscribed("swimming")
    assert user.subscribed(type=None)
    assert user.subscription("swimming").type == "swimming"
    assert user.subscription() is None


def test_subscription_returns_the_newest_of_its_type(user, product):
    customer = make_customer(user)
    make_subscription(customer, product, status="canceled", created_ago=timedelta(days=60))
    newest = make_subscription(customer, product)
    assert user.subscription() == newest
    assert set(user.subscriptions) == set(customer.subscriptions.all())


def test_subscribed_to_product_and_price(user, product, settings):
    other = make_product("Basic")
    sub = make_subscription(make_customer(user), product)
    price_id = sub.data["prices"][0]["id"]
    assert user.subscribed(product=product)
    assert user.subscribed_to_product([other, product])
    assert not user.subscribed_to_product(other)
    assert user.subscribed_to_price(price_id)
    assert not user.subscribed_to_price(str(other.prices.first().pk))
    settings.POLAR = {**settings.POLAR, "PRODUCTS": {"pro": str(product.pk)}}
    assert user.subscribed_to_product("pro")


def test_product_and_price_checks_honour_the_type(user, product):
    sub = make_subscription(make_customer(user), product, type="swimming")
    price_id = sub.data["prices"][0]["id"]
    assert not user.subscribed_to_product(product)  # the default type only
    assert user.subscribed_to_product(product, type="swimming")
    assert user.subscribed_to_product(product, type=None)
    assert not user.subscribed_to_price(price_id)
    assert user.subscribed_to_price(price_id, type="swimming")
    assert user.subscribed_to_price(price_id, type=None)


def test_subscribed_to_price_takes_rows_lists_and_ids(user, product):
    make_subscription(make_customer(user), product)
    price = product.prices.get()
    other = make_product("Basic").prices.get()
    assert user.subscribed_to_price(price)
    assert user.subscribed_to_price([other, price])
    assert user.subscribed_to_price([str(price.pk)])
    assert not user.subscribed_to_price(other)
    assert not user.subscribed_to_price([str(other.pk)])


def test_a_subscription_with_malformed_stored_prices_is_not_subscribed_to_a_price(user, product):
    """``data`` is Polar's JSON as stored; an entry that is not a price object is skipped
    rather than breaking every page that checks a price."""
    sub = make_subscription(make_customer(user), product)
    sub.data = {"prices": ["price_1", {"amount": 5}]}
    sub.save()
    assert not user.subscribed_to_price(Price(pk=uuid.uuid4()))
    assert not user.subscribed_to_price("None")


def test_the_subscriptions_product_comes_with_it(user, product, django_assert_num_queries):
    make_subscription(make_customer(user), product)
    with django_assert_num_queries(1):
        assert user.subscription().product.name == "Pro"


def test_one_billable_does_not_see_anothers_subscription(user, team, product):
    make_subscription(make_customer(team), product)
    assert team.subscribed()
    assert not user.subscribed()


def test_subscribed_costs_one_query(user, product, django_assert_num_queries):
    make_subscription(make_customer(user), product)
    with django_assert_num_queries(1):
        assert user.subscribed()
    with django_assert_num_queries(1):
        assert user.subscribed(product=product)


# -- orders and benefits ----------------------------------------------------------------


def test_has_purchased_product(user, product):
    customer = make_customer(user)
    assert not user.has_purchased_product(product)
    make_order(customer, product, paid=False, status="pending")
    assert not user.has_purchased_product(product)
    order = make_order(customer, product)
    assert user.has_purchased_product(product)
    assert list(user.orders) == list(customer.orders.all())
    order.status = "refunded"
    order.save()
    # A fully refunded order no longer counts; the earlier pending one never did.
    assert not user.has_purchased_product(product)


def test_an_order_for_another_product_is_not_a_purchase_of_this_one(user, product):
    make_order(make_customer(user), make_product("Basic"))
    assert not user.has_purchased_product(product)
    assert user.has_purchased_product(Product.objects.get(name="Basic"))


def test_has_benefit(user):
    customer = make_customer(user)
    grant = make_grant(customer)
    revoked = make_grant(customer, revoked=True)
    assert user.has_benefit(grant.benefit_id)
    assert user.has_benefit(grant.benefit)
    assert not user.has_benefit(revoked.benefit_id)
    assert list(user.benefit_grants) == [grant]


def test_benefits_are_listed_oldest_grant_first_with_their_benefit(user, django_assert_num_queries):
    """A stable order for a page listing them: by grant time, then by id."""
    customer = make_customer(user)
    now = timezone.now()
    benefit = Benefit.objects.create(id=uuid.uuid4(), type="custom", description="Files")

    def grant(pk: str, ago: timedelta) -> BenefitGrant:
        return BenefitGrant.objects.create(
            id=uuid.UUID(pk),
            customer=customer,
            benefit=benefit,
            is_granted=True,
            granted_at=now - ago,
        )

    newest = grant("00000000-0000-4000-8000-000000000001", timedelta(0))
    tied_high = grant("ffffffff-0000-4000-8000-000000000000", timedelta(days=2))
    tied_low = grant("11111111-0000-4000-8000-000000000000", timedelta(days=2))
    middle = grant("88888888-0000-4000-8000-000000000000", timedelta(days=1))
    with django_assert_num_queries(1):
        listed = user.benefits()
        assert [g.benefit.description for g in listed] == ["Files"] * 4
    assert listed == [tied_low, tied_high, middle, newest]


def test_a_seat_grant_is_the_members_not_the_billing_customers(user, team):
    """A claimed seat's grant carries the member's id: the member holds the benefit (by
    its external id, or because the app recorded the billable claiming it), the team
    paying for the seat does not, nor does anyone else, and a deleted member no longer
    does."""
    stranger = User.objects.create_user("eve", "eve@example.com")
    team_customer = make_customer(team)
    mine = Member.objects.create(
        id=uuid.uuid4(), customer=team_customer, external_id=user.get_polar_external_id()
    )
    claimed = Member.objects.create(
        id=uuid.uuid4(), customer=team_customer, holder_external_id=user.get_polar_external_id()
    )
    theirs = Member.objects.create(
        id=uuid.uuid4(), customer=team_customer, external_id=stranger.get_polar_external_id()
    )
    seat, invited, other_seat = (
        make_grant(team_customer, member=m) for m in (mine, claimed, theirs)
    )
    own = make_grant(team_customer)  # the team's own grant (no member)
    assert user.has_benefit(seat.benefit_id) and user.has_benefit(invited.benefit_id)
    assert not user.has_benefit(other_seat.benefit_id) and not user.has_benefit(own.benefit_id)
    assert stranger.has_benefit(other_seat.benefit_id) and not stranger.has_benefit(seat.benefit_id)
    assert team.has_benefit(own.benefit_id)
    assert not any(team.has_benefit(g.benefit_id) for g in (seat, invited, other_seat))
    Member.objects.filter(pk=mine.pk).update(is_deleted=True)
    assert not user.has_benefit(seat.benefit_id) and user.has_benefit(invited.benefit_id)


# -- listing many billables -------------------------------------------------------------


def test_billing_status_for_many_users_in_constant_queries(product, django_assert_num_queries):
    users = [User.objects.create_user(f"u{i}", f"u{i}@example.com") for i in range(100)]
    for i, u in enumerate(users):
        if i % 3 == 0:
            make_subscription(make_customer(u), product)
        elif i % 3 == 1:
            make_subscription(make_customer(u), product, status="canceled")
    with django_assert_num_queries(2):  # the users, their subscriptions
        status = billing_status_for(User.objects.order_by("pk"))
        subscribed = [u.pk for u in users if status[u.pk].subscribed]
    assert subscribed == [u.pk for i, u in enumerate(users) if i % 3 == 0]
    assert status[users[1].pk].status == "canceled"
    assert status[users[2].pk].status == "none"


def test_prefetched_billables_answer_without_queries(
    user, team, product, django_assert_num_queries
):
    make_subscription(make_customer(team), product, type="seats")
    billables = prefetch_polar_subscriptions([user, team])
    with django_assert_num_queries(0):
        assert [b.subscribed("seats") for b in billables] == [False, True]
        assert billables[1].subscription("seats").product == product


def test_prefetch_gives_each_billable_its_own_subscriptions_newest_first(
    product, django_assert_num_queries
):
    """Billables of two models, found by external id only, by the stored link only or by
    both, and a team with the same pk as a user: each gets exactly its own subscriptions,
    the newest first."""
    by_external_id = User.objects.create_user("ext")
    by_link = User.objects.create_user("link")
    both = User.objects.create_user("both")
    team = Team.objects.create(pk=by_link.pk, name="Same pk", owner=both)
    customer = make_customer(by_external_id, link=False)
    make_subscription(customer, product, status="canceled", created_ago=timedelta(days=30))
    newest = make_subscription(customer, product, created_ago=timedelta(days=1))
    linked = make_subscription(
        make_customer(by_link, external_id="legacy-2"), product, type="swimming"
    )
    team_sub = make_subscription(make_customer(team, external_id="legacy-t"), product, type="seats")
    make_subscription(
        make_customer(both, link=False), product, type="gym", created_ago=timedelta(days=10)
    )
    newer = make_subscription(make_customer(both, external_id="legacy-b"), product, type="gym")
    billables = prefetch_polar_subscriptions([by_external_id, team, by_link, both])
    with django_assert_num_queries(0):
        assert by_external_id.subscription() == newest and by_external_id.subscribed()
        assert by_link.subscription("swimming") == linked and by_link.subscribed("swimming")
        assert by_link.subscription("seats") is None and not by_link.subscribed("seats")
        assert team.subscription("seats") == team_sub and team.subscription("swimming") is None
        assert both.subscription("gym") == newer
    assert billables == [by_external_id, team, by_link, both]


def test_billing_status_for_reports_trial_grace_and_the_type(product):
    trialing, grace, swimmer = (User.objects.create_user(n) for n in ("t", "g", "s"))
    make_subscription(make_customer(trialing), product, status="trialing")
    make_subscription(
        make_customer(grace), product, cancel_at_period_end=True, ends_in=timedelta(days=3)
    )
    make_subscription(make_customer(swimmer), product, type="swimming")
    status = billing_status_for([trialing, grace, swimmer])
    assert (status[trialing.pk].on_trial, status[trialing.pk].on_grace_period) == (True, False)
    assert (status[grace.pk].on_trial, status[grace.pk].on_grace_period) == (False, True)
    assert status[grace.pk].subscribed
    assert not status[swimmer.pk].subscribed and status[swimmer.pk].status == "none"
    swimming = billing_status_for([swimmer], type="swimming")[swimmer.pk]
    assert swimming.subscribed and swimming.status == "active"
    assert not swimmer.subscribed() and swimmer.subscribed("swimming")  # prefetched


# -- request resolution -----------------------------------------------------------------


def team_of_request(request):
    return request.user.teams.first()


def test_billable_for_request_defaults_to_the_logged_in_user(user):
    request = RequestFactory().get("/")
    request.user = user
    assert billable_for_request(request) == user


def test_billable_for_request_uses_the_configured_resolver(user, team, settings):
    settings.POLAR = {**settings.POLAR, "BILLABLE_RESOLVER": "tests.test_billable.team_of_request"}
    request = RequestFactory().get("/?customer_id=someone-else")
    request.user = user
    assert billable_for_request(request) == team


def test_a_resolver_returning_a_non_billable_is_a_configuration_error(user):
    with override_settings(POLAR={"BILLABLE_RESOLVER": lambda request: object()}):
        request = RequestFactory().get("/")
        request.user = user
        with pytest.raises(ImproperlyConfigured, match="Billable"):
            billable_for_request(request)


def test_mixin_is_plain_python():
    # Not a model and no fields: mixing it in adds no column, table or migration to the
    # project's model (its state lives in the mirror tables, found by external id).
    assert not issubclass(Billable, models.Model)
    assert not any(isinstance(value, models.Field) for value in vars(Billable).values())
    assert {f.name for f in Team._meta.get_fields() if f.concrete} == {
        "id",
        "name",
        "owner",
        "billing_email",
    }
    user_columns = {f.name for f in User._meta.concrete_fields}
    assert user_columns == {f.name for f in AbstractUser._meta.fields} | {"id"}
