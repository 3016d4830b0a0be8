"""A person buys Jotter Pro in a real browser, with Polar's embed script and the emulator.

sign up -> pricing -> embedded checkout (iframe on the emulator's origin) -> pay -> success
page -> account shows the plan (the webhook went through the real view over HTTP) -> the
gated page opens -> cancel ("ends on <date>") -> resume -> change plan -> a one-time
purchase with its license key -> the billing portal.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from django_polar.models import Subscription, WebhookEvent
from tests.testapp.models import User

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("example_project.urls"),
]

PASSWORD = "a-Long-pass-99"


def sign_up(page, base: str, username: str) -> None:
    page.goto(base + "/signup/")
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.com")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(base + "/pricing/")


def pay_in_embedded_checkout(page, product: str) -> None:
    """Click the product's embed button; pay in the emulator's page inside the iframe."""
    # A viewport as tall as the page: no scrolling under the fixed iframe (the embed script
    # locks the page's scroll, which can shift the layout under a click).
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 1600})
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(f'.plan[data-product="{product}"] a[data-polar-checkout]').click()
    checkout = page.frame_locator("iframe")
    expect(checkout.get_by_text(product, exact=False).first).to_be_visible()
    page.shots(
        f"checkout-{product.lower().replace(' ', '-')}",
        docs="checkout" if product == "Jotter Pro" else None,
    )
    checkout.get_by_role("button", name=re.compile(r"^Pay")).click()
    page.wait_for_url(re.compile(r"/polar/checkout/success/\?checkout_id="))
    page.set_viewport_size(size)


def reload_until(page, url: str, locator: str, text: str | re.Pattern, timeout: float = 15) -> None:
    """Webhooks arrive asynchronously (as from Polar): reload until the page shows them."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        content = page.locator(locator)
        found = content.count() and (
            text.search(content.first.inner_text())
            if isinstance(text, re.Pattern)
            else text in content.first.inner_text()
        )
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    expect(page.locator(locator).first).to_contain_text(text)


def processed_soon(site, event_type: str, timeout: float = 15) -> bool:
    """Whether the demo processed an ``event_type`` webhook within ``timeout``: the page can
    show a plan active from an earlier event of the stream (subscription.created) before
    this one is delivered, as Polar's webhooks arrive in no fixed order."""
    deadline = time.monotonic() + timeout
    while True:
        with site.db_lock:
            if WebhookEvent.objects.filter(type=event_type, status="processed").exists():
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def test_buy_cancel_resume_swap_and_portal_in_a_browser(jotter_site, page):
    base = jotter_site.url
    account = base + "/account/"
    sign_up(page, base, "ada")
    expect(page.locator('.plan[data-product="Jotter Pro"]')).to_contain_text("$8")
    page.shots("pricing", docs="pricing")

    pay_in_embedded_checkout(page, "Jotter Pro")
    page.shots("success")
    expect(page.locator("[data-polar-status]")).to_be_visible()

    reload_until(page, account, "[data-testid=plan-status]", "active")
    expect(page.get_by_test_id("plan-name")).to_have_text("Jotter Pro")
    expect(page.get_by_test_id("plan-badge")).to_have_text("Pro")
    assert processed_soon(jotter_site, "subscription.active")
    page.shots("account-active")

    page.goto(base + "/insights/")
    expect(page).to_have_url(base + "/insights/")
    expect(page.get_by_role("heading", name=re.compile("Insights"))).to_be_visible()

    page.goto(account)
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.get_by_test_id("plan-ends")).to_be_visible()
    with jotter_site.db_lock:
        ada = User.objects.get(username="ada")
        subscription = Subscription.objects.get(customer__external_id=ada.get_polar_external_id())
    ends = subscription.ends_at
    assert subscription.cancel_at_period_end and ends is not None
    expect(page.get_by_test_id("plan-ends")).to_have_text(
        f"Ends on {ends:%B} {ends.day}, {ends:%Y}"
    )
    page.shots("canceled")
    page.goto(base + "/insights/")  # still paid up until the period ends
    expect(page).to_have_url(base + "/insights/")

    page.goto(account)
    page.get_by_role("button", name="Resume subscription").click()
    expect(page.get_by_test_id("plan-status")).to_have_text("active")
    expect(page.get_by_test_id("plan-renews")).to_be_visible()

    page.get_by_label("New plan").select_option(label="Jotter Pro Yearly")
    page.get_by_role("button", name="Change plan").click()
    expect(page.get_by_test_id("plan-name")).to_have_text("Jotter Pro Yearly")

    page.goto(base + "/pricing/")
    pay_in_embedded_checkout(page, "Jotter Desktop")
    reload_until(page, account, "[data-testid=license-key]", re.compile(r"\S"))
    expect(page.get_by_test_id("orders")).to_contain_text("Jotter Desktop")
    page.shots("account", docs="account")

    page.get_by_test_id("portal-link").click()
    page.wait_for_url(jotter_site.emulator_url + "/**")
    expect(page.locator("body")).to_contain_text("Jotter Pro Yearly")
    page.shots("portal")


def test_closing_the_embedded_checkout_returns_to_the_page(jotter_site, page):
    base = jotter_site.url
    sign_up(page, base, "grace")
    page.locator('.plan[data-product="Jotter Pro Yearly"] a[data-polar-checkout]').click()
    checkout = page.frame_locator("iframe")
    expect(checkout.get_by_role("button", name=re.compile(r"^Pay"))).to_be_visible()
    checkout.locator("[data-embed-close]").first.click()  # posts "close", like Polar's page
    expect(page.locator("iframe")).to_have_count(0)
    expect(page).to_have_url(base + "/pricing/")
    with jotter_site.db_lock:
        assert not Subscription.objects.exists()


def test_usage_based_add_on_meters_ai_summaries(jotter_site, page):
    base = jotter_site.url
    account = base + "/account/"
    sign_up(page, base, "hopper")
    pay_in_embedded_checkout(page, "Jotter AI")
    reload_until(page, account, "[data-testid=plan]", "Also subscribed: Jotter AI")
    expect(page.get_by_test_id("plan-badge")).to_have_text("Free")  # an add-on is not Pro

    page.goto(base + "/notes/")
    page.fill("#id_title", "Launch plan")
    page.fill("#id_body", "Ship the billing demo. Then write the docs.")
    page.get_by_role("button", name="Save note").click()
    page.get_by_role("link", name="Launch plan").click()
    page.get_by_role("button", name="Summarize this note").click()
    expect(page.locator(".messages")).to_contain_text("Summary: Ship the billing demo")

    reload_until(page, account, "[data-testid=meters]", "1 used")
    expect(page.get_by_test_id("meters")).to_contain_text("AI summaries")
    page.shots("usage")


def test_a_team_buys_seats_for_itself(jotter_site, page):
    base = jotter_site.url
    sign_up(page, base, "lovelace")
    page.goto(base + "/teams/")
    page.fill("#id_name", "Analytical Engines")
    page.get_by_role("button", name="Create team").click()
    team_url = page.url
    page.locator("input[type=number][data-seats-for]").fill("3")
    buy = page.get_by_role("link", name="Buy seats for Analytical Engines")
    expect(buy).to_have_attribute("href", re.compile(r"seats=3"))
    page.set_viewport_size({"width": 1280, "height": 1600})
    buy.click()
    checkout = page.frame_locator("iframe")
    expect(checkout.get_by_text("Jotter Team").first).to_be_visible()
    checkout.get_by_role("button", name=re.compile(r"^Pay")).click()
    page.wait_for_url(re.compile(r"/polar/checkout/success/"))

    reload_until(page, team_url, "[data-testid=team-plan]", "active")
    expect(page.get_by_test_id("team-seats")).to_have_text("3")
    page.shots("team")
    page.goto(base + "/account/")
    expect(page.get_by_test_id("plan-badge")).to_have_text("Free")  # the team pays, not the person
