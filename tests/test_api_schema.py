"""The billing API's OpenAPI document (drf-spectacular) tells a client generator the truth:
real types, nullability, enums, every status with the one error body; and the views keep it
(bad ``page``/``limit`` are 400s, every error is ``{"detail", "fields"?}``).
scripts/fuzz_api.py proves the same against the running demo with Schemathesis, in CI."""

import pytest
from django.urls import include, path
from rest_framework.test import APIClient

from django_polar.api.openapi import _build_schema
from django_polar.api.serializers import PENDING_UPDATE_SCHEMA, PendingUpdateSerializer
from tests.fixtures import make_customer, make_product, make_subscription
from tests.testapp.models import User

urlpatterns = [path("api/billing/", include("django_polar.api.urls"))]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
API = "/api/billing/"


@pytest.fixture
def schema():
    # Built from the code this test runs, not a document an earlier test cached (the view
    # builds it once per process; mutation testing forks processes with that cache filled).
    _build_schema.cache_clear()
    response = APIClient().get(API + "schema/")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(User.objects.create_user("ada", "ada@example.com", "pw"))
    return client


def prop(schema, component, name):
    return schema["components"]["schemas"][component]["properties"][name]


def ref_name(node):
    refs = [node.get("$ref")] + [n.get("$ref") for n in node.get("allOf", node.get("oneOf", []))]
    return next(r.rsplit("/", 1)[-1] for r in refs if r and not r.endswith("NullEnum"))


def test_fields_have_their_real_types_and_nullability(schema):
    assert prop(schema, "Subscription", "is_valid")["type"] == "boolean"
    assert prop(schema, "Subscription", "on_grace_period")["type"] == "boolean"
    assert prop(schema, "BenefitGrant", "properties")["type"] == "object"
    prices = prop(schema, "Product", "prices")
    assert prices["type"] == "array" and prices["items"]["$ref"].endswith("/Price")
    for component, name in [
        ("BenefitGrant", "subscription_id"),
        ("BenefitGrant", "order_id"),
        ("Order", "subscription_id"),
        ("Subscription", "ends_at"),
    ]:
        assert prop(schema, component, name)["nullable"] is True, (component, name)
    assert "nullable" not in prop(schema, "Subscription", "id")


def test_statuses_intervals_and_prorations_are_enums(schema):
    enums = schema["components"]["schemas"]
    assert ref_name(prop(schema, "Subscription", "status")) == "SubscriptionStatus"
    assert "past_due" in enums["SubscriptionStatus"]["enum"]
    assert ref_name(prop(schema, "Subscription", "recurring_interval")) == "RecurringInterval"
    assert enums["RecurringInterval"]["enum"] == ["day", "week", "month", "year"]
    assert ref_name(prop(schema, "SwapRequest", "proration")) == "Proration"
    assert ref_name(prop(schema, "Order", "status")) == "OrderStatus"


def test_every_operation_has_an_id_a_tag_and_its_error_statuses(schema):
    operations = {
        (method, p): op for p, item in schema["paths"].items() for method, op in item.items()
    }
    ids = [op["operationId"] for op in operations.values()]
    assert len(set(ids)) == len(ids)
    cancel = operations[("post", API + "subscriptions/{id}/cancel/")]
    assert cancel["operationId"] == "cancelSubscription"
    assert {"200", "404", "409", "503"} <= set(cancel["responses"]) and "201" not in cancel[
        "responses"
    ]
    for (method, p), op in operations.items():
        assert op["tags"], p
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (method, p, status)
    listing = operations[("get", API + "subscriptions/")]
    assert {"400", "404"} <= set(listing["responses"])
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1}


def test_requests_state_what_is_accepted_with_examples(schema):
    swap = schema["components"]["schemas"]["SwapRequest"]["properties"]["product"]
    assert swap["minLength"] == 1  # {"product": ""} breaks the schema, and is refused
    checkout = schema["paths"][API + "checkouts/"]["post"]["requestBody"]["content"]
    assert list(checkout) == ["application/json"]
    assert checkout["application/json"]["examples"]


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "x"},
        {"limit": "0"},
        {"page": "two"},
        {"page": "-1"},
        {"limit": "1.5"},
        {"page": "0"},
    ],
)
def test_a_bad_page_or_limit_is_a_400_naming_it(api, query):
    response = api.get(API + "subscriptions/", query)
    assert response.status_code == 400
    [name] = query
    assert response.json()["detail"] == "Invalid input."
    assert list(response.json()["fields"]) == [name]


def test_a_page_past_the_last_is_the_apis_json_404(api):
    response = api.get(API + "orders/", {"page": 5})
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


def test_every_error_has_the_one_shape(api):
    customer = make_customer(User.objects.get(username="ada"))
    sub = make_subscription(customer, make_product(), status="canceled")
    answers = [
        api.post(f"{API}subscriptions/{sub.pk}/cancel/"),  # 409
        api.post(f"{API}subscriptions/{sub.pk}/swap/", {"product": ""}, format="json"),  # 400
        api.post(f"{API}checkouts/", {"products": [["x"]]}, format="json"),  # nested 400
        api.post(f"{API}portal/", "return_url=/", content_type="application/x-www-form-urlencoded"),
        APIClient().get(API + "state/"),  # 403
        api.get(API + "orders/nope/"),  # 404
    ]
    assert [r.status_code for r in answers] == [409, 400, 400, 415, 403, 404]
    for response in answers:
        body = response.json()
        assert isinstance(body["detail"], str) and set(body) <= {"detail", "fields"}
        for messages in body.get("fields", {}).values():
            assert messages and all(isinstance(m, str) for m in messages)
    assert answers[1].json()["fields"] == {"product": ["This field may not be blank."]}
    assert list(answers[2].json()["fields"]) == ["products.0"]


def test_request_strings_say_they_take_no_nul_and_the_api_refuses_one(api, schema):
    """DRF refuses NUL in every string (PostgreSQL cannot store it): the schema says so."""
    components = schema["components"]["schemas"]
    for name, field in [
        ("LicenseKeyActivate", "key"),
        ("LicenseKeyActivate", "label"),
        ("SwapRequest", "product"),
        ("PortalRequest", "return_url"),
        ("CheckoutRequest", "success_url"),
    ]:
        assert components[name]["properties"][field]["pattern"] == "^[^\\x00]*$", (name, field)
    assert components["CheckoutRequest"]["properties"]["products"]["items"]["pattern"]
    # Responses are not requests: their strings stay unconstrained.
    assert "pattern" not in components["Subscription"]["properties"]["currency"]
    answer = api.post(
        API + "license-keys/activate/", {"key": "A\x00B", "label": "laptop"}, format="json"
    )
    assert answer.status_code == 400
    assert list(answer.json()["fields"]) == ["key"]


@pytest.mark.parametrize("value", [0, 1.5, True, ["/billing/"], {"url": "/"}])
def test_a_string_field_refuses_what_is_not_a_string(api, value):
    """``type: string`` in the schema: ``{"return_url": 0}`` is a 400, not read as ``"0"``."""
    make_customer(User.objects.get(username="ada"))
    answer = api.post(API + "portal/", {"return_url": value}, format="json")
    assert answer.status_code == 400
    assert answer.json()["fields"] == {"return_url": ["Not a valid string."]}


def test_the_checkout_options_are_in_the_schema(schema):
    components = schema["components"]["schemas"]
    body = components["CheckoutRequest"]["properties"]
    for name in ("currency", "locale", "tax_id", "business_name", "min_seats", "max_seats"):
        assert name in body, name
    assert ref_name(body["billing_address"]) == "BillingAddress"
    assert components["BillingAddress"]["required"] == ["country"]
    assert body["upgrade_subscription"]["format"] == "uuid"
    values = body["custom_field_data"]["additionalProperties"]
    assert [v["type"] for v in values["oneOf"]] == ["string", "integer", "boolean"]
    assert values["nullable"] is True
    # Free text takes no NUL, like every request string (main's hook applies to ours).
    assert body["tax_id"]["pattern"] == "^[^\\x00]*$"
    assert values["oneOf"][0]["pattern"] == "^[^\\x00]*$"


@pytest.mark.parametrize("value", [1.5, ["a"], {"a": 1}, "A\x00B"])
def test_a_custom_field_value_is_a_string_integer_or_boolean(api, value):
    answer = api.post(
        API + "checkouts/",
        {"products": ["pro"], "custom_field_data": {"company": value}},
        format="json",
    )
    assert answer.status_code == 400
    assert "custom_field_data.company" in answer.json()["fields"]


def test_a_blank_or_padded_license_key_is_no_such_key_not_a_schema_breaking_400(api):
    """``minLength: 1`` admits ``" "``: the API answers it as an unknown key (404), and a
    pasted key with a stray newline is the key."""
    blank = api.post(API + "license-keys/activate/", {"key": " ", "label": "x"}, format="json")
    assert blank.status_code == 404
    assert blank.json() == {"detail": "No such license key."}


def test_the_written_out_pending_update_schema_matches_its_serializer(schema):
    """``PENDING_UPDATE_SCHEMA`` is hand-written beside ``PendingUpdateSerializer``: a
    field added to (or made nullable in) one and not the other fails here, before a
    client generator reads a schema that is not what the API answers."""
    fields = PendingUpdateSerializer().fields
    written = PENDING_UPDATE_SCHEMA["properties"]
    assert set(written) == set(fields)
    assert set(PENDING_UPDATE_SCHEMA["required"]) == set(fields)
    for name, field in fields.items():
        assert written[name].get("nullable", False) == field.allow_null, name
    served = prop(schema, "Subscription", "pending_update")
    assert set(served["properties"]) == set(fields)


def test_every_listing_documents_page_and_limit_as_the_views_read_them(schema):
    """Both optional, whole numbers from 1, the limit's default and cap in its words: what
    a generated client offers and checks before it sends a request."""
    expected = [
        {
            "name": "page",
            "required": False,
            "in": "query",
            "description": "Page number, from 1.",
            "schema": {"type": "integer", "minimum": 1},
        },
        {
            "name": "limit",
            "required": False,
            "in": "query",
            "description": "Results per page (default 20; more than 100 is capped at 100).",
            "schema": {"type": "integer", "minimum": 1},
        },
    ]
    listings = [
        operation
        for item in schema["paths"].values()
        for operation in item.values()
        if operation.get("operationId", "").startswith("list")
    ]
    assert len(listings) >= 3
    for operation in listings:
        paged = [p for p in operation.get("parameters", []) if p["name"] in ("page", "limit")]
        assert sorted(paged, key=lambda p: p["name"] != "page") == expected, operation[
            "operationId"
        ]
