"""The full loop through the views: buy, pay, webhooks, cancel, resume, renew, end.

The emulator plays Polar (hosted checkout, payments, clock) and delivers signed webhooks
to the real webhook view; nothing here touches the mirror directly.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from django_polar.client import get_client
from tests.fixtures import polar_fixture, polar_product  # noqa: F401  (the polar fixture)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com", "pw")


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def pro(polar):
    return polar_product("Pro monthly", amount=1000)


def start_checkout(browser, product, **query):
    response = browser.get(reverse("django_polar:checkout", args=[product.pk]), query)
    assert response.status_code == 303, response.content
    return response["Location"]


def checkout_json(browser, product, **query):
    response = browser.get(
        reverse("django_polar:checkout", args=[product.pk]), {"format": "json", **query}
    )
    assert response.status_code == 200, response.content
    return get_client().get_checkout(response.json()["id"])


def success_status(browser, checkout_id):
    response = browser.get(
        reverse("django_polar:success"), {"checkout_id": checkout_id, "format": "json"}
    )
    return response.json()["status"]


def test_checkout_view_redirects_to_polar_with_the_requesters_customer(polar, browser, user, pro):
    location = start_checkout(browser, pro)
    checkout = checkout_json(browser, pro)
    assert urlsplit(location).scheme in ("http", "https")
    assert checkout["external_customer_id"] == f"testapp.user:{user.pk}"
    assert checkout["embed_origin"] == "http://testserver"
    # Polar fills in the {CHECKOUT_ID} placeholder we sent.
    assert checkout["success_url"] == (
        f"http://testserver/polar/checkout/success/?checkout_id={checkout['id']}"
    )
    assert checkout["metadata"]["subscription_type"] == "default"
    assert user.polar_customer is not None  # created before the checkout


def test_the_full_loop(polar, browser, user, pro):
    checkout = checkout_json(browser, pro)
    assert success_status(browser, checkout["id"]) == "processing"
    assert not user.subscribed()

    polar.pay_checkout(checkout["id"])
    polar.deliver()
    assert success_status(browser, checkout["id"]) == "confirmed"
    assert user.subscribed() and user.subscribed_to_product(pro)
    subscription = user.subscription()
    period_end = subscription.current_period_end

    subscription.cancel()
    polar.deliver()
    assert user.on_grace_period() and user.subscribed()
    subscription.resume()
    polar.deliver()
    assert not user.on_grace_period() and user.subscribed()

    # A renewal: a new period, a second paid order, still subscribed.
    polar.clock.advance(days=32)
    polar.tick()
    polar.deliver()
    subscription.refresh_from_db()
    assert subscription.current_period_end > period_end
    assert user.orders.filter(paid=True).count() == 2
    assert user.subscribed()

    # Cancel again and let the period end: access ends.
    subscription.cancel()
    polar.clock.advance(days=32)
    polar.tick()
    polar.deliver()
    subscription.refresh_from_db()
    assert subscription.ended()
    assert not user.subscribed()


def test_query_parameters_never_choose_the_customer(polar, browser, user, pro):
    victim = User.objects.create_user("bob", "bob@example.com")
    checkout = checkout_json(
        browser,
        pro,
        customer_id="x",
        external_customer_id=f"testapp.user:{victim.pk}",
        billable=victim.pk,
    )
    assert checkout["external_customer_id"] == f"testapp.user:{user.pk}"


@pytest.mark.parametrize("next_url", ["https://evil.example.com/", "//evil.example.com/x"])
def test_checkout_ignores_off_site_next(polar, browser, pro, next_url):
    checkout = checkout_json(browser, pro, next=next_url)
    assert "evil" not in (checkout.get("return_url") or "")
    assert "evil" not in checkout["success_url"]


def test_checkout_keeps_a_same_site_next(polar, browser, pro):
    checkout = checkout_json(browser, pro, next="/settings/billing/")
    assert checkout["return_url"] == "http://testserver/settings/billing/"
    query = parse_qs(urlsplit(checkout["success_url"]).query)
    assert query == {"checkout_id": [checkout["id"]], "next": ["/settings/billing/"]}


def test_embedded_checkout_keeps_the_embed_parameters(polar, browser, pro):
    location = start_checkout(
        browser, pro, embed="true", theme="dark", embed_origin="https://evil.example.com"
    )
    query = parse_qs(urlsplit(location).query)
    assert query["embed"] == ["true"]
    assert query["theme"] == ["dark"]
    assert query["embed_origin"] == ["http://testserver"]


def test_bad_seats_is_a_400(polar, browser, pro):
    response = browser.get(reverse("django_polar:checkout", args=[pro.pk]), {"seats": "-3"})
    assert response.status_code == 400


def test_portal_redirects_to_the_requesters_own_portal(polar, browser, user):
    response = browser.get(reverse("django_polar:portal"), {"next": "https://evil.example.com/"})
    assert response.status_code == 303
    customer = user.polar_customer
    sessions = [s for s in polar.store.customer_sessions.values()]
    assert [s["customer_id"] for s in sessions] == [str(customer.pk)]
    assert all(not (s.get("return_url") or "").startswith("https://evil") for s in sessions)


def test_polar_outage_is_a_503_page_with_retry_after_not_a_500(polar, browser, pro, settings):
    settings.POLAR = {**settings.POLAR, "MAX_RETRIES": 0}
    polar.faults.fail_next(5, status=503)
    response = browser.get(reverse("django_polar:checkout", args=[pro.pk]))
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert b"try again" in response.content
    assert b"polar_oat" not in response.content
    polar.faults.reset()
    polar.faults.fail_next(5, status=503)
    portal = browser.get(reverse("django_polar:portal"))
    assert portal.status_code == 503 and portal.has_header("Retry-After")


@pytest.fixture
def team_plan(polar):
    """A seat-based product, like ``team`` in the emulator's default seed."""
    from django_polar import mirror

    tiers = [{"min_seats": 1, "max_seats": 9, "price_per_seat": 1000}]
    price = {
        "amount_type": "seat_based",
        "price_currency": "usd",
        "seat_tiers": {"seat_tier_type": "volume", "tiers": tiers},
    }
    body = {"name": "Team", "recurring_interval": "month", "prices": [price]}
    return mirror.upsert_product(get_client().create_product(body))


def test_seats_from_the_query_reach_the_checkout(polar, browser, team_plan):
    checkout = checkout_json(browser, team_plan, seats="4")
    assert checkout["seats"] == 4
    assert checkout["amount"] == 4000
    assert checkout["external_customer_id"]


@pytest.mark.parametrize("seats", ["²", "1e3", "-3", "0", "abc", "10001", "٣", " 4"])
def test_a_bad_seats_value_is_a_clear_400(polar, browser, team_plan, seats):
    response = browser.get(
        reverse("django_polar:checkout", args=[team_plan.pk]), {"format": "json", "seats": seats}
    )
    assert response.status_code == 400
    assert "seats must be a whole number from 1 to 10000" in response.json()["error"]
    assert polar.store.checkouts == {}


def test_portal_of_another_user_is_never_opened(polar, browser, user):
    bob = User.objects.create_user("bob", "bob@example.com", "pw")
    bobs_customer = bob.get_or_create_polar_customer()
    response = browser.get(
        reverse("django_polar:portal"),
        {
            "customer_id": str(bobs_customer.pk),
            "external_customer_id": f"testapp.user:{bob.pk}",
            "billable": bob.pk,
        },
    )
    assert response.status_code == 303
    adas_customer = user.polar_customer
    assert adas_customer is not None and adas_customer.pk != bobs_customer.pk
    sessions = list(polar.store.customer_sessions.values())
    assert sessions, "the portal view created no customer session"
    assert {s["customer_id"] for s in sessions} == {str(adas_customer.pk)}
    # The URL ada is sent to opens her portal, not bob's.
    token = urlsplit(response["Location"]).path.rstrip("/").rsplit("/", 1)[-1]
    assert polar.customer_session(token)["customer_id"] == str(adas_customer.pk)
