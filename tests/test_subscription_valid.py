"""``Subscription.valid()`` (Python, on a row) and ``.objects.valid()`` (SQL) are one rule.

Pages ask both ways (``user.subscribed()`` reads SQL, prefetched listings read Python), so
they must agree for every status, end date and PAST_DUE_GRANTS_ACCESS setting.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from django_polar.models import Subscription, SubscriptionStatus
from tests.fixtures import make_customer, make_product, make_subscription
from tests.testapp.models import User

pytestmark = pytest.mark.django_db

ENDS = {"past": timedelta(days=-1), "future": timedelta(days=3), "none": None}


@pytest.mark.parametrize("past_due_grants_access", [False, True])
def test_python_and_sql_valid_agree(settings, past_due_grants_access):
    settings.POLAR = {**settings.POLAR, "PAST_DUE_GRANTS_ACCESS": past_due_grants_access}
    user = User.objects.create_user("ada", "ada@example.com")
    customer = make_customer(user)
    product = make_product()
    cases = {}
    for status in SubscriptionStatus.values:
        for label, delta in ENDS.items():
            sub = make_subscription(customer, product, status=status)
            sub.ends_at = timezone.now() + delta if delta is not None else None
            sub.save(update_fields=["ends_at"])
            cases[sub.pk] = (status, label)
    in_sql = set(Subscription.objects.valid().values_list("pk", flat=True))
    in_python = {sub.pk for sub in Subscription.objects.all() if sub.valid()}
    assert sorted(cases[pk] for pk in in_python ^ in_sql) == []  # the cases they disagree on
    valid_cases = {cases[pk] for pk in in_sql}
    # The rule itself: an ended past_due subscription never grants access ...
    assert ("past_due", "past") not in valid_cases
    # ... a running one does only when the setting allows it.
    assert (("past_due", "future") in valid_cases) is past_due_grants_access
    assert {("active", "none"), ("trialing", "future")} <= valid_cases
    assert ("active", "past") not in valid_cases


PREDICATES = ("active", "on_trial", "past_due", "canceled", "on_grace_period", "ended", "valid")
ENDED_AT = {"past": timedelta(days=-2), "none": None}


def test_every_queryset_predicate_agrees_with_the_row_method(settings):
    """Each ``Subscription.objects.<name>()`` selects exactly the rows whose
    ``<name>()`` is true, over every status, end date, end time and cancel flag."""
    settings.POLAR = {**settings.POLAR, "PAST_DUE_GRANTS_ACCESS": True}
    customer = make_customer(User.objects.create_user("ada", "ada@example.com"))
    product = make_product()
    now = timezone.now()
    cases = {}
    for status in SubscriptionStatus.values:
        for ends_label, ends in ENDS.items():
            for ended_label, ended in ENDED_AT.items():
                for cancel_at_period_end in (False, True):
                    sub = make_subscription(
                        customer, product, status=status, cancel_at_period_end=cancel_at_period_end
                    )
                    sub.ends_at = now + ends if ends is not None else None
                    sub.ended_at = now + ended if ended is not None else None
                    sub.save(update_fields=["ends_at", "ended_at"])
                    cases[sub.pk] = (status, ends_label, ended_label, cancel_at_period_end)
    rows = list(Subscription.objects.all())
    assert len(rows) == 8 * 3 * 2 * 2
    for name in PREDICATES:
        in_sql = set(getattr(Subscription.objects, name)().values_list("pk", flat=True))
        in_python = {sub.pk for sub in rows if getattr(sub, name)()}
        disagree = sorted(cases[pk] for pk in in_sql ^ in_python)
        assert disagree == [], f"{name}: SQL and Python disagree on {disagree}"
        assert in_sql, f"{name}: the grid must hold rows it selects"
        assert len(in_sql) < len(rows), f"{name}: the grid must hold rows it leaves out"
    # The grid is not vacuous: spot-check the rules a page relies on.
    grace = {
        cases[pk] for pk in Subscription.objects.on_grace_period().values_list("pk", flat=True)
    }
    assert ("active", "future", "none", True) in grace
    assert ("active", "none", "none", True) not in grace  # no end date: nothing to wait for
    ended = {cases[pk] for pk in Subscription.objects.ended().values_list("pk", flat=True)}
    assert ("active", "past", "none", False) in ended
    assert ("active", "future", "none", True) not in ended


def test_an_end_at_this_very_instant_has_ended(monkeypatch):
    """The boundary of every end rule: ``ends_at``/``ended_at`` equal to now is over."""
    customer = make_customer(User.objects.create_user("ada", "ada@example.com"))
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # the clock stands still
    ending = make_subscription(customer, make_product(), cancel_at_period_end=True)
    ending.ends_at = now
    assert not ending.active() and not ending.on_grace_period() and ending.ended()
    assert not ending.valid()
    finished = make_subscription(customer, make_product())
    finished.ended_at = now
    assert finished.ended()
