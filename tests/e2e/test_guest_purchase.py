"""A visitor buys Jotter Pro without an account, signs up afterwards, and the new account
has the plan: in a real browser, on the emulator's hosted checkout, webhooks over HTTP.

pricing (signed out) -> "Buy Jotter Pro" -> Polar's page -> pay with an email -> back on
the site, sent to sign up ("Thanks for your purchase") -> sign up with ANOTHER email ->
the account page shows Jotter Pro. The link is the claim token in this browser's session,
never the email: a second browser that signs up with the buyer's email gets nothing.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from django_polar.client import get_client
from django_polar.models import CheckoutClaim
from tests.e2e.test_purchase_flow import PASSWORD, reload_until
from tests.testapp.models import User

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("example_project.urls"),
]


def fill_signup(page, username: str, email: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="Sign up").click()


def test_a_guest_buys_then_signs_up_and_has_the_plan(jotter_site, page, chromium, settings):
    # As the demo's settings: sign up after paying, land on the account page.
    settings.POLAR = {
        **settings.POLAR,
        "GUEST_SIGNUP_URL": "notes:signup",
        "GUEST_CLAIMED_URL": "notes:account",
    }
    base = jotter_site.url
    page.goto(base + "/pricing/")
    card = page.locator('.plan[data-product="Jotter Pro"]')
    card.get_by_role("button", name="Buy Jotter Pro").click()
    page.wait_for_url(jotter_site.emulator_url + "/checkout/**")
    expect(page.locator("body")).to_contain_text("Jotter Pro")
    page.shots("guest-checkout")
    page.fill("#customer_email", "buyer@example.com")
    page.get_by_role("button", name=re.compile(r"^(Pay|Start free trial)")).click()

    # Back on the site, signed out: the claim view sends the buyer to sign up.
    page.wait_for_url(re.compile(r"/signup/\?next="))
    expect(page.get_by_test_id("guest-purchase")).to_be_visible()
    page.shots("signup-after-purchase")
    fill_signup(page, "grace", "grace@example.org")  # not the email typed at checkout

    page.wait_for_url(base + "/account/")
    reload_until(page, base + "/account/", "[data-testid=plan-name]", "Jotter Pro")
    expect(page.get_by_test_id("plan-status")).to_contain_text(re.compile("active|trialing"))
    page.shots("account-after-claim")
    with jotter_site.db_lock:
        grace = User.objects.get(username="grace")
        assert grace.subscribed()
        claim = CheckoutClaim.objects.get()
        assert claim.claimed_by == grace.get_polar_external_id()
    assert get_client().get_customer(str(claim.customer_id))["external_id"] == (
        grace.get_polar_external_id()
    )

    # Another browser, signing up with the buyer's email, cannot take the purchase.
    other = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        thief = other.new_page()
        thief.goto(base + "/signup/")
        fill_signup(thief, "mallory", "buyer@example.com")
        thief.wait_for_url(base + "/pricing/")
        thief.goto(f"{base}/polar/checkout/claim/?checkout_id={claim.checkout_id}")
        expect(thief.locator("body")).to_contain_text("did not start that checkout")
        with jotter_site.db_lock:
            assert not User.objects.get(username="mallory").subscribed()
    finally:
        other.close()
