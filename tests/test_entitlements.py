"""Entitlements against the emulator, through the real webhook view: a benefit held through
several grants, keys, and hooks that run once per transition, retried and replayable."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from django_polar import entitlements, mirror
from django_polar.client import get_client
from django_polar.models import BenefitTransition
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.test_actions import buy, seeded
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(polar):
    return User.objects.create_user("ada", "ada@example.com")


@pytest.fixture
def features(polar):
    """The seed's feature flag, given a project key in its metadata (and mirrored)."""
    benefit_id = polar.ids["pro-features"]
    return mirror.upsert_benefit(
        get_client().update_benefit(benefit_id, {"metadata": {"key": "pro-features"}})
    )


@pytest.fixture
def calls():
    """Hooks registered for the test, recording (kind, billable, benefit key)."""
    seen: list[tuple[str, str, str]] = []
    failing: list[int] = []

    @entitlements.on_benefit_granted("pro-features")
    def granted(billable, benefit, customer, transition):
        if failing:
            failing.pop()
            raise RuntimeError("Discord is down")
        seen.append(("granted", billable.username, str(benefit.pk)))

    @entitlements.on_benefit_revoked("pro-features")
    def revoked(billable, benefit, customer, transition):
        seen.append(("revoked", billable.username, str(benefit.pk)))

    yield seen, failing
    for kind in entitlements._hooks:
        entitlements._hooks[kind] = [
            (k, f) for k, f in entitlements._hooks[kind] if f not in (granted, revoked)
        ]


def test_a_benefit_granted_by_two_subscriptions_survives_one_revocation(
    polar, user, features, calls, django_capture_on_commit_callbacks
):
    seen, _ = calls
    monthly, yearly = seeded(polar, "pro-monthly"), seeded(polar, "pro-yearly")
    # Two subscriptions per customer need the organization's consent, as on Polar.
    polar.configure_organization(subscription_settings={"allow_multiple_subscriptions": True})
    with django_capture_on_commit_callbacks(execute=True):
        buy(polar, user, monthly)
        buy(polar, user, yearly, type="yearly")
    assert user.has_benefit("pro-features") and user.has_benefit(str(features.pk))
    assert user.has_benefit(features) and not user.has_benefit("discord")
    assert seen == [("granted", "ada", str(features.pk))]  # once, not once per grant
    assert {g.benefit_id for g in user.benefits()} >= {features.pk}

    with django_capture_on_commit_callbacks(execute=True):
        polar.revoke_subscription(str(user.subscription("yearly").pk))
    assert user.has_benefit("pro-features")  # the monthly subscription still grants it
    assert len(seen) == 1

    with django_capture_on_commit_callbacks(execute=True):
        polar.revoke_subscription(str(user.subscription().pk))
    assert not user.has_benefit("pro-features")
    assert seen == [("granted", "ada", str(features.pk)), ("revoked", "ada", str(features.pk))]
    transitions = BenefitTransition.objects.filter(benefit=features)
    assert list(transitions.values_list("kind", flat=True)) == [
        "granted",
        "revoked",
    ]


def test_a_benefit_granted_twice_survives_one_revocation(
    polar, user, features, calls, django_capture_on_commit_callbacks
):
    """A subscription and a one-time order both grant the feature (Polar allows one active
    subscription per customer by default, so the second grant comes from an order)."""
    seen, _ = calls
    monthly, lifetime = seeded(polar, "pro-monthly"), seeded(polar, "lifetime")
    with django_capture_on_commit_callbacks(execute=True):
        buy(polar, user, monthly)
        buy(polar, user, lifetime)
    assert user.has_benefit("pro-features") and user.has_benefit(str(features.pk))
    assert user.has_benefit(features) and not user.has_benefit("discord")
    assert seen == [("granted", "ada", str(features.pk))]  # once, not once per grant
    assert {g.benefit_id for g in user.benefits()} >= {features.pk}

    with django_capture_on_commit_callbacks(execute=True):
        polar.revoke_subscription(str(user.subscription().pk))
    assert user.has_benefit("pro-features")  # the lifetime order still grants it
    assert len(seen) == 1

    order = user.orders.get(product=lifetime)
    with django_capture_on_commit_callbacks(execute=True):
        get_client().create_refund(
            {
                "order_id": str(order.pk),
                "reason": "customer_request",
                "amount": order.net_amount,
                "revoke_benefits": True,
            }
        )
    assert not user.has_benefit("pro-features")
    assert seen == [("granted", "ada", str(features.pk)), ("revoked", "ada", str(features.pk))]
    transitions = BenefitTransition.objects.filter(benefit=features)
    assert list(transitions.values_list("kind", flat=True)) == [
        "granted",
        "revoked",
    ]


def test_a_failing_hook_is_retried_then_runs_once_and_can_be_replayed(
    polar, user, features, calls, django_capture_on_commit_callbacks
):
    seen, failing = calls
    failing.append(1)  # the first attempt fails
    with django_capture_on_commit_callbacks(execute=True):
        buy(polar, user, seeded(polar, "pro-monthly"))
    transition = BenefitTransition.objects.get(kind="granted", benefit=features)
    assert transition.finished_at is None and "Discord is down" in transition.last_error
    assert transition.next_attempt_at is not None and seen == []
    assert entitlements.run_due() == 0  # backing off: not due yet
    listed = command()
    assert "1 transition(s) not finished" in listed and "Discord is down" in listed
    BenefitTransition.objects.update(next_attempt_at=None)
    assert "1 transition(s) finished; 0 not finished." in command("run")  # cron
    assert entitlements.run_due() == 0  # finished: never again by itself
    assert seen == [("granted", "ada", str(features.pk))]
    transition.refresh_from_db()
    assert transition.attempts == 2 and transition.finished_at is not None
    assert entitlements.replay(transition.pk)  # on purpose, after fixing something
    assert len(seen) == 2
    assert f"{transition.pk}: finished" in command("replay", str(transition.pk))
    assert len(seen) == 3
    with pytest.raises(CommandError, match="No benefit transition"):
        command("replay", "999999")


def command(*args: str) -> str:
    out = io.StringIO()
    call_command("polar_benefits", *args, stdout=out)
    return out.getvalue()


def test_license_keys_of_the_billable_come_from_its_grants(polar, user):
    buy(polar, user, seeded(polar, "lifetime"))
    [key] = user.license_keys()
    assert key["display_key"].startswith("****-") and key["id"]


def test_license_keys_name_their_key_benefit_and_grant(polar, user, django_assert_num_queries):
    buy(polar, user, seeded(polar, "lifetime"))
    grant = user.benefit_grants.get(benefit__type="license_keys")
    with django_assert_num_queries(1):
        keys = user.license_keys()
    assert keys == [
        {
            "id": grant.properties["license_key_id"],
            "display_key": grant.properties["display_key"],
            "benefit_id": str(grant.benefit_id),
            "grant_id": str(grant.pk),
        }
    ]
