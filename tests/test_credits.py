"""Meters and credits against the emulator, through the real webhook view: balances from
the mirrored customer state, local usage counted until Polar's state includes it, and the
gates (decorator, view mixin, DRF permission) that Polar itself does not enforce."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import include, path
from django.views import View
from rest_framework.test import APIClient
from rest_framework.views import APIView

from django_polar import usage
from django_polar.access import CreditsRequiredMixin, credits_required
from django_polar.api.permissions import HasCredits
from django_polar.models import Meter, Price
from tests.fixtures import (
    make_customer,
    make_product,
    polar_fixture,  # noqa: F401  (the polar fixture)
)
from tests.test_actions import buy, seeded
from tests.testapp.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class Report(APIView):
    permission_classes = [HasCredits]
    polar_credits_meter = "API calls"
    polar_credits_units = 10

    def get(self, request):
        return HttpResponse("report")


urlpatterns = [path("polar/", include("django_polar.urls")), path("report/", Report.as_view())]


@pytest.fixture
def user(polar, settings):
    settings.POLAR = {**settings.POLAR, "USAGE_SENDING": "cron"}  # flushed by the test
    user = User.objects.create_user("ada", "ada@example.com")
    buy(polar, user, seeded(polar, "api-metered"))  # 1,000 API calls included
    return user


def test_meters_come_from_the_mirrored_state(user):
    [meter] = user.meters()
    assert (meter.name, meter.consumed, meter.credited, meter.balance) == (
        "API calls",
        0.0,
        1000.0,
        1000.0,
    )
    assert user.meter(meter.meter_id) == user.meter("API calls") == meter
    assert user.meter("nope") is None


def test_the_meters_as_the_api_and_the_agents_tools_show_them(user):
    [meter] = user.meters()
    assert usage.meters_of(user.polar_customer) == [
        {
            "meter_id": meter.meter_id,
            "name": "API calls",
            "consumed_units": 0.0,
            "credited_units": 1000.0,
            "balance": 1000.0,
        }
    ]


def test_local_usage_counts_until_polars_state_includes_it(user, polar):
    user.has_credits("API calls")  # the meter's definition is mirrored on first use
    user.record_usage_many(["api_call"] * 5 + ["other_event"])
    meter = user.meter("API calls")
    assert meter.balance == 1000.0 and meter.unsent == 5.0 and meter.available == 995.0
    assert user.has_credits("API calls", 995) and not user.has_credits("API calls", 996)
    usage.flush()  # Polar meters them; its customer.state_changed reaches the webhook view
    meter = user.meter("API calls")
    assert (meter.consumed, meter.balance, meter.unsent) == (5.0, 995.0, 0.0)
    assert not user.has_credits("API calls", 996)


def test_refresh_fetches_the_state_from_polar(user, polar):
    user.record_usage_many(["api_call"] * 3)
    usage.flush()
    user.polar_customer.__class__.objects.update(data={}, state_at=None)  # a stale mirror
    assert user.meter("API calls") is None
    assert user.meter("API calls", refresh=True).consumed == 3.0
    user.polar_customer.__class__.objects.update(data={}, state_at=None)
    assert user.meters() == []
    [meter] = user.meters(refresh=True)
    assert meter.consumed == 3.0 and meter.unsent == 0.0


def test_the_gates_refuse_once_the_balance_is_used_up(user, polar, django_assert_max_num_queries):
    user.has_credits("API calls")
    user.record_usage_many(["api_call"] * 995)

    @credits_required("API calls", units=5)
    def summarize(request):
        return HttpResponse("ok")

    class Summaries(CreditsRequiredMixin, View):
        credits_meter = "API calls"
        credits_units = 6

        def get(self, request):
            return HttpResponse("ok")

    request = RequestFactory().get("/summaries/")
    request.user = user
    with django_assert_max_num_queries(6):  # the mirror and the outbox; no Polar call
        assert summarize(request).status_code == 200
    with pytest.raises(PermissionDenied, match="credits"):
        Summaries.as_view()(request)

    api = APIClient()
    api.force_authenticate(user)
    assert api.get("/report/").status_code == 403  # 10 wanted, 5 left
    user.record_usage("api_call")
    with pytest.raises(PermissionDenied):  # 4 left, 5 needed
        summarize(request)


def test_the_gates_ask_for_one_unit_unless_told_and_say_why(user, polar):
    user.record_usage_many(["api_call"] * 999)  # 1 of 1,000 left

    @credits_required("API calls")
    def summarize(request):
        return HttpResponse("ok")

    class Summaries(CreditsRequiredMixin, View):
        credits_meter = "API calls"

        def get(self, request):
            return HttpResponse("ok")

    assert user.has_credits("API calls") and usage.has_credits(user, "API calls")
    request = RequestFactory().get("/summaries/")
    request.user = user
    assert summarize(request).status_code == 200
    assert Summaries.as_view()(request).status_code == 200
    with pytest.raises(PermissionDenied) as denied:
        credits_required("API calls", units=2)(summarize)(request)
    assert str(denied.value) == "Not enough credits left for this."
    with pytest.raises(PermissionDenied) as denied:
        Summaries.as_view(credits_units=2)(request)
    assert str(denied.value) == "Not enough credits left for this."
    response = credits_required("API calls", units=2, redirect_to="/top-up/")(summarize)(request)
    assert response["Location"] == "/top-up/?next=%2Fsummaries%2F"


def test_a_credits_gate_without_a_meter_fails_at_import():
    with pytest.raises(ImproperlyConfigured) as missing:
        credits_required("")
    assert str(missing.value) == "credits_required needs the meter (its name or Polar id)."


def test_a_meter_is_named_by_its_definition_else_by_the_catalog(db):
    defined, listed, nameless, unknown = (str(uuid.uuid4()) for _ in range(4))
    Meter.objects.create(id=defined, name="Tokens", data={})
    product = make_product("Metered")
    for meter_id, name in ((defined, "Old tokens"), (listed, "Seats"), (nameless, None)):
        Price.objects.create(
            id=uuid.uuid4(),
            product=product,
            amount_type="metered_unit",
            currency="usd",
            data={"meter": {"id": meter_id, "name": name}},
        )
    customer = make_customer(User.objects.create_user("bob", "bob@example.com"))
    meters = (defined, listed, nameless, unknown)
    junk = ["not a meter", {"meter_id": None, "balance": 5}]  # left out
    customer.data = {"active_meters": [{"meter_id": m} for m in meters] + junk}
    customer.save()
    balances = usage.balances(customer)
    assert [m.name for m in balances] == ["Tokens", "Seats", "", ""]
    # Figures Polar left out are zero, not invented credit.
    assert {(m.consumed, m.credited, m.balance) for m in balances} == {(0.0, 0.0, 0.0)}


def test_a_billable_polar_has_never_seen_has_no_meters_and_no_credits(db):
    carol = User.objects.create_user("carol", "carol@example.com")
    assert carol.meters() == [] and usage.balances(None) == [] and usage.meters_of(None) == []
    assert not carol.has_credits("API calls")


def test_local_usage_is_counted_by_the_meters_own_filter_and_aggregation(user, polar):
    [meter] = user.meters()
    Meter.objects.filter(pk=meter.meter_id).update(
        data={
            "filter": {
                "conjunction": "and",
                "clauses": [
                    {"property": "name", "operator": "eq", "value": "completion"},
                    {"property": "source", "operator": "eq", "value": "user"},
                    {"property": "timestamp", "operator": "ne", "value": "never"},
                    {"property": "model", "operator": "eq", "value": "gpt"},
                ],
            },
            "aggregation": {"func": "sum", "property": "tokens"},
        }
    )
    user.record_usage("completion", {"model": "gpt", "tokens": 30})
    user.record_usage("completion", {"model": "gpt", "tokens": 12})
    user.record_usage("completion", {"model": "other", "tokens": 1000})  # filtered out
    user.record_usage("api_call", {"model": "gpt", "tokens": 1000})  # another event
    assert user.meter("API calls").unsent == 42.0
    Meter.objects.filter(pk=meter.meter_id).update(data={})  # no filter: count every event
    assert user.meter("API calls").unsent == 4.0


def test_usage_sent_after_the_state_was_taken_still_counts(user, polar):
    customer = user.polar_customer
    stale = (customer.data, customer.state_at)
    user.has_credits("API calls")  # the meter's definition is mirrored
    user.record_usage_many(["api_call"] * 4)
    usage.flush()  # Polar has them; its newer state has not reached us yet:
    type(customer).objects.filter(pk=customer.pk).update(data=stale[0], state_at=stale[1])
    meter = user.meter("API calls")
    assert (meter.balance, meter.unsent, meter.available) == (1000.0, 4.0, 996.0)


def test_a_meter_never_mirrored_is_fetched_on_the_first_read(user, polar):
    Meter.objects.all().delete()
    user.record_usage_many(["api_call"] * 2)
    assert user.meter("API calls").unsent == 2.0  # the very first read counts them
    assert Meter.objects.count() >= 1
    # A meter Polar does not list (deleted there) counts nothing locally.
    customer = user.polar_customer
    customer.data = {**customer.data, "active_meters": [{"meter_id": str(uuid.uuid4())}]}
    customer.save()
    [unknown] = user.meters()
    assert unknown.unsent == 0.0


def test_reading_meters_never_calls_polar_unless_asked(user, polar):
    user.polar_customer.__class__.objects.update(data={}, state_at=None)  # a stale mirror
    assert usage.meters(user) == [] and user.meters() == []
    assert len(usage.meters(user, refresh_state=True)) == 1
