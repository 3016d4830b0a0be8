"""Guest checkouts: a visitor buys signed out, signs up, and the purchase is theirs;
never by the email alone, never from another browser.

Through the real views (Django's test client keeps the session like a browser), the
emulator's checkout, and its webhooks through the real webhook view.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from django_polar import claims
from django_polar.client import get_client
from django_polar.errors import ClaimError
from django_polar.models import CheckoutClaim, Customer
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.test_checkout_prefill import pay, seeded
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


def guest_buys(polar, browser: Client, key="pro-monthly", email="guest@example.com") -> dict:
    """The visitor clicks Buy, pays on Polar's page; returns the paid checkout."""
    seeded(polar, key)
    started = browser.post(reverse("django_polar:guest-checkout", args=[polar.ids[key]]))
    assert started.status_code == 303
    secret = started["Location"].rstrip("/").rsplit("/", 1)[-1]
    checkout = polar.checkouts.by_secret(secret)
    assert checkout["external_customer_id"] is None  # the checkout names nobody
    return pay(polar, checkout["id"], email=email)


def claim_path(checkout: dict) -> str:
    parts = urlsplit(checkout["success_url"])
    return f"{parts.path}?{parts.query}"


def test_a_guest_purchase_becomes_the_account_created_after_it(polar):
    browser = Client()
    paid = guest_buys(polar, browser)
    landing = browser.get(claim_path(paid))
    # Signed out: on to sign up, then back to the claim.
    assert landing.status_code == 303
    login, query = landing["Location"].split("?", 1)
    assert login == "/login/" and parse_qs(query)["next"] == [claim_path(paid)]

    ada = User.objects.create_user("ada", "ada.other@example.com")  # any email: not the key
    browser.force_login(ada)  # Django keeps the session data across login()
    claimed = browser.get(claim_path(paid))
    assert claimed.status_code == 303
    assert claimed["Location"] == f"{reverse('django_polar:success')}?checkout_id={paid['id']}"

    assert ada.subscribed()
    assert ada.subscription().product_id is not None
    polar_customer = get_client().get_customer(paid["customer_id"])
    assert polar_customer["external_id"] == ada.get_polar_external_id()
    assert ada.polar_customer.pk == Customer.objects.get(pk=paid["customer_id"]).pk
    assert CheckoutClaim.objects.get(pk=paid["id"]).claimed_by == ada.get_polar_external_id()
    # The success view now confirms it for the new account.
    success = browser.get(claimed["Location"], HTTP_ACCEPT="application/json")
    assert success.json()["status"] == "confirmed"
    # A reload is harmless.
    assert browser.get(claim_path(paid)).status_code == 303


def test_another_browser_cannot_claim_the_purchase(polar):
    paid = guest_buys(polar, Client())
    thief = Client()
    eve = User.objects.create_user("eve", "guest@example.com")  # even with the buyer's email
    thief.force_login(eve)
    refused = thief.get(claim_path(paid))
    assert refused.status_code == 403
    assert not eve.subscribed()
    assert get_client().get_customer(paid["customer_id"])["external_id"] is None


def test_a_claim_is_redeemed_once(polar, rf):
    browser = Client()
    paid = guest_buys(polar, browser)
    ada = User.objects.create_user("ada", "ada@example.com")
    browser.force_login(ada)
    browser.get(claim_path(paid))
    # The same token, replayed for another billable (a copied session), is refused.
    request = rf.get("/")
    request.session = {claims.SESSION_KEY: {paid["id"]: "whatever"}}
    bob = User.objects.create_user("bob", "bob@example.com")
    with pytest.raises(ClaimError, match="already linked to another account"):
        claims.redeem(request, bob, paid["id"])
    assert not bob.subscribed()


def test_a_forged_token_is_refused(polar, rf):
    paid = guest_buys(polar, Client())
    request = rf.get("/")
    request.session = {claims.SESSION_KEY: {paid["id"]: "forged"}}
    ada = User.objects.create_user("ada", "ada@example.com")
    with pytest.raises(ClaimError, match="did not start that checkout"):
        claims.redeem(request, ada, paid["id"])
    assert ada.polar_customer is None


def test_a_purchase_by_another_billables_customer_is_not_given_away(polar):
    # The guest typed the email of an existing customer: Polar attaches the purchase to
    # that customer, who already belongs to someone else.
    owner = User.objects.create_user("owner", "owner@example.com")
    owner.get_or_create_polar_customer()
    browser = Client()
    paid = guest_buys(polar, browser, key="lifetime", email="owner@example.com")
    ada = User.objects.create_user("ada", "ada@example.com")
    browser.force_login(ada)
    refused = browser.get(claim_path(paid))
    assert refused.status_code == 409
    assert "belongs to another account" in refused.content.decode()
    assert not ada.has_purchased_product(polar.ids["lifetime"])
    assert get_client().get_customer(paid["customer_id"])["external_id"] == (
        owner.get_polar_external_id()
    )


def test_a_customer_that_existed_before_the_checkout_is_not_taken_by_its_email(polar):
    # Alice bought as a guest and never signed up: her Polar customer has no external id.
    # Mallory pays as a guest with Alice's email; Polar attaches that purchase to Alice's
    # customer. Claiming it must not hand Mallory Alice's customer and earlier purchase.
    alice_paid = guest_buys(polar, Client(), key="lifetime", email="alice@example.com")
    mallory_browser = Client()
    paid = guest_buys(polar, mallory_browser, email="alice@example.com")
    assert paid["customer_id"] == alice_paid["customer_id"]
    mallory = User.objects.create_user("mallory", "mallory@example.com")
    mallory_browser.force_login(mallory)
    refused = mallory_browser.get(claim_path(paid))
    assert refused.status_code == 409
    assert "existed before this checkout" in refused.content.decode()
    assert get_client().get_customer(paid["customer_id"])["external_id"] is None
    assert mallory.polar_customer is None
    assert not mallory.subscribed()
    assert not mallory.has_purchased_product(polar.ids["lifetime"])
    assert CheckoutClaim.objects.get(pk=paid["id"]).claimed_at is None


def test_an_account_with_its_own_customer_is_not_merged(polar):
    browser = Client()
    paid = guest_buys(polar, browser)
    ada = User.objects.create_user("ada", "ada@example.com")
    ada.get_or_create_polar_customer()
    browser.force_login(ada)
    refused = browser.get(claim_path(paid))
    assert refused.status_code == 409
    assert not ada.subscribed()


def test_an_unpaid_checkout_is_not_claimed_yet(polar):
    browser = Client()
    seeded(polar, "lifetime")
    started = browser.post(reverse("django_polar:guest-checkout", args=[polar.ids["lifetime"]]))
    checkout_id = next(iter(browser.session[claims.SESSION_KEY]))
    assert started.status_code == 303
    ada = User.objects.create_user("ada", "ada@example.com")
    browser.force_login(ada)
    refused = browser.get(f"{reverse('django_polar:guest-claim')}?checkout_id={checkout_id}")
    assert refused.status_code == 409
    assert "not complete" in refused.content.decode()


def test_a_signed_in_visitor_gets_the_named_checkout(polar):
    browser = Client()
    ada = User.objects.create_user("ada", "ada@example.com")
    browser.force_login(ada)
    seeded(polar, "lifetime")
    url = reverse("django_polar:guest-checkout", args=[polar.ids["lifetime"]])
    answer = browser.post(url)
    assert answer.status_code == 303
    assert answer["Location"] == reverse("django_polar:checkout", args=[polar.ids["lifetime"]])


def test_only_known_products_are_sold_to_guests(polar):
    answer = Client().post(reverse("django_polar:guest-checkout", args=["no-such-plan"]))
    assert answer.status_code == 404
    assert not CheckoutClaim.objects.exists()


def test_following_a_link_creates_no_checkout(polar):
    # Crawlers follow links: only a POST (a form button, CSRF-checked) starts a checkout.
    seeded(polar, "lifetime")
    url = reverse("django_polar:guest-checkout", args=[polar.ids["lifetime"]])
    assert Client().get(url).status_code == 405
    assert Client(enforce_csrf_checks=True).post(url).status_code == 403
    assert not polar.store.checkouts and not CheckoutClaim.objects.exists()


def test_the_admin_lists_claims_without_their_token(polar, admin_client):
    browser = Client()
    paid = guest_buys(polar, browser)
    ada = User.objects.create_user("ada", "ada@example.com")
    browser.force_login(ada)
    browser.get(claim_path(paid))
    claim = CheckoutClaim.objects.get()
    listing = admin_client.get(reverse("admin:django_polar_checkoutclaim_changelist"))
    assert listing.status_code == 200
    assert ada.get_polar_external_id() in listing.content.decode()
    detail = admin_client.get(
        reverse("admin:django_polar_checkoutclaim_change", args=[claim.pk])
    ).content.decode()
    assert claim.token_hash not in detail and "token_hash" not in detail
