"""The mirror admin through the real admin views, with data synced from the emulator."""

# Fixtures come from tests.sync_helpers; pytest passes them by name (F811 is expected).
# ruff: noqa: F811

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from django_polar.client import get_client
from django_polar.models import (
    Benefit,
    BenefitGrant,
    Customer,
    Order,
    Price,
    Product,
    Refund,
    Subscription,
    UsageEvent,
)
from tests.sync_helpers import emu, fast_retries, transport  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

User = get_user_model()
MODELS = [Customer, Product, Price, Benefit, Subscription, Order, BenefitGrant, Refund, UsageEvent]


def admin_url(model, action="changelist", *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{action}", args=args)


@pytest.fixture
def billing(emu, transport):
    """A catalog, a paying user (subscription, order, grants), a refund; all mirrored."""
    emu.seed(emu.default_seed())
    buyer = User.objects.create(username="ada", email="ada@example.com")
    client = get_client()
    customer = client.create_customer({
        "email": "ada@example.com", "name": "Ada <script>alert(1)</script>",
        "external_id": buyer.get_polar_external_id(),
    })  # fmt: skip
    for product in ("pro-yearly", "lifetime"):
        checkout = client.create_checkout(
            {"products": [emu.ids[product]], "customer_id": customer["id"]}
        )
        emu.pay_checkout(checkout["id"])
    order = next(o for o in emu.store.orders.values() if o["billing_reason"] == "purchase")
    client.create_refund({"order_id": order["id"], "reason": "customer_request", "amount": 1000})
    call_command("polar_sync", "all", "--no-progress", stdout=io.StringIO())
    UsageEvent.objects.create(
        name="api_call", customer=Customer.objects.get(), timestamp="2026-11-01T00:00:00Z"
    )
    return {"buyer": buyer, "customer_id": customer["id"]}


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_every_mirror_model_has_changelist_and_change_pages(billing, staff):
    secrets = [settings.POLAR["ACCESS_TOKEN"], settings.POLAR["WEBHOOK_SECRET"]]
    for model in MODELS:
        assert model.objects.exists(), model
        listing = staff.get(admin_url(model))
        assert listing.status_code == 200, model
        obj = model.objects.first()
        page = staff.get(admin_url(model, "change", obj.pk))
        assert page.status_code == 200, model
        for response in (listing, page):
            body = response.content.decode()
            assert not any(secret in body for secret in secrets), model
        if model is not UsageEvent:
            body = page.content.decode()
            assert 'class="polar-json"' in body, model
            assert f"&quot;id&quot;: &quot;{obj.pk}&quot;" in body, model  # escaped, pretty


def test_json_and_names_are_escaped(billing, staff):
    customer = Customer.objects.get()
    body = staff.get(admin_url(Customer, "change", customer.pk)).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_rows_are_read_only(billing, staff):
    sub = Subscription.objects.get()
    assert staff.get(admin_url(Subscription, "add")).status_code == 403
    assert staff.get(admin_url(Subscription, "delete", sub.pk)).status_code == 403
    response = staff.post(admin_url(Subscription, "change", sub.pk), {"status": "canceled"})
    assert response.status_code == 403
    sub.refresh_from_db()
    assert sub.status == "active"


def test_search_by_email_external_id_and_polar_id(billing, staff):
    buyer = billing["buyer"]
    sub = Subscription.objects.get()
    order_ids = {str(pk) for pk in Order.objects.values_list("pk", flat=True)}

    def found(model, term):
        response = staff.get(admin_url(model), {"q": term})
        assert response.status_code == 200
        return {str(obj.pk) for obj in response.context["cl"].result_list}

    assert found(Customer, "ada@example") == {billing["customer_id"]}
    assert found(Customer, buyer.get_polar_external_id()) == {billing["customer_id"]}
    assert found(Customer, "nobody@example.com") == set()
    assert found(Subscription, "ada@example.com") == {str(sub.pk)}
    assert found(Subscription, str(sub.pk)) == {str(sub.pk)}
    # A customer's Polar id finds their orders (any related id column matches).
    assert found(Order, billing["customer_id"]) == order_ids
    assert found(Order, buyer.get_polar_external_id()) == order_ids


def test_filters_by_status_product_and_type(billing, staff):
    sub = Subscription.objects.get()
    response = staff.get(
        admin_url(Subscription), {"status": "active", "product__id__exact": sub.product_id}
    )
    assert [s.pk for s in response.context["cl"].result_list] == [sub.pk]
    assert not staff.get(admin_url(Subscription), {"status": "canceled"}).context["cl"].result_list
    benefits = staff.get(admin_url(Benefit), {"type": "license_keys"}).context["cl"].result_list
    assert {b.type for b in benefits} == {"license_keys"}


def test_the_customer_s_cancellation_reason_filters_and_shows(billing, staff, emu):
    sub = Subscription.objects.get()
    emu.cancel_subscription(str(sub.pk), reason="too_complex", comment="Too many knobs.")
    call_command("polar_sync", "subscriptions", "--no-progress", stdout=io.StringIO())
    url = admin_url(Subscription)
    found = staff.get(url, {"customer_cancellation_reason": "too_complex"}).context["cl"]
    assert [s.pk for s in found.result_list] == [sub.pk]
    assert not staff.get(url, {"customer_cancellation_reason": "unused"}).context["cl"].result_list
    page = staff.get(admin_url(Subscription, "change", sub.pk)).content.decode()
    assert "Too complicated" in page and "Too many knobs." in page


def test_resync_action_pulls_the_current_state_from_polar(billing, staff, emu):
    sub = Subscription.objects.get()
    emu.clock.advance(minutes=1)
    emu.cancel_subscription(str(sub.pk))  # no webhook endpoint: the mirror does not know
    response = staff.post(
        admin_url(Subscription),
        {"action": "resync_from_polar", "_selected_action": [str(sub.pk)]},
        follow=True,
    )
    sub.refresh_from_db()
    assert sub.cancel_at_period_end is True
    messages = [str(m) for m in response.context["messages"]]
    assert any("Re-synced 1 from Polar: 1 updated" in m for m in messages)


def test_resync_of_grants_and_prices_uses_their_parents(billing, staff, emu):
    grant_ids = [str(pk) for pk in BenefitGrant.objects.values_list("pk", flat=True)]
    response = staff.post(
        admin_url(BenefitGrant),
        {"action": "resync_from_polar", "_selected_action": grant_ids},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any(f"Re-synced {len(grant_ids)} from Polar" in m for m in messages)
    price = Price.objects.first()
    response = staff.post(
        admin_url(Price),
        {"action": "resync_from_polar", "_selected_action": [str(price.pk)]},
        follow=True,
    )
    assert any("Re-synced 1 from Polar" in str(m) for m in response.context["messages"])


def test_resync_reports_objects_gone_from_polar(billing, staff):
    ghost = Product.objects.create(id="6f1c3c44-0000-4000-8000-00000000abcd", name="Ghost")
    response = staff.post(
        admin_url(Product),
        {"action": "resync_from_polar", "_selected_action": [str(ghost.pk)]},
        follow=True,
    )
    assert any(
        f"Not found in Polar: product {ghost.pk}" in str(m) for m in response.context["messages"]
    )


def test_dashboard_link_opens_the_object_in_polars_dashboard(billing, staff, emu):
    customer = Customer.objects.get()
    page = staff.get(admin_url(Customer, "change", customer.pk)).content.decode()
    link = admin_url(Customer, "dashboard", customer.pk)
    assert link in page
    response = staff.get(link)
    assert response.status_code == 302
    slug = emu.store.organization["slug"]
    assert (
        response["Location"]
        == f"{settings.POLAR.get('EMULATOR_URL', 'http://127.0.0.1:8765')}/dashboard/{slug}/customers/{customer.pk}"
    )
    assert staff.get(admin_url(Customer, "dashboard", "not-a-uuid")).status_code == 404


def test_dashboard_links_follow_the_server_setting(billing, staff, settings):
    from django.core.cache import cache

    cache.clear()
    settings.POLAR = {**settings.POLAR, "SERVER": "sandbox"}
    order = Order.objects.first()
    response = staff.get(admin_url(Order, "dashboard", order.pk))
    assert response["Location"].startswith("https://sandbox.polar.sh/dashboard/")
    assert response["Location"].endswith(f"/sales/{order.pk}")


def test_billable_admin_shows_the_polar_customer_and_subscriptions(billing, staff):
    buyer = billing["buyer"]
    sub = Subscription.objects.get()
    body = staff.get(reverse("admin:testapp_user_change", args=[buyer.pk])).content.decode()
    assert "Polar billing" in body
    assert admin_url(Customer, "change", billing["customer_id"]) in body
    assert admin_url(Subscription, "change", sub.pk) in body
    assert "Pro Yearly" in body and "active" in body
    assert "Polar customer" in body  # the inline with the linked row

    nobody = User.objects.create(username="newbie")
    body = staff.get(reverse("admin:testapp_user_change", args=[nobody.pk])).content.decode()
    assert "No Polar customer yet" in body


def test_staff_without_permission_cannot_resync(billing, client):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_subscription"))
    client.force_login(viewer)
    response = client.get(admin_url(Subscription))
    assert response.status_code == 200
    assert b"resync_from_polar" not in response.content


def test_changelists_do_not_query_per_row(emu, transport, staff, django_assert_max_num_queries):
    emu.bulk_seed(customers=40, subscriptions=40, orders=40)
    call_command("polar_sync", "all", "--no-progress", stdout=io.StringIO())
    for model in (Customer, Product, Price, Subscription, Order):
        assert model.objects.count() >= 2
        with django_assert_max_num_queries(12):
            assert staff.get(admin_url(model)).status_code == 200


def test_resync_of_too_many_rows_points_to_polar_sync(emu, transport, staff):
    emu.bulk_seed(customers=101)
    call_command("polar_sync", "customers", "--no-progress", stdout=io.StringIO())
    calls = len(transport.requests)
    ids = [str(pk) for pk in Customer.objects.values_list("pk", flat=True)]
    response = staff.post(
        admin_url(Customer), {"action": "resync_from_polar", "_selected_action": ids}, follow=True
    )
    assert any("run `manage.py polar_sync`" in str(m) for m in response.context["messages"])
    assert len(transport.requests) == calls  # nothing was fetched
