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
