"""The billing API's one error shape, exactly: what a client shows its user and what an
operator finds in the log, for bad input, bad pages, Polar's refusals and Polar's outages.

tests/test_api.py and tests/test_api_schema.py check that each bad request is refused with
the right status and field; these check the words, since a client displays them.
"""

import logging

import pytest
from django.urls import include, path
from rest_framework.test import APIClient

from django_polar.api.views import BillableAPIView, error_body
from django_polar.errors import PolarError, PolarNetworkError
from django_polar.failures import STATE_CONFLICT_MESSAGE, UNAVAILABLE_MESSAGE
from tests.fixtures import polar_fixture, polar_product  # noqa: F401  (the `polar` fixture)
from tests.testapp.models import User


class ProjectEndpoint(BillableAPIView):
    """A project's own endpoint on the app's base view, calling Polar without polar_call."""

    def get(self, request):
        if request.query_params.get("fail") == "network":
            raise PolarNetworkError("connection refused", method="GET", path="/v1/x")
        raise PolarError("something Polar-side")


urlpatterns = [
    path("polar/", include("django_polar.urls")),
    path("api/billing/", include("django_polar.api.urls")),
    path("api/project/", ProjectEndpoint.as_view()),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

API = "/api/billing/"


@pytest.fixture
def polar_emulator_seed():
    return {}


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(User.objects.create_user("ada", "ada@example.com", "pw"))
    return client


@pytest.fixture
def monthly(polar):
    return polar_product("Pro monthly", amount=1000)


def subscribed(api, polar, product) -> str:
    answer = api.post(API + "checkouts/", {"products": [str(product.pk)]}, format="json")
    polar.pay_checkout(answer.json()["id"])
    return api.get(API + "subscriptions/").json()["results"][0]["id"]


@pytest.mark.parametrize("name", ["page", "limit"])
@pytest.mark.parametrize("value", ["0", "-1", "x", "\u0661"])
def test_a_page_or_limit_that_is_not_a_whole_number_from_one_names_itself(api, name, value):
    answer = api.get(f"{API}subscriptions/?{name}={value}")
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "Invalid input.",
        "fields": {name: ["Must be a whole number from 1."]},
    }


def test_page_one_and_a_limit_of_one_are_served(api, polar, monthly):
    subscribed(api, polar, monthly)
    answer = api.get(f"{API}subscriptions/?page=1&limit=1")
    assert answer.status_code == 200, answer.content
    assert answer.json()["count"] == 1 and len(answer.json()["results"]) == 1


def test_a_message_error_is_only_its_detail(api):
    """DRF's own errors (here a 404 for another id) keep their message and get no fields."""
    answer = api.get(f"{API}subscriptions/sub_nope/")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not found."}
    assert APIClient().get(API + "state/").json() == {
        "detail": "Authentication credentials were not provided."
    }


def test_a_refusal_by_polar_is_polars_message_and_no_fields(api, polar, monthly):
    """Polar's 422 for the checkout: its words, as the one detail."""
    answer = api.post(
        API + "checkouts/", {"products": [str(monthly.pk)], "currency": "eur"}, format="json"
    )
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"detail"}
    assert "not available in the specified currency" in body["detail"]


def test_a_url_or_origin_of_another_site_is_refused_in_words(api, polar, monthly, settings):
    settings.ALLOWED_HOSTS = ["testserver", "app.example.com"]

    def refused(**body):
        answer = api.post(
            API + "checkouts/", {"products": [str(monthly.pk)], **body}, format="json"
        )
        assert answer.status_code == 400
        return answer.json()["fields"]

    assert refused(success_url="https://evil.example/thanks") == {
        "success_url": ["Must be a URL on this site."]
    }
    assert refused(return_url="//evil.example/") == {"return_url": ["Must be a URL on this site."]}
    assert refused(embed_origin="https://evil.example") == {
        "embed_origin": ["Must be an origin of this site (a host in ALLOWED_HOSTS)."]
    }


def test_a_polar_outage_says_so_and_logs_which_call_failed(api, polar, monthly, caplog):
    sub_id = subscribed(api, polar, monthly)
    polar.faults.fail_next(count=10, status=503)
    with caplog.at_level(logging.ERROR, logger="django_polar"):
        busy = api.post(f"{API}subscriptions/{sub_id}/cancel/")
    assert busy.status_code == 503 and busy.json() == {"detail": UNAVAILABLE_MESSAGE}
    assert "A billing API call failed: " in caplog.text
    polar.faults.reset()
    polar.faults.fail_next(count=1, status=401)
    down = api.post(f"{API}subscriptions/{sub_id}/cancel/")
    assert down.status_code == 502 and down.json() == {"detail": UNAVAILABLE_MESSAGE}


def test_a_state_conflict_is_logged_as_refused_by_polar(api, polar, monthly, caplog):
    sub_id = subscribed(api, polar, monthly)
    polar.autodeliver = False  # the mirror has not seen the cancellation below
    polar.cancel_subscription(sub_id)
    with caplog.at_level(logging.WARNING, logger="django_polar"):
        answer = api.post(f"{API}subscriptions/{sub_id}/cancel/")
    assert answer.status_code == 409 and answer.json() == {"detail": STATE_CONFLICT_MESSAGE}
    assert "A billing API call refused by Polar: " in caplog.text


@pytest.mark.parametrize("query", ["", "?fail=network"])
def test_a_polar_error_escaping_a_projects_own_endpoint_is_an_api_error_not_a_500(api, query):
    """``BillableAPIView`` subclasses get the API's answer for a Polar failure a view did
    not wrap: its status and the one error body."""
    answer = api.get("/api/project/" + query)
    assert answer.status_code == 502
    assert answer.json() == {"detail": UNAVAILABLE_MESSAGE}


def test_error_bodies_of_every_shape_drf_can_raise():
    """The handler's contract for errors this API's own views do not raise today but a
    project's subclass may: a list, a list of messages under ``detail``, nested fields."""
    assert error_body(["Pick one."]) == {
        "detail": "Invalid input.",
        "fields": {"non_field_errors": ["Pick one."]},
    }
    assert error_body({"detail": ["Too late.", "Try again."]}) == {"detail": "Too late. Try again."}
    assert error_body({"address": {"lines": {0: ["Too long."]}}}) == {
        "detail": "Invalid input.",
        "fields": {"address.lines.0": ["Too long."]},
    }
