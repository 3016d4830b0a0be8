"""Token scopes: an operation the token has no scope for is Polar's 403 insufficient_scope."""

from __future__ import annotations

import json

import httpx
import pytest

from django_polar.client import PolarClient, PolarPermissionError
from polar_emulator import Emulator, scopes
from polar_emulator import api as routes
from tests.spec import SPEC_PATH

SPEC = SPEC_PATH


@pytest.mark.skipif(SPEC is None, reason="the OpenAPI document is not on this machine")
def test_committed_table_is_what_the_spec_says():
    assert scopes.table() == scopes.derive(json.loads(SPEC.read_text()))


def test_every_organization_route_has_its_scopes():
    public = {
        "/v1/checkouts/client/{client_secret}",
        "/v1/checkouts/client/{client_secret}/confirm",
        # The invitee has only the token (customer_seat/endpoints.py: no auth).
        "/v1/customer-seats/claim/{invitation_token}",
        "/v1/customer-seats/claim",
        # "This endpoint doesn't require authentication" (customer_portal/endpoints/license_keys.py)
        "/v1/customer-portal/license-keys/validate",
        "/v1/customer-portal/license-keys/activate",
        "/v1/customer-portal/license-keys/deactivate",
        # A customer or member session token, not the organization's (customer_portal/auth.py)
        "/v1/customer-portal/seats",
        "/v1/customer-portal/seats/{seat_id}",
        "/v1/customer-portal/seats/{seat_id}/resend",
        "/v1/customer-portal/members",
        "/v1/customer-portal/members/{id}",
    }
    missing = [
        f"{method} {routes.PATTERNS[handler]}"
        for method, _, handler in routes.ROUTES
        if routes.PATTERNS[handler] not in public
        and scopes.required(method, routes.PATTERNS[handler]) is None
    ]
    assert missing == []


def client_for(emu: Emulator) -> PolarClient:
    return PolarClient(
        access_token="polar_oat_limited",
        base_url="https://sandbox-api.polar.sh",
        transport=emu.transport(),
        max_retries=0,
    )


def test_a_token_without_the_scope_gets_403_the_client_names_the_scope():
    emu = Emulator(
        seed="default",
        frozen_clock=True,
        access_token="polar_oat_limited",
        token_scopes={"products:read"},
    )
    with client_for(emu) as client:
        assert len(list(client.list_products())) == len(emu.store.products)
        with pytest.raises(PolarPermissionError) as caught:
            client.create_customer({"email": "ada@example.com"})
    assert caught.value.status == 403 and caught.value.error == "insufficient_scope"
    assert caught.value.scope == "customers:write"
    assert "lacks the scope customers:write" in str(caught.value)
    assert emu.store.customers == {}  # refused before anything happened


def test_403_body_and_challenge_follow_rfc_6750():
    emu = Emulator(seed="default", access_token="t", token_scopes={"customers:write"})
    web = httpx.Client(
        transport=emu.transport(), base_url="http://emu", headers={"Authorization": "Bearer t"}
    )
    denied = web.get("/v1/products/")
    assert denied.status_code == 403
    assert denied.json()["error"] == "insufficient_scope"
    assert (
        denied.headers["WWW-Authenticate"]
        == 'Bearer error="insufficient_scope", scope="products:read products:write"'
    )
    # customers:write also allows reading customers (the spec lists both for reads).
    assert web.get("/v1/customers/").status_code == 200
    # The checkout's client endpoints need no organization token at all.
    checkout = emu.checkouts.create({"products": [emu.product_id("pro-monthly")]})
    assert (
        httpx.Client(transport=emu.transport(), base_url="http://emu")
        .get(f"/v1/checkouts/client/{checkout['client_secret']}")
        .status_code
        == 200
    )
