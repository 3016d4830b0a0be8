"""The demo product (example_project): its pages, built on django-polar, against the emulator.

The browser version of the purchase is in tests/e2e; here the Django test client drives the
same views, with the emulator paying and its webhooks going through the real webhook view.
"""

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from django_polar.models import Product, Subscription
from example_project.notes.catalog_seed import JOTTER_SEED
from example_project.notes.embed import TRUSTED_ORIGINS, script_for
from example_project.notes.models import FREE_NOTE_LIMIT, Note, Team
from tests.fixtures import polar_fixture  # noqa: F401  (the `polar` fixture)
from tests.testapp.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]


@pytest.fixture
def polar_emulator_seed():
    """Start from an empty organization; each test makes the catalog it needs."""
    return {}


@pytest.fixture
def jotter(polar):
    """The emulator with Jotter's catalog, mirrored the way the demo does it."""
    polar.seed(JOTTER_SEED)
    call_command("polar_sync", verbosity=0)
    return polar


@pytest.fixture
def ada(client):
    user = User.objects.create_user("ada", "ada@example.com", "pw")
    client.force_login(user)
    return user


def product(name: str) -> Product:
    return Product.objects.get(name=name)


def buy(client, polar, name: str, url_name: str = "django_polar:checkout") -> None:
    response = client.get(reverse(url_name, args=[product(name).pk]), {"format": "json"})
    assert response.status_code == 200, response.content
    polar.pay_checkout(response.json()["id"])


def test_signup_creates_an_account_and_lands_on_pricing(client, jotter):
    response = client.post(
        reverse("notes:signup"),
        {
            "username": "grace",
            "email": "grace@example.com",
            "password1": "a-Long-pass-99",
            "password2": "a-Long-pass-99",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("notes:pricing")
    assert User.objects.filter(username="grace", email="grace@example.com").exists()
    duplicate = client.post(
        reverse("notes:signup"),
        {
            "username": "grace2",
            "email": "GRACE@example.com",
            "password1": "a-Long-pass-99",
            "password2": "a-Long-pass-99",
        },
    )
    assert duplicate.status_code == 200 and b"already exists" in duplicate.content


def test_pricing_page_shows_every_kind_of_plan_from_the_mirror(client, jotter, ada):
    html = client.get(reverse("notes:pricing")).content.decode()
    for name in ("Jotter Pro", "Jotter Pro Yearly", "Jotter Team", "Jotter AI", "Jotter Desktop"):
        assert name in html
    assert "$8" in html and "per month" in html and "$80" in html and "per year" in html
    assert "$6" in html and "per seat" in html  # seat-based
    assert "2¢ per AI summary" in html  # metered
    assert "$49" in html and "one time" in html  # one-time purchase
    assert html.count("data-polar-checkout ") + html.count("data-polar-checkout\n") >= 3
    # Polar's embed script opens `new URL(href)` without a base: hrefs must be absolute.
    assert 'href="http://testserver/polar/checkout/' in html
    assert 'href="http://testserver/checkout/ai/' in html
    assert "data-auto-init" in html  # {% polar_embed_script %}


def test_pricing_page_lets_visitors_buy_as_guests_or_sign_up_first(client, jotter):
    html = client.get(reverse("notes:pricing")).content.decode()
    page = html.split("</header>")[1]
    assert "data-polar-checkout" not in page  # no embedded, named checkout for a visitor
    # Plans a person buys for themselves: a guest checkout, the account comes after.
    assert page.count("data-guest-checkout") >= 3
    assert 'method="post" action="/polar/checkout/' in page and '/guest/"' in page
    # Teams and the metered add-on need an account first.
    assert "Sign up to buy" in page


def test_buying_pro_unlocks_notes_and_the_gated_page(client, jotter, ada):
    for i in range(FREE_NOTE_LIMIT):
        client.post(reverse("notes:notes"), {"title": f"Note {i}", "body": "Hello. World."})
    over = client.post(reverse("notes:notes"), {"title": "One too many", "body": ""})
    assert over["Location"] == reverse("notes:pricing")
    gated = client.get(reverse("notes:insights"))
    assert gated.status_code == 302 and gated["Location"].startswith(reverse("notes:pricing"))

    buy(client, jotter, "Jotter Pro")

    assert client.get(reverse("notes:insights")).status_code == 200
    client.post(reverse("notes:notes"), {"title": "Unlimited now", "body": ""})
    assert Note.objects.filter(owner=ada).count() == FREE_NOTE_LIMIT + 1
    account = client.get(reverse("notes:account")).content.decode()
    assert "Jotter Pro" in account and "Next billing date" in account
    assert "Invoice" in account  # the paid order is listed with an invoice link
    order = ada.orders.get()
    jotter.clock.freeze()
    generating = client.get(reverse("notes:invoice", args=[order.pk]))  # Polar's worker renders it
    assert generating["Location"] == reverse("notes:account")
    jotter.clock.advance(seconds=1)
    invoice = client.get(reverse("notes:invoice", args=[order.pk]))
    assert invoice.status_code == 302
    assert invoice["Location"].startswith("http"), invoice["Location"]  # the PDF at Polar
    client.force_login(User.objects.create_user("eve", "eve@example.com", "pw"))
    assert client.get(reverse("notes:invoice", args=[order.pk])).status_code == 404


def test_account_buttons_cancel_resume_and_change_plan(client, jotter, ada):
    buy(client, jotter, "Jotter Pro")
    sub = ada.subscription()
    client.post(reverse("notes:cancel", args=[sub.pk]))
    page = client.get(reverse("notes:account")).content.decode()
    sub.refresh_from_db()
    assert sub.on_grace_period()
    assert f"Ends on {sub.ends_at:%B} {sub.ends_at.day}, {sub.ends_at:%Y}" in page
    assert client.get(reverse("notes:insights")).status_code == 200  # still Pro until then

    client.post(reverse("notes:resume", args=[sub.pk]))
    sub.refresh_from_db()
    assert not sub.cancel_at_period_end

    yearly = product("Jotter Pro Yearly")
    client.post(reverse("notes:swap", args=[sub.pk]), {"product": str(yearly.pk)})
    sub.refresh_from_db()
    assert sub.product_id == yearly.pk
    assert "Jotter Pro Yearly" in client.get(reverse("notes:account")).content.decode()


def test_account_actions_refuse_someone_elses_subscription(client, jotter, ada):
    buy(client, jotter, "Jotter Pro")
    sub = ada.subscription()
    eve = User.objects.create_user("eve", "eve@example.com", "pw")
    client.force_login(eve)
    assert client.post(reverse("notes:cancel", args=[sub.pk])).status_code == 404
    assert client.post(reverse("notes:swap", args=[sub.pk]), {"product": "x"}).status_code == 404
    sub.refresh_from_db()
    assert not sub.cancel_at_period_end


def test_swap_only_to_offered_plans(client, jotter, ada):
    buy(client, jotter, "Jotter Pro")
    sub = ada.subscription()
    for target in (product("Jotter Desktop").pk, product("Jotter Team").pk, "not-a-uuid"):
        response = client.post(
            reverse("notes:swap", args=[sub.pk]), {"product": str(target)}, follow=True
        )
        assert b"Pick one of the plans offered" in response.content
    sub.refresh_from_db()
    assert sub.product.name == "Jotter Pro"


def test_one_time_purchase_shows_its_license_key(client, jotter, ada):
    buy(client, jotter, "Jotter Desktop")
    page = client.get(reverse("notes:account")).content.decode()
    grant = ada.benefit_grants.get(benefit__type="license_keys")
    assert grant.properties.get("display_key")
    assert grant.properties["display_key"] in page
    assert "Free plan" in page  # a one-time purchase is not a subscription


def test_ai_add_on_is_its_own_subscription_type_and_meters_usage(
    client, jotter, ada, django_capture_on_commit_callbacks
):
    note = Note.objects.create(owner=ada, title="Plan", body="Ship the demo. Then rest.")
    refused = client.post(reverse("notes:summarize", args=[note.pk]))
    assert refused["Location"] == reverse("notes:pricing")

    buy(client, jotter, "Jotter AI", url_name="notes:ai_checkout")
    assert ada.subscribed(type="ai") and not ada.subscribed()  # not Pro

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("notes:summarize", args=[note.pk]), follow=True)
    assert b"Summary: Ship the demo" in response.content
    event = ada.polar_customer.usage_events.get()
    assert event.name == "ai_summary" and event.ingested_at is not None  # sent to Polar
    [meter] = jotter.customer_state(str(ada.polar_customer.pk))["active_meters"]
    assert meter["consumed_units"] == 1


def test_a_team_buys_seats_as_its_own_customer(client, jotter, ada):
    client.post(
        reverse("notes:teams"), {"name": "Lovelace Labs", "billing_email": "labs@example.com"}
    )
    team = Team.objects.get(name="Lovelace Labs")
    url = reverse("notes:team_checkout", args=[team.pk, product("Jotter Team").pk])
    response = client.get(url, {"seats": 4, "format": "json"})
    assert response.status_code == 200, response.content
    jotter.pay_checkout(response.json()["id"])

    team_sub = team.subscription()
    assert team_sub is not None and team_sub.valid() and team_sub.seats == 4
    assert team.polar_customer.external_id == f"notes.team:{team.pk}"
    assert not ada.subscribed()  # the team pays, not the person
    assert "Lovelace Labs" in client.get(reverse("notes:team", args=[team.pk])).content.decode()

    eve = User.objects.create_user("eve", "eve@example.com", "pw")
    client.force_login(eve)
    assert client.get(url, {"seats": 1, "format": "json"}).status_code == 404


def test_pro_only_api_uses_the_drf_permission(client, jotter, ada):
    Note.objects.create(owner=ada, title="Secret", body="")
    assert client.get("/api/notes/export/").status_code == 403
    buy(client, jotter, "Jotter Pro")
    response = client.get("/api/notes/export/")
    assert response.status_code == 200 and response.json()[0]["title"] == "Secret"


def test_embed_script_trusts_the_emulator_only_in_emulator_mode():
    pristine = script_for("sandbox", "http://127.0.0.1:8765")
    assert TRUSTED_ORIGINS in pristine and "127.0.0.1:8765" not in pristine
    patched = script_for("emulator", "http://127.0.0.1:9999/")
    assert f"{TRUSTED_ORIGINS},http://127.0.0.1:9999" in patched
    assert len(patched) - len(pristine) == 5 * len(",http://127.0.0.1:9999")


def test_subscriptions_stay_per_customer(client, jotter, ada):
    bob = User.objects.create_user("bob", "bob@example.com", "pw")
    bobs = Client()
    bobs.force_login(bob)
    buy(client, jotter, "Jotter Pro")
    assert ada.subscribed() and not bob.subscribed()
    assert bobs.get("/api/billing/state/").json()["subscriptions"] == []
    buy(bobs, jotter, "Jotter Pro Yearly")

    def plans(user) -> list[str]:
        rows = Subscription.objects.filter(customer__external_id=user.get_polar_external_id())
        return list(rows.values_list("product__name", flat=True))

    def plans_shown(browser) -> list[str]:
        subscriptions = browser.get("/api/billing/state/").json()["subscriptions"]
        return [sub["product"]["name"] for sub in subscriptions]

    assert plans(ada) == plans_shown(client) == ["Jotter Pro"]
    assert plans(bob) == plans_shown(bobs) == ["Jotter Pro Yearly"]
