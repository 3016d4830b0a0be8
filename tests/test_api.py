"""The DRF billing API (``django_polar.api``) driven like an SPA would, against the emulator.

Checkouts are paid on the emulated Polar, whose signed webhooks go through the real webhook
view; the API must then show exactly the requester's own billing state, and nothing more.
"""

import uuid
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from django_polar.api.serializers import VISIBLE_GRANT_PROPERTIES
from django_polar.client import get_client, use_transport
from django_polar.failures import STATE_CONFLICT_MESSAGE
from django_polar.models import Price, Subscription
from tests.fixtures import (  # noqa: F401  (the `polar` fixture)
    make_customer,
    make_grant,
    make_order,
    make_product,
    make_subscription,
    polar_fixture,
    polar_product,
)
from tests.testapp.models import User

urlpatterns = [
    path("polar/", include("django_polar.urls")),
    path("api/billing/", include("django_polar.api.urls")),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

API = "/api/billing/"


@pytest.fixture
def polar_emulator_seed():
    """Start from an empty organization; each test makes the catalog it needs."""
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
def catalog(polar):
    return {
        "monthly": polar_product("Pro monthly", amount=1000),
        "yearly": polar_product("Pro yearly", amount=10000, recurring="year"),
        "lifetime": polar_product("Lifetime", amount=25000, recurring=None),
    }


def buy(api, polar, product) -> dict:
    """Create a checkout through the API and pay it on the emulated hosted page."""
    response = api.post(API + "checkouts/", {"products": [str(product.pk)]}, format="json")
    assert response.status_code == 201, response.content
    polar.pay_checkout(response.json()["id"])
    return response.json()


def test_full_subscription_lifecycle_through_the_api(api, polar, catalog, ada):
    state = api.get(API + "state/").json()
    assert state["customer"] is None and state["subscribed"] is False

    checkout = buy(api, polar, catalog["monthly"])
    assert checkout["url"].startswith("http")
    assert polar.checkout(checkout["id"])["external_customer_id"] == f"testapp.user:{ada.pk}"

    state = api.get(API + "state/").json()
    assert state["subscribed"] is True
    assert state["customer"]["email"] == "ada@example.com"
    [sub] = state["subscriptions"]
    assert sub["product"]["name"] == "Pro monthly" and sub["status"] == "active"

    listing = api.get(API + "subscriptions/").json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == sub["id"]

    [order] = api.get(API + "orders/").json()["results"]
    assert order["paid"] is True and order["total_amount"] == 1000 and order["currency"] == "usd"
    polar.clock.freeze()
    invoice = api.get(order["invoice_url"])
    assert invoice.status_code == 202, invoice.content  # Polar renders it in a worker
    assert invoice.json() == {"url": None, "status": "generating"}
    polar.clock.advance(seconds=1)
    invoice = api.get(order["invoice_url"])
    assert invoice.status_code == 200, invoice.content
    assert invoice.json()["status"] == "ready"
    assert invoice.json()["url"].startswith("http")

    canceled = api.post(f"{API}subscriptions/{sub['id']}/cancel/").json()
    assert canceled["cancel_at_period_end"] is True and canceled["on_grace_period"] is True
    assert canceled["is_valid"] is True  # access lasts until the period ends
    again = api.post(f"{API}subscriptions/{sub['id']}/cancel/")
    assert again.status_code == 409

    resumed = api.post(f"{API}subscriptions/{sub['id']}/resume/").json()
    assert resumed["cancel_at_period_end"] is False and resumed["on_grace_period"] is False

    swapped = api.post(
        f"{API}subscriptions/{sub['id']}/swap/",
        {"product": str(catalog["yearly"].pk)},
        format="json",
    )
    assert swapped.status_code == 200, swapped.content
    assert swapped.json()["product"]["name"] == "Pro yearly"
    assert Subscription.objects.get(pk=sub["id"]).product_id == catalog["yearly"].pk

    portal = api.post(API + "portal/", {"return_url": "/account/"}, format="json")
    assert portal.status_code == 201
    assert portal.json()["url"].startswith("http")


def test_one_time_purchase_shows_as_an_order_not_a_subscription(api, polar, catalog):
    buy(api, polar, catalog["lifetime"])
    state = api.get(API + "state/").json()
    assert state["subscribed"] is False and state["subscriptions"] == []
    [order] = api.get(API + "orders/").json()["results"]
    assert order["product"]["name"] == "Lifetime" and order["subscription_id"] is None


@pytest.fixture
def licensed(polar):
    """A monthly plan that grants a license key (so a benefit grant exists to leak)."""
    from django_polar import mirror
    from django_polar.client import get_client

    ids = polar.seed({
        "benefits": [{"key": "key", "type": "license_keys", "description": "License key",
                      "properties": {"prefix": "NOTES", "activations": {"limit": 2}}}],
        "products": [{"key": "desktop", "name": "Desktop app", "recurring_interval": "month",
                      "prices": [{"amount": 900, "currency": "usd"}], "benefits": ["key"]}],
    })  # fmt: skip
    mirror.upsert_benefit(get_client().get_benefit(ids["key"]))
    return mirror.upsert_product(get_client().get_product(ids["desktop"]))


def test_another_customer_sees_and_touches_nothing_of_yours(api, polar, catalog, licensed):
    buy(api, polar, licensed)
    polar.deliver()
    sub_id = api.get(API + "subscriptions/").json()["results"][0]["id"]
    order_id = api.get(API + "orders/").json()["results"][0]["id"]
    assert api.get(API + "benefits/").json()["count"] == 1  # ada's own license key
    assert api.get(f"{API}orders/{order_id}/").status_code == 200

    eve = APIClient()
    eve.force_authenticate(User.objects.create_user("eve", "eve@example.com", "pw"))
    buy(eve, polar, catalog["lifetime"])  # eve has billing of her own: empty is scoping
    [eves_order] = eve.get(API + "orders/").json()["results"]
    assert eves_order["id"] != order_id and eves_order["product"]["name"] == "Lifetime"
    state = eve.get(API + "state/").json()
    assert state["customer"]["email"] == "eve@example.com"
    assert state["subscribed"] is False
    assert state["subscriptions"] == [] and state["benefits"] == []
    assert eve.get(API + "subscriptions/").json()["count"] == 0
    assert eve.get(API + "benefits/").json()["count"] == 0
    yearly = str(catalog["yearly"].pk)
    for method, url, body in [
        ("get", f"subscriptions/{sub_id}/", None),
        ("post", f"subscriptions/{sub_id}/cancel/", None),
        ("post", f"subscriptions/{sub_id}/resume/", None),
        ("post", f"subscriptions/{sub_id}/swap/", {"product": yearly}),
        ("get", f"orders/{order_id}/", None),
        ("get", f"orders/{order_id}/invoice/", None),
    ]:
        response = getattr(eve, method)(API + url, body, format="json")
        assert response.status_code == 404, (url, response.content)
        assert list(response.json()) == ["detail"]  # the API's JSON 404, nothing of ada's
    mine = Subscription.objects.get(pk=sub_id)
    assert mine.cancel_at_period_end is False and mine.product_id == licensed.pk
    assert polar.store.subscriptions[sub_id]["cancel_at_period_end"] is False


def test_anonymous_requests_are_refused(polar, catalog):
    anonymous = APIClient()
    for url in ("state/", "subscriptions/", "orders/", "benefits/", "products/"):
        assert anonymous.get(API + url).status_code in (401, 403), url
    response = anonymous.post(
        API + "checkouts/", {"products": [str(catalog["monthly"].pk)]}, format="json"
    )
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"products": ["no-such-slug"]}, "products"),
        ({"products": [str(uuid.uuid4())]}, "products"),
        ({"products": []}, "products"),
        ({"products": "MONTHLY", "seats": 0}, "seats"),
        ({"products": "MONTHLY", "success_url": "https://evil.example/phish"}, "success_url"),
        ({"products": "MONTHLY", "return_url": "//evil.example/"}, "return_url"),
    ],
)
def test_bad_checkout_requests_get_a_clear_400(api, polar, catalog, body, field):
    if body["products"] == "MONTHLY":
        body = {**body, "products": [str(catalog["monthly"].pk)]}
    response = api.post(API + "checkouts/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_archived_products_cannot_be_bought(api, polar, catalog):
    catalog["monthly"].is_archived = True
    catalog["monthly"].save()
    response = api.post(
        API + "checkouts/", {"products": [str(catalog["monthly"].pk)]}, format="json"
    )
    assert response.status_code == 400


def test_swap_rejects_one_time_unknown_and_same_products(api, polar, catalog):
    buy(api, polar, catalog["monthly"])
    sub_id = api.get(API + "subscriptions/").json()["results"][0]["id"]
    for target in (catalog["lifetime"].pk, catalog["monthly"].pk, uuid.uuid4(), "nonsense"):
        response = api.post(
            f"{API}subscriptions/{sub_id}/swap/", {"product": str(target)}, format="json"
        )
        assert response.status_code == 400, (target, response.content)
    assert api.post(f"{API}subscriptions/not-a-uuid/cancel/").status_code == 404


def test_polar_outage_is_a_503_with_retry_after_and_changes_nothing(api, polar, catalog):
    buy(api, polar, catalog["monthly"])
    sub_id = api.get(API + "subscriptions/").json()["results"][0]["id"]
    polar.faults.fail_next(count=10, status=503)
    response = api.post(f"{API}subscriptions/{sub_id}/cancel/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert "token" not in response.content.decode().lower()
    polar.faults.reset()
    assert Subscription.objects.get(pk=sub_id).cancel_at_period_end is False


def test_responses_expose_only_what_a_customer_may_see(api, polar, catalog):
    buy(api, polar, catalog["monthly"])
    sub = api.get(API + "subscriptions/").json()["results"][0]
    order = api.get(API + "orders/").json()["results"][0]
    for hidden in ("data", "metadata", "customer", "checkout_id", "discount_id"):
        assert hidden not in sub, hidden
        assert hidden not in order, hidden


def test_pagination_follows_polars_page_and_limit(api, polar, catalog):
    for _ in range(3):
        buy(api, polar, catalog["lifetime"])
    first = api.get(API + "orders/", {"limit": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["next"]
    second = api.get(API + "orders/", {"limit": 2, "page": 2}).json()
    assert len(second["results"]) == 1
    ids = {o["id"] for o in first["results"]} | {o["id"] for o in second["results"]}
    assert len(ids) == 3


def inline_refs(node, components):
    """The schema with every ``$ref`` replaced by its target; objects closed to fields the
    document does not declare (a response with an undocumented field fails too)."""
    if isinstance(node, list):
        return [inline_refs(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return inline_refs(components[node["$ref"].rsplit("/", 1)[-1]], components)
    out = {key: inline_refs(value, components) for key, value in node.items()}
    if "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def test_openapi_schema_is_valid_and_mounted_under_the_include(api):
    response = APIClient().get(API + "schema/")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)  # raises on an invalid OpenAPI document
    assert schema["info"]["title"] == "django-polar billing API"
    assert "/api/billing/subscriptions/{id}/cancel/" in schema["paths"]
    assert "/api/billing/checkouts/" in schema["paths"]
    checkout_201 = schema["paths"]["/api/billing/checkouts/"]["post"]["responses"]
    assert any("CheckoutResponse" in str(v) for v in checkout_201.values())


def test_every_answer_of_the_api_matches_its_openapi_schema(api, polar, catalog, licensed):
    schema = APIClient().get(API + "schema/").json()
    components = schema["components"]["schemas"]

    def check(response, path, method="get"):
        status = str(response.status_code)
        documented = schema["paths"][API + path][method]["responses"]
        assert status in documented, (path, status, response.content)
        body = documented[status]["content"]["application/json"]["schema"]
        OAS30Validator(inline_refs(body, components)).validate(response.json())
        return response.json()

    checkout = check(
        api.post(API + "checkouts/", {"products": [str(licensed.pk)]}, format="json"),
        "checkouts/",
        "post",
    )
    polar.pay_checkout(checkout["id"])
    polar.deliver()
    state = check(api.get(API + "state/"), "state/")
    assert state["subscriptions"] and state["benefits"]  # the nested objects were checked
    assert check(api.get(API + "products/"), "products/")["results"]
    assert check(api.get(API + "benefits/"), "benefits/")["results"]
    [sub] = check(api.get(API + "subscriptions/"), "subscriptions/")["results"]
    check(api.get(f"{API}subscriptions/{sub['id']}/"), "subscriptions/{id}/")
    check(api.post(f"{API}subscriptions/{sub['id']}/cancel/"), "subscriptions/{id}/cancel/", "post")
    check(api.post(f"{API}subscriptions/{sub['id']}/resume/"), "subscriptions/{id}/resume/", "post")
    swapped = api.post(
        f"{API}subscriptions/{sub['id']}/swap/",
        {"product": str(catalog["yearly"].pk)},
        format="json",
    )
    check(swapped, "subscriptions/{id}/swap/", "post")
    # the purchase, and the swap's invoice (an interval change bills at once on Polar)
    orders = check(api.get(API + "orders/"), "orders/")["results"]
    assert len(orders) == 2
    order = orders[0]
    check(api.get(f"{API}orders/{order['id']}/"), "orders/{id}/")
    check(api.get(f"{API}orders/{order['id']}/invoice/"), "orders/{id}/invoice/")
    check(api.post(API + "portal/", {}, format="json"), "portal/", "post")


RESOLVED: list[object] = []


def counting_resolver(request):
    """The default rule (the logged-in user), counting how often it is asked."""
    RESOLVED.append(request)
    user = request.user
    return user if user.is_authenticated else None


@pytest.mark.parametrize("url", ["state/", "subscriptions/", "orders/", "benefits/"])
def test_the_billable_is_resolved_once_per_request(api, polar, settings, url):
    settings.POLAR = {**settings.POLAR, "BILLABLE_RESOLVER": "tests.test_api.counting_resolver"}
    RESOLVED.clear()
    assert api.get(API + url).status_code == 200
    assert len(RESOLVED) == 1


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "https://app.example.com.evil.example", "javascript:alert(1)",
     "https://user@app.example.com", "https://app.example.com/path"],
)  # fmt: skip
def test_checkout_embed_origin_must_be_a_host_of_this_site(api, polar, catalog, settings, origin):
    settings.ALLOWED_HOSTS = ["testserver", "app.example.com"]
    body = {"products": [str(catalog["monthly"].pk)], "embed_origin": origin}
    response = api.post(API + "checkouts/", body, format="json")
    assert response.status_code == 400
    assert "embed_origin" in response.json()["fields"]
    assert polar.store.checkouts == {}


def test_checkout_embed_origin_of_an_allowed_host_or_the_requests_own(
    api, polar, catalog, settings
):
    settings.ALLOWED_HOSTS = ["testserver", ".example.com"]
    product = str(catalog["monthly"].pk)
    body = {"products": [product], "embed_origin": "https://app.example.com:8443"}
    response = api.post(API + "checkouts/", body, format="json")
    assert response.status_code == 201, response.content
    assert polar.checkout(response.json()["id"])["embed_origin"] == "https://app.example.com:8443"
    response = api.post(API + "checkouts/", {"products": [product]}, format="json")
    assert polar.checkout(response.json()["id"])["embed_origin"] == "http://testserver"


def test_state_names_the_meters_of_metered_prices(api, polar):
    from django_polar import mirror
    from django_polar.client import get_client

    ids = polar.seed({
        "meters": [{"key": "calls", "name": "API calls", "event": "api_call",
                    "aggregation": "count"}],
        "products": [{"key": "api", "name": "API", "recurring_interval": "month",
                      "prices": [{"amount": 500, "currency": "usd"},
                                 {"type": "metered_unit", "meter": "calls", "unit_amount": "0.5"}]}],
    })  # fmt: skip
    product = mirror.upsert_product(get_client().get_product(ids["api"]))
    buy(api, polar, product)
    polar.deliver()
    meters = api.get(API + "state/").json()["meters"]
    assert [(m["meter_id"], m["name"]) for m in meters] == [(ids["calls"], "API calls")]


def test_portal_of_another_user_is_never_opened(api, polar, ada):
    bob = User.objects.create_user("bob", "bob@example.com", "pw")
    bobs_customer = bob.get_or_create_polar_customer()
    body = {
        "customer_id": str(bobs_customer.pk),
        "external_customer_id": f"testapp.user:{bob.pk}",
        "return_url": "/account/",
    }
    response = api.post(API + "portal/", body, format="json")
    assert response.status_code == 201, response.content
    adas_customer = ada.polar_customer
    assert adas_customer is not None and adas_customer.pk != bobs_customer.pk
    sessions = list(polar.store.customer_sessions.values())
    assert sessions and {s["customer_id"] for s in sessions} == {str(adas_customer.pk)}
    token = response.json()["url"].rstrip("/").rsplit("/", 1)[-1]
    assert polar.customer_session(token)["customer_id"] == str(adas_customer.pk)
    assert polar.customer_session(token)["return_url"] == "http://testserver/account/"
    refused = api.post(API + "portal/", {"return_url": "https://evil.example/"}, format="json")
    assert refused.status_code == 400 and "return_url" in refused.json()["fields"]
    assert len(polar.store.customer_sessions) == 1  # nothing was asked of Polar


def keys_anywhere(value) -> set[str]:
    """Every dict key at any depth of a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_anywhere(v)}
    return set()


def test_benefits_and_state_expose_only_the_allowed_grant_properties(api, polar):
    from django_polar import mirror
    from django_polar.client import get_client

    ids = polar.seed({
        "benefits": [{"key": "key", "type": "license_keys", "description": "License key",
                      "properties": {"prefix": "NOTES", "activations": {"limit": 2}}}],
        "products": [{"key": "desktop", "name": "Desktop app", "recurring_interval": "month",
                      "prices": [{"amount": 900, "currency": "usd"}], "benefits": ["key"]}],
    })  # fmt: skip
    mirror.upsert_benefit(get_client().get_benefit(ids["key"]))
    product = mirror.upsert_product(get_client().get_product(ids["desktop"]))
    buy(api, polar, product)
    polar.deliver()
    allowed = set(VISIBLE_GRANT_PROPERTIES["license_keys"])

    benefits = api.get(API + "benefits/").json()
    [grant] = benefits["results"]
    assert grant["benefit"]["type"] == "license_keys"
    assert grant["properties"], "the customer must see their license key"
    assert set(grant["properties"]) <= allowed
    assert grant["properties"]["display_key"].startswith("****")  # never the full key

    state = api.get(API + "state/").json()
    [state_grant] = state["benefits"]
    assert set(state_grant["properties"]) <= allowed
    for response in (benefits, state):
        exposed = keys_anywhere(response)
        assert not exposed & {"data", "metadata", "user_metadata", "key"}, exposed


def no_billable(request):
    """A resolver for a user who belongs to no billing account (e.g. a team-less member)."""
    return None


def test_a_user_without_a_billable_is_refused_by_the_access_permission(api, polar, settings):
    from django_polar.api.permissions import HasBillable

    settings.POLAR = {**settings.POLAR, "BILLABLE_RESOLVER": "tests.test_api.no_billable"}
    for url in ("state/", "subscriptions/", "orders/", "benefits/"):
        response = api.get(API + url)
        assert response.status_code == 403, url
        assert response.json()["detail"] == HasBillable.message


class CountingTransport(httpx.BaseTransport):
    """The emulator's transport, recording each request the app sends to Polar."""

    def __init__(self, polar) -> None:
        self.inner = polar.transport()
        self.requests: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)


@pytest.fixture
def polar_calls(polar):
    """The requests sent to Polar while the test runs."""
    counting = CountingTransport(polar)
    with use_transport(counting):
        yield counting.requests


def test_state_lists_only_the_subscriptions_that_grant_access_now(api, ada):
    customer = make_customer(ada)
    running = make_subscription(customer, make_product("Pro"))
    make_subscription(customer, make_product("Old plan"), status="canceled")
    make_subscription(customer, make_product("Expired"), ends_in=timedelta(days=-1))
    state = api.get(API + "state/").json()
    assert [sub["id"] for sub in state["subscriptions"]] == [str(running.pk)]
    assert state["subscribed"] is True
    assert api.get(API + "subscriptions/").json()["count"] == 3  # the list shows them all


def test_cancel_of_an_ended_subscription_is_a_409_without_asking_polar(api, ada, polar_calls):
    ended = make_subscription(make_customer(ada), make_product(), status="canceled")
    response = api.post(f"{API}subscriptions/{ended.pk}/cancel/")
    assert response.status_code == 409
    assert "running subscription" in response.json()["detail"]
    assert polar_calls == []


@pytest.mark.parametrize(
    "ends_in", [None, timedelta(days=5)], ids=["no end", "an end ahead but not canceled"]
)
def test_resume_of_a_subscription_that_is_not_canceled_is_a_409_without_asking_polar(
    api, ada, polar_calls, ends_in
):
    running = make_subscription(make_customer(ada), make_product(), ends_in=ends_in)
    assert not running.on_grace_period()
    assert not Subscription.objects.on_grace_period().exists()
    response = api.post(f"{API}subscriptions/{running.pk}/resume/")
    assert response.status_code == 409
    assert "canceled at period end" in response.json()["detail"]
    assert polar_calls == []


def test_a_page_never_holds_more_than_polars_limit_of_100(api, ada):
    customer = make_customer(ada)
    product = make_product()
    for _ in range(101):
        make_subscription(customer, product)
    page = api.get(API + "subscriptions/", {"limit": 1000}).json()
    assert page["count"] == 101 and len(page["results"]) == 100 and page["next"]
    assert len(api.get(API + "subscriptions/").json()["results"]) == 20  # the default


@pytest.mark.parametrize("field", ["embed_origin", "success_url", "return_url"])
@pytest.mark.parametrize("value", ["http://[", "https://[::1", "http://]x["])
def test_an_unparsable_url_is_a_400_not_a_500(api, polar, catalog, field, value):
    body = {"products": [str(catalog["monthly"].pk)], field: value}
    response = api.post(API + "checkouts/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert polar.store.checkouts == {}


def test_polar_refusing_a_change_our_mirror_had_not_seen_is_a_409(api, polar, catalog):
    buy(api, polar, catalog["monthly"])
    sub_id = api.get(API + "subscriptions/").json()["results"][0]["id"]
    polar.autodeliver = False  # the webhook of the next change has not arrived yet
    polar.cancel_subscription(sub_id)  # canceled in Polar (e.g. in the customer portal)
    assert Subscription.objects.get(pk=sub_id).cancel_at_period_end is False  # stale mirror
    response = api.post(f"{API}subscriptions/{sub_id}/cancel/")
    assert response.status_code == 409, response.content  # not "could not be reached"
    assert response.json() == {"detail": STATE_CONFLICT_MESSAGE}
    polar.autodeliver = True
    polar.deliver()
    assert Subscription.objects.get(pk=sub_id).cancel_at_period_end is True


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "subscriptions/a.b/"),
        ("post", "subscriptions/a.b/cancel/"),
        ("post", "subscriptions/a.b/resume/"),
        ("post", "subscriptions/a.b/swap/"),
        ("get", "orders/a.b/"),
        ("get", "orders/a.b/invoice/"),
        ("get", "subscriptions/not-a-uuid/"),
    ],
)
def test_a_malformed_id_is_the_apis_json_404(api, method, url):
    response = getattr(api, method)(API + url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == ["detail"]


def test_state_reports_each_meter_of_the_last_customer_state(api, ada):
    customer = make_customer(ada)
    product = make_product("API")
    named, unnamed = str(uuid.uuid4()), str(uuid.uuid4())
    Price.objects.create(
        id=uuid.uuid4(),
        product=product,
        amount_type="metered_unit",
        currency="usd",
        data={"meter": {"id": named, "name": "API calls"}},
    )
    customer.data = {
        "active_meters": [
            {"meter_id": named, "consumed_units": 12.5, "credited_units": 100, "balance": 87.5},
            {"meter_id": unnamed, "consumed_units": 3, "credited_units": 0, "balance": -3},
            {"meter_id": None, "consumed_units": 99},  # not a meter: left out
        ]
    }
    customer.save()
    meters = api.get(API + "state/").json()["meters"]
    assert meters == [
        {"meter_id": named, "name": "API calls", "consumed_units": 12.5,
         "credited_units": 100, "balance": 87.5},
        {"meter_id": unnamed, "name": "", "consumed_units": 3.0, "credited_units": 0,
         "balance": -3.0},
    ]  # fmt: skip


def test_listings_cost_the_same_queries_for_one_row_or_many(api, ada):
    """No query per row (the product of each subscription and order, the benefit of each
    grant, the prices and benefits of each product): a long history stays one page load."""
    customer = make_customer(ada)

    def queries():
        counts = {}
        for url in ("state/", "products/", "subscriptions/", "orders/", "benefits/"):
            with CaptureQueriesContext(connection) as captured:
                assert api.get(API + url).status_code == 200
            counts[url] = len(captured)
        return counts

    def add_rows():
        product = make_product(f"Plan {uuid.uuid4()}")
        make_subscription(customer, product)
        make_order(customer, product)
        make_grant(customer)

    add_rows()
    one = queries()
    add_rows()
    add_rows()
    assert api.get(API + "orders/").json()["count"] == 3
    assert queries() == one


def test_checkout_takes_billing_details_currency_and_locale(api, polar, catalog, ada):
    response = api.post(
        API + "checkouts/",
        {
            "products": [str(catalog["lifetime"].pk)],
            "billing_address": {
                "country": "fr",
                "line1": "1 rue de Rivoli",
                "city": "Paris",
                "postal_code": "75001",
            },
            "tax_id": "FR61954506077",
            "business_name": "Engines SARL",
            "currency": "usd",
            "locale": "fr",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    checkout = get_client().get_checkout(response.json()["id"])
    assert checkout["customer_tax_id"] == "FR61954506077"
    assert checkout["customer_billing_address"]["country"] == "FR"
    assert (checkout["is_business_customer"], checkout["customer_billing_name"]) == (
        True,
        "Engines SARL",
    )
    polar.pay_checkout(response.json()["id"])
    assert ada.polar_customer.data["tax_id"] == ["FR61954506077", "eu_vat"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tax_id": "FR61954506077"}, "detail"),  # a tax id needs the billing country
        ({"billing_address": {"country": "France"}}, "billing_address.country"),
        ({"currency": "euro"}, "currency"),
        ({"min_seats": 5, "max_seats": 2}, "detail"),
        ({"upgrade_subscription": "not-a-uuid"}, "upgrade_subscription"),
    ],
)
def test_bad_checkout_options_get_a_clear_400(api, polar, catalog, body, field):
    response = api.post(
        API + "checkouts/", {"products": [str(catalog["monthly"].pk)], **body}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in (response.json().get("fields") or {}) or field == "detail"
    assert response.json()["detail"]


def test_polar_refusing_a_tax_id_is_a_400_with_its_reason(api, polar, catalog):
    response = api.post(
        API + "checkouts/",
        {
            "products": [str(catalog["monthly"].pk)],
            "billing_address": {"country": "DE"},
            "tax_id": "DE000",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "Invalid tax ID" in str(response.json())


def test_checkout_upgrades_the_requesters_free_subscription(api, polar, catalog, ada):
    free = polar_product("Free", amount=0)
    ada.get_or_create_polar_customer()
    created = get_client().create_subscription(
        {"product_id": str(free.pk), "external_customer_id": ada.get_polar_external_id()}
    )
    polar.deliver()
    response = api.post(
        API + "checkouts/",
        {"products": [str(catalog["monthly"].pk)], "upgrade_subscription": created["id"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    polar.pay_checkout(response.json()["id"])
    polar.deliver()
    subscriptions = api.get(API + "subscriptions/").json()["results"]
    assert [(s["id"], s["product"]["id"]) for s in subscriptions] == [
        (created["id"], str(catalog["monthly"].pk))
    ]
