"""License keys against the emulator: from the billable's grants to validate, activate and
deactivate (customer-portal and organization endpoints), typed errors, the DRF endpoint."""

from __future__ import annotations

import pytest
from django.urls import include, path
from rest_framework.test import APIClient

from django_polar import license_keys, mirror
from django_polar.client import get_client
from django_polar.errors import (
    LicenseKeyConditionsMismatch,
    LicenseKeyExpired,
    LicenseKeyInvalid,
    LicenseKeyLimitReached,
    LicenseKeyRevoked,
)
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.test_actions import buy, seeded
from tests.testapp.models import User

urlpatterns = [
    path("polar/", include("django_polar.urls")),
    path("api/billing/", include("django_polar.api.urls")),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
ACTIVATE = "/api/billing/license-keys/activate/"


@pytest.fixture
def org(polar, settings):
    settings.POLAR = {**settings.POLAR, "ORGANIZATION_ID": polar.store.organization["id"]}


@pytest.fixture
def user(polar):
    return User.objects.create_user("ada", "ada@example.com")


def bought_key(polar, user, product_key: str = "lifetime") -> str:
    buy(polar, user, seeded(polar, product_key))
    [granted] = user.license_keys()
    return license_keys.get(granted["id"])["key"]


def key_of_new_product(polar, properties: dict) -> str:
    """A new product granting a license key with ``properties``, bought by a new user."""
    benefit = get_client().create_benefit(
        {"type": "license_keys", "description": "Updates", "properties": properties}
    )
    mirror.upsert_benefit(benefit)
    product = get_client().create_product(
        {
            "name": "Updates",
            "prices": [{"amount_type": "fixed", "price_amount": 900, "price_currency": "usd"}],
        }
    )
    get_client().request(
        "POST", f"/v1/products/{product['id']}/benefits", json={"benefits": [benefit["id"]]}
    )
    buyer = User.objects.create_user(f"buyer{User.objects.count()}", "buyer@example.com")
    buy(polar, buyer, mirror.upsert_product(get_client().get_product(product["id"])))
    [granted] = buyer.license_keys()
    return license_keys.get(granted["id"])["key"]


@pytest.mark.parametrize("portal", [True, False])
def test_a_key_validates_activates_up_to_its_limit_and_deactivates(polar, org, user, portal):
    key = bought_key(polar, user)
    assert license_keys.validate(key, portal=portal)["status"] == "granted"
    activations = [
        license_keys.activate(key, f"laptop {i}", conditions={"machine": f"m{i}"}, portal=portal)
        for i in range(3)
    ]
    with pytest.raises(LicenseKeyLimitReached, match="limit"):
        license_keys.activate(key, "a fourth one", portal=portal)
    first = activations[0]["id"]
    valid = license_keys.validate(
        key, activation_id=first, conditions={"machine": "m0"}, portal=portal
    )
    assert valid["activation"]["id"] == first
    with pytest.raises(LicenseKeyConditionsMismatch):
        license_keys.validate(key, activation_id=first, conditions={"machine": "m9"}, portal=portal)
    license_keys.deactivate(key, first, portal=portal)
    assert license_keys.activate(key, "the new laptop", portal=portal)["label"] == "the new laptop"


def test_typed_errors_for_unknown_revoked_and_expired_keys(polar, org, user):
    with pytest.raises(LicenseKeyInvalid):
        license_keys.validate("ACME_NOT-A-KEY")
    key = bought_key(polar, user, "pro-monthly")
    polar.revoke_subscription(str(user.subscription().pk))
    with pytest.raises(LicenseKeyRevoked, match="no longer active"):
        license_keys.validate(key)

    expiring = key_of_new_product(polar, {"expires": {"ttl": 1, "timeframe": "day"}})
    assert license_keys.validate(expiring)["status"] == "granted"
    polar.clock.advance(days=2)
    with pytest.raises(LicenseKeyExpired):
        license_keys.validate(expiring)


def test_the_usage_limit_is_a_typed_error(polar, org):
    key = key_of_new_product(polar, {"limit_usage": 2})
    license_keys.validate(key, increment_usage=2)
    with pytest.raises(LicenseKeyLimitReached, match="more usages"):
        license_keys.validate(key, increment_usage=1)


def test_portal_calls_are_paced_under_polars_3_per_second(polar, org, user):
    key = bought_key(polar, user)
    before = license_keys._portal_pacer.requests
    license_keys.validate(key)
    license_keys.validate(key, portal=False)  # the organization endpoint has its own limit
    assert license_keys._portal_pacer.requests == before + 1
    assert license_keys._portal_pacer.interval >= 60 / license_keys.PORTAL_PER_MINUTE


def test_a_desktop_app_activates_through_the_drf_endpoint(polar, org, user):
    key = bought_key(polar, user)
    app = APIClient()  # no account: the app only has the key its user typed
    response = app.post(
        ACTIVATE,
        {"key": key, "label": "Ada's laptop", "conditions": {"machine": "m1"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    activation = response.json()
    assert activation["label"] == "Ada's laptop"
    valid = license_keys.validate(key, activation_id=activation["id"], conditions={"machine": "m1"})
    assert valid["activation"]["id"] == activation["id"]
    assert app.post(ACTIVATE, {"key": "nope", "label": "x"}, format="json").status_code == 404
    assert app.post(ACTIVATE, {"label": "x"}, format="json").status_code == 400
    pasted = app.post(ACTIVATE, {"key": f" {key}\n", "label": "pc0"}, format="json")
    assert pasted.status_code == 201, pasted.content  # a stray space or newline is the key
    assert app.post(ACTIVATE, {"key": key, "label": "pc1"}, format="json").status_code == 201
    full = app.post(ACTIVATE, {"key": key, "label": "one too many"}, format="json")
    assert full.status_code == 403 and "limit" in full.json()["detail"]
