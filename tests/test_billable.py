"""The Billable mixin: identity and billing state read from the mirror."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.test import RequestFactory, override_settings

from django_polar.billable import Billable, billing_status_for, prefetch_polar_subscriptions
from django_polar.identity import billable_for_request, billable_from_external_id
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


# -- customer ---------------------------------------------------------------------------


def test_polar_customer_by_external_id_or_stored_link(user, team):
    assert user.polar_customer is None
    by_external_id = make_customer(user, link=False)
    assert user.polar_customer == by_external_id
    linked_only = make_customer(team, external_id="legacy-7")
    assert team.polar_customer == linked_only
    assert user.polar_customer != team.polar_customer


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


def test_has_benefit(user):
    customer = make_customer(user)
    grant = make_grant(customer)
    revoked = make_grant(customer, revoked=True)
    assert user.has_benefit(grant.benefit_id)
    assert user.has_benefit(grant.benefit)
    assert not user.has_benefit(revoked.benefit_id)
    assert list(user.benefit_grants) == [grant]


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
