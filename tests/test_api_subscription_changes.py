"""The billing API's subscription changes beyond cancel/resume/swap: a cancel with the
customer's reason and comment, pause at period end and resume, and the state a client
shows (scheduled change, pause, dunning), each answer checked against the OpenAPI schema.
Against the emulator, with its signed webhooks through the real webhook view."""

from datetime import timedelta

import pytest
from django.urls import include, path
from openapi_schema_validator import OAS30Validator
from rest_framework.test import APIClient

from django_polar.models import Subscription
from tests.fixtures import polar_fixture, polar_product  # noqa: F401  (the `polar` fixture)
from tests.test_api import inline_refs
from tests.testapp.models import User

urlpatterns = [
    path("polar/", include("django_polar.urls")),  # the webhook view
    path("api/billing/", include("django_polar.api.urls")),
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
API = "/api/billing/"


@pytest.fixture
def polar_emulator_seed():
    return {}


@pytest.fixture
def ada():
    return User.objects.create_user("ada", "ada@example.com", "pw")


@pytest.fixture
def api(ada):
    client = APIClient()
    client.force_authenticate(ada)
    return client


@pytest.fixture
def schema():
    return APIClient().get(API + "schema/").json()


@pytest.fixture
def sub_id(api, polar):
    product = polar_product("Pro monthly", amount=1000)
    response = api.post(API + "checkouts/", {"products": [str(product.pk)]}, format="json")
    polar.pay_checkout(response.json()["id"])
    polar.deliver()
    return api.get(API + "subscriptions/").json()["results"][0]["id"]


def checked(schema, response, path, method="post"):
    documented = schema["paths"][API + path][method]["responses"]
    assert str(response.status_code) in documented, (path, response.status_code)
    body = documented[str(response.status_code)]["content"]["application/json"]["schema"]
    OAS30Validator(inline_refs(body, schema["components"]["schemas"])).validate(response.json())
    return response.json()


def test_cancel_with_the_customer_s_reason_and_comment(api, schema, sub_id):
    body = {"reason": "missing_features", "comment": "No offline mode."}
    response = api.post(f"{API}subscriptions/{sub_id}/cancel/", body, format="json")
    sub = checked(schema, response, "subscriptions/{id}/cancel/")
    assert sub["cancel_at_period_end"] is True
    assert sub["customer_cancellation_reason"] == "missing_features"
    assert sub["customer_cancellation_comment"] == "No offline mode."
    assert Subscription.objects.get(pk=sub_id).customer_cancellation_reason == "missing_features"


def test_a_reason_outside_polar_s_list_is_a_400_and_polar_is_not_asked(api, schema, sub_id):
    response = api.post(f"{API}subscriptions/{sub_id}/cancel/", {"reason": "meh"}, format="json")
    error = checked(schema, response, "subscriptions/{id}/cancel/")
    assert response.status_code == 400 and "reason" in error["fields"]
    assert not Subscription.objects.get(pk=sub_id).cancel_at_period_end


def test_cancel_without_a_body_still_works(api, sub_id):
    response = api.post(f"{API}subscriptions/{sub_id}/cancel/")
    assert response.status_code == 200 and response.json()["customer_cancellation_reason"] == ""


def test_pause_then_resume_calls_it_off(api, schema, polar, sub_id):
    period_end = Subscription.objects.get(pk=sub_id).current_period_end
    resumes = (period_end + timedelta(days=30)).isoformat()
    response = api.post(
        f"{API}subscriptions/{sub_id}/pause/", {"resumes_at": resumes}, format="json"
    )
    sub = checked(schema, response, "subscriptions/{id}/pause/")
    assert sub["pause_at_period_end"] is True and sub["resumes_at"] is not None
    again = api.post(f"{API}subscriptions/{sub_id}/pause/")
    assert checked(schema, again, "subscriptions/{id}/pause/")["detail"]
    assert again.status_code == 409
    sub = checked(
        schema, api.post(f"{API}subscriptions/{sub_id}/resume/"), "subscriptions/{id}/resume/"
    )
    assert sub["pause_at_period_end"] is False and sub["resumes_at"] is None


def test_a_resumes_at_polar_refuses_is_its_error_not_a_500(api, schema, sub_id):
    period_end = Subscription.objects.get(pk=sub_id).current_period_end
    body = {"resumes_at": (period_end - timedelta(days=1)).isoformat()}
    response = api.post(f"{API}subscriptions/{sub_id}/pause/", body, format="json")
    error = checked(schema, response, "subscriptions/{id}/pause/")
    assert response.status_code == 400 and "after the current period end" in str(error)
    assert not Subscription.objects.get(pk=sub_id).pause_at_period_end


def test_a_paused_subscription_shows_and_resumes(api, schema, polar, sub_id):
    api.post(f"{API}subscriptions/{sub_id}/pause/")
    polar.clock.advance(days=32)
    sub = checked(schema, api.get(f"{API}subscriptions/{sub_id}/"), "subscriptions/{id}/", "get")
    assert sub["status"] == "paused" and sub["paused_at"] and sub["is_valid"] is False
    sub = checked(
        schema, api.post(f"{API}subscriptions/{sub_id}/resume/"), "subscriptions/{id}/resume/"
    )
    assert sub["status"] == "active" and sub["is_valid"] is True


def test_a_scheduled_change_and_dunning_state_are_shown(api, schema, polar, sub_id):
    yearly = polar_product("Pro yearly", amount=10000, recurring="year")
    swap = {"product": str(yearly.pk), "proration": "next_period"}
    sub = checked(
        schema,
        api.post(f"{API}subscriptions/{sub_id}/swap/", swap, format="json"),
        "subscriptions/{id}/swap/",
    )
    assert sub["pending_update"]["product_id"] == str(yearly.pk)
    assert sub["next_payment_attempt_at"] is None and sub["past_due_at"] is None
    Subscription.objects.get(pk=sub_id).clear_pending_update()
    polar.fail_next_renewal(sub_id)
    polar.clock.advance(days=32)
    sub = checked(schema, api.get(f"{API}subscriptions/{sub_id}/"), "subscriptions/{id}/", "get")
    assert sub["status"] == "past_due" and sub["pending_update"] is None
    assert sub["past_due_at"] and sub["next_payment_attempt_at"] > sub["past_due_at"]


def test_the_cancel_comment_is_a_string_without_nul(api, schema, sub_id):
    comment = schema["components"]["schemas"]["CancelRequest"]["properties"]["comment"]
    assert comment["pattern"] == "^[^\\x00]*$"
    for bad in ("no\x00pe", 7):
        response = api.post(f"{API}subscriptions/{sub_id}/cancel/", {"comment": bad}, format="json")
        assert response.status_code == 400 and list(response.json()["fields"]) == ["comment"]
    assert not Subscription.objects.get(pk=sub_id).cancel_at_period_end


@pytest.mark.parametrize("action", ["cancel", "pause"])
def test_a_json_null_body_is_a_400_as_the_schema_says(api, sub_id, action):
    """The body is optional, but when sent it is an object (Schemathesis found ``null``)."""
    response = api.post(
        f"{API}subscriptions/{sub_id}/{action}/", "null", content_type="application/json"
    )
    assert response.status_code == 400
    sub = Subscription.objects.get(pk=sub_id)
    assert not sub.cancel_at_period_end and not sub.pause_at_period_end
