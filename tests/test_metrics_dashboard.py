"""The billing dashboard (admin) and ``polar_metrics``: one set of figures from the mirror,
drawn without a Polar call, and compared with Polar's /v1/metrics/ on request."""

# Fixtures come from tests.sync_helpers; pytest passes them by name (F811 is expected).
# ruff: noqa: F811

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_polar import metrics
from django_polar.client import get_client
from django_polar.models import Subscription, UsageEvent, WebhookEvent
from tests.sync_helpers import deliver_to_webhook_view, emu, fast_retries, transport  # noqa: F401

pytestmark = pytest.mark.django_db

User = get_user_model()


def buy(emu, product: str, username: str) -> None:
    checkout = get_client().create_checkout(
        {"products": [emu.ids[product]], "external_customer_id": f"user:{username}"}
    )
    emu.pay_checkout(checkout["id"], email=f"{username}@example.com")


@pytest.fixture
def shop(emu, transport):
    """Three customers through the real webhook view: a yearly plan, a monthly plan still on
    its trial, and a yearly plan canceled at period end; one failed event, one unsent usage."""
    emu.seed(emu.default_seed())
    deliver_to_webhook_view(emu)
    buy(emu, "pro-yearly", "ada")
    buy(emu, "pro-monthly", "bob")
    buy(emu, "pro-yearly", "cy")
    cy = Subscription.objects.get(customer__email="cy@example.com")
    get_client().update_subscription(str(cy.id), {"cancel_at_period_end": True})
    WebhookEvent.objects.create(
        webhook_id="msg_broken", type="order.paid", payload={}, status="failed"
    )
    UsageEvent.objects.create(
        name="api_call", external_customer_id="user:ada", timestamp=cy.created_at
    )
    return emu


def test_figures_follow_polars_rules(shop):
    figures = metrics.compute()
    assert figures.active == 3
    # Two yearly plans at USD 120/year are USD 10/month each; the trial brings nothing yet.
    assert figures.mrr == {"usd": 2000}
    assert figures.active_by_plan == [("Pro Yearly", 2), ("Pro Monthly", 1)]
    thirty = figures.windows[0]
    assert (thirty.days, thirty.new, thirty.canceled, thirty.past_due) == (30, 3, 1, 0)
    assert figures.revenue_by_month[-1][1] == {"usd": 24000}  # two paid yearly orders
    assert figures.failed_webhooks == 1 and figures.pending_usage == 1


def test_dashboard_renders_svg_charts_without_calling_polar(shop, transport, admin_client):
    before = len(transport.requests)
    response = admin_client.get(reverse("admin:django_polar_dashboard"))
    assert response.status_code == 200
    assert len(transport.requests) == before  # drawn from the mirror only
    html = response.content.decode()
    assert '<svg class="polar-chart" data-chart="active-by-plan"' in html
    bars = dict(re.findall(r'data-label="([^"]+)" data-value="(\d+)"', html))
    assert bars["Pro Yearly"] == "2" and bars["Pro Monthly"] == "1"
    assert "USD 20.00" in html and "<script" not in html.split('id="content-main"')[1]


def test_dashboard_needs_the_view_permission(shop, client):
    staff = User.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:django_polar_dashboard")).status_code == 403
    client.logout()
    assert client.get(reverse("admin:django_polar_dashboard")).status_code == 302


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("polar_metrics", *args, stdout=out)
    return out.getvalue()


def test_command_prints_the_same_figures_and_agrees_with_polar(shop):
    out = run("--compare")
    assert "MRR (USD): USD 20.00" in out
    assert "Active subscriptions: 3" in out and "  Pro Yearly: 2" in out
    assert "Last 30 days: 3 new, 1 canceled, 0 past due" in out
    assert "Failed webhooks: 1" in out and "Usage events not yet sent: 1" in out
    assert "active_subscriptions: mirror 3, Polar 3 (same)" in out
    assert "monthly_recurring_revenue: mirror 2000, Polar 2000 (same)" in out


def test_compare_reports_a_mirror_that_drifted(shop):
    # A cancellation whose webhook never arrived: Polar ended the plan, the mirror did not.
    ada = Subscription.objects.get(customer__email="ada@example.com")
    shop.autodeliver = False
    get_client().revoke_subscription(str(ada.id))
    with pytest.raises(CommandError, match="polar_sync"):
        run("--compare")
