"""polar_products, polar_reconcile and polar_customers against the emulator."""

# Fixtures come from tests.sync_helpers; pytest passes them by name (F811 is expected).
# ruff: noqa: F811

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from django_polar.client import get_client
from django_polar.models import BenefitGrant, Customer, Subscription
from tests.sync_helpers import emu, fast_retries, transport  # noqa: F401  (fixtures)
from tests.testapp.models import Team

pytestmark = pytest.mark.django_db

User = get_user_model()


def call(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def catalog(emu, transport):
    emu.seed(emu.default_seed())
    emu.catalog.update_product(emu.ids["donation"], {"is_archived": True})
    return emu


def rows_of(output: str) -> list[list[str]]:
    lines = output.splitlines()
    return [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines[2:-1]]


# -- polar_products ---------------------------------------------------------------------------


def test_products_lists_the_catalog_with_readable_prices(catalog):
    out, _ = call("polar_products")
    assert out.splitlines()[0].split() == ["id", "name", "prices", "recurring", "archived"]
    pro = next(line for line in out.splitlines() if "Pro Monthly" in line)
    assert catalog.ids["pro-monthly"] in pro
    assert "USD 12.00/month" in pro and "monthly" in pro
    assert "from USD 8.00/seat/month" in out
    assert "USD 0.005/API calls" in out  # metered unit price: 0.5 cents
    donation = next(line for line in out.splitlines() if "Donation" in line)
    assert "pay what you want (min USD 1.00)" in donation and donation.rstrip().endswith("yes")
    assert "6 product(s) from the Polar." in out

    active, _ = call("polar_products", "--active")
    assert "Donation" not in active and "Pro Yearly" in active


def test_products_local_reads_the_mirror_and_matches_polar(catalog):
    empty, _ = call("polar_products", "--local")
    assert "No products (local mirror). Run `manage.py polar_sync`" in empty
    call("polar_sync", "--no-progress")
    remote, _ = call("polar_products")
    local, _ = call("polar_products", "--local")
    assert sorted(map(tuple, rows_of(local))) == sorted(map(tuple, rows_of(remote)))
    assert "from the local mirror" in local


# -- polar_reconcile --------------------------------------------------------------------------


@pytest.fixture
def subscribed_user(catalog):
    """A user who paid a checkout in Polar; no webhook ever reached the app."""
    user = User.objects.create(username="ada", email="ada@example.com")
    checkout = get_client().create_checkout(
        {
            "products": [catalog.ids["pro-monthly"]],
            "external_customer_id": user.get_polar_external_id(),
        }
    )
    catalog.pay_checkout(checkout["id"], email="ada@example.com")
    call("polar_sync", "--no-progress")  # the catalog is mirrored; the purchase is not
    return user


def test_reconcile_repairs_a_billable_and_reports_the_changes(subscribed_user, catalog):
    assert not Subscription.objects.exists()
    out, _ = call("polar_reconcile", "--billable", subscribed_user.get_polar_external_id())
    sub = Subscription.objects.get()
    assert (
        sub.status == "trialing"
        and sub.customer.external_id == subscribed_user.get_polar_external_id()
    )
    assert f"subscription {sub.pk} (Pro Monthly): added, trialing" in out
    assert BenefitGrant.objects.granted().count() == 2
    assert "benefit grant" in out and "added, granted" in out
    assert "1 customer(s): 1 changed, 0 already right" in out
    assert subscribed_user.on_trial()  # the app now answers from the repaired mirror

    again, _ = call("polar_reconcile")
    assert "1 customer(s): 0 changed, 1 already right" in again


def test_reconcile_catches_a_revocation_whose_webhook_was_lost(subscribed_user, catalog):
    call("polar_reconcile", "--billable", subscribed_user.get_polar_external_id())
    sub = Subscription.objects.get()
    catalog.clock.advance(minutes=1)
    catalog.revoke_subscription(str(sub.pk))

    dry, _ = call("polar_reconcile", "--dry-run")
    assert "would change" in dry and "trialing" in dry and "-> canceled" in dry
    assert Subscription.objects.get().status == "trialing"

    out, _ = call("polar_reconcile")
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.ended_at is not None  # the real object, fetched
    assert f"subscription {sub.pk} (Pro Monthly): trialing" in out and "-> canceled" in out
    assert "granted -> revoked" in out
    assert not BenefitGrant.objects.granted().exists()


def test_reconcile_reports_customers_gone_from_polar(subscribed_user, catalog):
    call("polar_reconcile", "--billable", subscribed_user.get_polar_external_id())
    customer = Customer.objects.get()
    catalog.handle("DELETE", f"/v1/customers/{customer.pk}", {"authorization": "Bearer x"})
    out, _ = call("polar_reconcile")
    assert "not found in Polar" in out and "1 not found in Polar" in out


def test_reconcile_refuses_unknown_billables_and_bad_ids(catalog):
    with pytest.raises(CommandError, match="names no billable"):
        call("polar_reconcile", "--billable", "testapp.user:999")
    with pytest.raises(CommandError, match="not a Polar customer id"):
        call("polar_reconcile", "--customer", "cus_123")


# -- polar_customers link ---------------------------------------------------------------------


def test_link_connects_existing_polar_customers_to_billables_by_external_id(catalog):
    user = User.objects.create(username="grace", email="grace@example.com")
    team = Team.objects.create(name="Analytical", owner=user)
    lonely = User.objects.create(username="lonely", email="lonely@example.com")
    client = get_client()
    client.create_customer(
        {"email": "grace@example.com", "external_id": user.get_polar_external_id()}
    )
    client.create_customer(
        {"email": "team@example.com", "external_id": team.get_polar_external_id(), "type": "team"}
    )
    client.create_customer({"email": "gone@example.com", "external_id": "testapp.user:424242"})
    client.create_customer({"email": "legacy@example.com"})

    dry, _ = call("polar_customers", "link", "--dry-run")
    assert "Would link: grace@example.com (testapp.user:" in dry
    assert "2 would link" in dry
    assert not Customer.objects.exists()

    out, _ = call("polar_customers", "link")
    assert (
        "4 Polar customer(s): 2 linked, 0 already linked, 1 with an external id naming no billable, 1 without external id"
        in out
    )
    assert "No billable for external id: gone@example.com (testapp.user:424242)" in out
    assert user.polar_customer.billable_id == str(user.pk)
    assert Customer.objects.get(email="team@example.com").billable == team
    assert lonely.polar_customer is None

    again, _ = call("polar_customers", "link")
    assert "0 linked, 2 already linked" in again


def test_link_needs_an_action():
    with pytest.raises(CommandError):
        call("polar_customers")


def test_link_never_steals_a_billable_linked_to_another_customer(catalog):
    from tests.fixtures import make_customer

    user = User.objects.create(username="kay", email="kay@example.com")
    make_customer(user, external_id=None)  # an older customer row already owns the link
    get_client().create_customer(
        {"email": "kay2@example.com", "external_id": user.get_polar_external_id()}
    )
    out, err = call("polar_customers", "link")
    assert "1 conflict(s)" in out
    assert "Conflict: kay2@example.com" in err
    assert Customer.objects.get(email="kay2@example.com").billable_id is None


# -- polar_sync: Ctrl-C -----------------------------------------------------------------------


def test_sync_ctrl_c_exits_130_with_a_summary_and_whole_pages(emu, transport, monkeypatch):
    from django_polar.sync import Syncer

    emu.bulk_seed(customers=250)
    write_page = Syncer.write_page
    written = []

    def interrupted_after_first_page(self, kind, items):
        if written:
            raise KeyboardInterrupt  # Ctrl-C while page 2 is being written
        written.append(len(items))
        return write_page(self, kind, items)

    monkeypatch.setattr(Syncer, "write_page", interrupted_after_first_page)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="Interrupted") as interrupted:
        call_command(
            "polar_sync", "customers", "--rate", "1000000", "--no-progress", stdout=out, stderr=err
        )
    assert interrupted.value.returncode == 130
    assert written == [100]
    assert Customer.objects.count() == 100  # page 1 kept whole, page 2 rolled back
    line = next(line for line in out.getvalue().splitlines() if line.startswith("customers"))
    assert line.endswith("(interrupted)")
    assert line.split()[2] == "100"  # created: what the database really holds

    monkeypatch.undo()
    out, _ = call("polar_sync", "customers", "--rate", "1000000", "--no-progress")
    assert Customer.objects.count() == 250  # the next run finishes the job
