"""An operator opens the billing dashboard in a real browser: the SVG charts show the
mirror's numbers (checked against the ORM), with JavaScript off."""

from __future__ import annotations

from collections import Counter

import pytest
from playwright.sync_api import expect

from django_polar import metrics
from django_polar.client import get_client
from django_polar.models import Subscription
from tests.testapp.models import User

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("example_project.urls"),
]

PASSWORD = "a-Long-pass-99"


def wait_for_mirror(site, count: int) -> None:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with site.db_lock:
            if Subscription.objects.count() >= count:
                return
        time.sleep(0.2)
    raise AssertionError("the webhooks never reached the mirror")


def test_dashboard_charts_match_the_mirror(jotter_site, polar_emulator_server, chromium):
    emu = polar_emulator_server.emulator
    plans = ["Jotter Pro", "Jotter Pro", "Jotter Team"]
    products = {p["name"]: p["id"] for p in emu.store.products.values()}
    with jotter_site.db_lock:
        User.objects.create_superuser("root", "root@example.com", PASSWORD)
        buyers = [
            User.objects.create(username=f"buyer{i}", email=f"b{i}@example.com") for i in range(3)
        ]
    for buyer, plan in zip(buyers, plans, strict=True):
        checkout = get_client().create_checkout(
            {"products": [products[plan]], "external_customer_id": buyer.get_polar_external_id()}
        )
        emu.pay_checkout(checkout["id"], email=buyer.email)
    wait_for_mirror(jotter_site, len(plans))
    polar_emulator_server.wait_for_webhooks(timeout=20)
    with jotter_site.db_lock:
        figures = metrics.compute()
        by_plan = Counter(s.product.name for s in Subscription.objects.select_related("product"))

    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    base = jotter_site.url
    page.goto(base + "/admin/login/?next=/admin/django_polar/subscription/dashboard/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_have_text("Billing dashboard")

    bars = page.locator('svg[data-chart="active-by-plan"] g.bar')
    shown = {
        bars.nth(i).get_attribute("data-label"): int(bars.nth(i).get_attribute("data-value") or 0)
        for i in range(bars.count())
    }
    assert shown == dict(by_plan) == {"Jotter Pro": 2, "Jotter Team": 1}
    expect(page.locator('[data-figure="active"] .number')).to_have_text(str(figures.active))
    for currency, amount in figures.mrr.items():
        expect(page.locator(f'[data-figure="mrr-{currency}"] .number')).to_contain_text(
            f"{amount / 100:,.2f}"
        )
    new30 = page.locator('svg[data-chart="movement-30"] g.bar').first
    assert int(new30.get_attribute("data-value") or -1) == figures.windows[0].new == 3
    month = page.locator('svg[data-chart="revenue-usd"] g.bar').last
    assert (
        int(month.get_attribute("data-value") or -1) == figures.revenue_by_month[-1][1]["usd"] > 0
    )
    page.set_viewport_size({"width": 1100, "height": 900})
    from tests.e2e.conftest import Shots

    Shots(page, "test_dashboard_charts_match_the_mirror")("dashboard", docs="dashboard")
    context.close()
