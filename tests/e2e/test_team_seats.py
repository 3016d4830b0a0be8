"""A team's seats in a real browser: the owner buys seats, assigns one to a member on the
demo's team page; the member opens the invitation link in the app and claims it; the
team page shows who holds which seat and the member has the plan's benefit."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.test_purchase_flow import reload_until, sign_up
from tests.testapp.models import User

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("example_project.urls"),
]


def test_the_team_page_assigns_a_seat_and_the_member_claims_it(
    jotter_site, page, chromium, polar_emulator_server, settings
):
    settings.POLAR = {**settings.POLAR, "SEAT_CLAIMED_URL": "notes:teams"}  # as the demo's
    base = jotter_site.url
    member_context = chromium.new_context(viewport={"width": 1280, "height": 900})
    member_page = member_context.new_page()
    try:
        sign_up(member_page, base, "babbage")

        sign_up(page, base, "lovelace")
        page.goto(base + "/teams/")
        page.fill("#id_name", "Analytical Engines")
        page.get_by_role("button", name="Create team").click()
        team_url = page.url
        page.fill("input[name=username]", "babbage")
        page.get_by_role("button", name="Add").click()
        page.locator("input[type=number][data-seats-for]").fill("3")
        page.set_viewport_size({"width": 1280, "height": 1600})
        page.get_by_role("link", name="Buy seats for Analytical Engines").click()
        checkout = page.frame_locator("iframe")
        checkout.get_by_role("button", name=re.compile(r"^Pay")).click()
        page.wait_for_url(re.compile(r"/polar/checkout/success/"))
        reload_until(page, team_url, "[data-testid=team-seat-list]", "0 of 3 assigned")

        page.select_option("select[name=username]", "babbage")
        page.get_by_role("button", name="Assign seat").click()
        seat = page.get_by_test_id("seat").filter(has_text="babbage")
        expect(seat.get_by_test_id("seat-status")).to_have_text("pending")
        page.shots("seat-assigned")

        # The invitation Polar emails (the emulator keeps its outbox) names the token;
        # the member lands on the app's claim page with it.
        (mail,) = [
            m
            for m in polar_emulator_server.emulator.seats.outbox
            if m["to"] == "babbage@example.com"
        ]
        token = parse_qs(urlsplit(mail["claim_url"]).query)["token"][0]
        member_page.goto(f"{base}/polar/seats/claim/?token={token}")
        expect(member_page.locator("#claim-email")).to_have_text("babbage@example.com")
        member_page.get_by_role("button", name="Claim my seat").click()
        member_page.wait_for_url(base + "/teams/")

        reload_until(page, team_url, "[data-testid=seat]", "claimed")
        page.shots("seat-claimed")
        with jotter_site.db_lock:
            babbage = User.objects.get(username="babbage")
            lovelace = User.objects.get(username="lovelace")
            benefits = list(babbage.benefit_grants.values_list("benefit_id", flat=True))
            assert benefits, "the claimed seat grants the plan's benefits to its member"
            assert not lovelace.benefit_grants.exists()
    finally:
        member_context.close()
