"""Meters and credits against the emulator, through the real webhook view: balances from
the mirrored customer state, local usage counted until Polar's state includes it, and the
gates (decorator, view mixin, DRF permission) that Polar itself does not enforce."""

from __future__ import annotations

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
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
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
    # What the billing API and the agents' tools show of it.
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
