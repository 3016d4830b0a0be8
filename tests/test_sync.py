"""polar_sync against the emulator: thousands of objects, faults, --prune, --since, races."""

# Fixtures come from tests.sync_helpers; pytest passes them by name (F811 is expected).
# ruff: noqa: F811

from __future__ import annotations

import io
import json
import math
import re

import pytest
from django.core.management import CommandError, call_command

from django_polar.models import Benefit, Customer, Order, Product, Subscription
from django_polar.sync import Syncer
from tests.sync_helpers import (  # noqa: F401  (fixtures)
    CountingTransport,
    deliver_to_webhook_view,
    emu,
    fast_retries,
    transport,
)

pytestmark = pytest.mark.django_db(transaction=False)

FAST = ["--rate", "1000000", "--no-progress"]
N_CUSTOMERS, N_SUBSCRIPTIONS, N_ORDERS = 2_300, 1_250, 1_420


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("polar_sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def summary(output: str) -> dict[str, dict[str, int]]:
    """The final table as {kind: {column: number}}."""
    lines = [line for line in output.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("kind "))
    header = lines[start].split()[1:-1]
    rows = {}
    for line in lines[start + 1 :]:
        match = re.match(r"^(\S+)\s+([\d,\s]+?)\s+[\d.]+s", line)
        if not match:
            break
        numbers = [int(n.replace(",", "")) for n in match.group(2).split()]
        rows[match.group(1)] = dict(zip(header, numbers, strict=True))
    return rows


@pytest.fixture
def big(emu):
    return emu.bulk_seed(customers=N_CUSTOMERS, subscriptions=N_SUBSCRIPTIONS, orders=N_ORDERS)


def test_sync_all_mirrors_thousands_of_objects_and_a_rerun_changes_nothing(emu, transport, big):
    out, _ = run("all", *FAST)
    table = summary(out)
    assert table["customers"]["created"] == N_CUSTOMERS
    assert table["subscriptions"]["created"] == N_SUBSCRIPTIONS
    assert table["orders"]["created"] == N_ORDERS
    assert all(row["failed"] == 0 for row in table.values())
    assert Customer.objects.count() == N_CUSTOMERS
    assert Subscription.objects.count() == N_SUBSCRIPTIONS
    assert Order.objects.filter(paid=True).count() == N_ORDERS
    sub_id = big["subscriptions"][1234]
    assert Subscription.objects.get(pk=sub_id).customer_id is not None
    # One request per page, pages of 100.
    assert transport.count("/v1/customers/") == math.ceil(N_CUSTOMERS / 100)
    assert transport.count("/v1/orders/") == math.ceil(N_ORDERS / 100)
    assert all("limit=100" in line for line in transport.requests)

    again = summary(run("all", *FAST)[0])
    for kind, row in again.items():
        assert row["created"] == row["updated"] == row["failed"] == 0, kind
        assert row["unchanged"] == row["fetched"], kind
    assert again["orders"]["unchanged"] == N_ORDERS


def test_a_429_in_the_middle_slows_down_but_loses_nothing(emu, transport):
    emu.bulk_seed(customers=1_500)

    def rate_limit_at_page_6(number, request):
        if number == 6:
            # More 429s than the client retries: the engine has to pause and retry the page.
            emu.faults.fail_next(5, status=429)

    transport.before = rate_limit_at_page_6
    syncer = Syncer(rate_per_minute=1_000_000, concurrency=1)
    result = syncer.sync_kind("customers")
    assert transport.statuses.count(429) == 5
    assert result.failed == 0 and result.ok
    assert result.created == 1_500
    assert Customer.objects.count() == 1_500
    # 15 pages, one of them asked twice by the engine (the client's own retries come on top).
    assert result.api_calls == 16


def test_honours_retry_after_from_the_rate_limiter(emu, transport, settings):
    emu.bulk_seed(customers=250)
    settings.POLAR = {**settings.POLAR, "MAX_RETRIES": 0}
    emu.faults.rate_limit = 1  # the second request of the minute gets 429 + Retry-After
    slept: list[float] = []
    syncer = Syncer(rate_per_minute=1_000_000, concurrency=1)

    def lift_limit(seconds):
        slept.append(seconds)
        emu.faults.rate_limit = None  # time "passes": the window is free again

    syncer.pacer._sleep = lift_limit
    result = syncer.sync_kind("customers")
    assert 429 in transport.statuses
    assert result.created == 250 and result.ok
    # The pause matches the emulator's Retry-After (seconds until the window frees up).
    assert slept and 55 <= max(slept) <= 60


def test_a_failing_object_is_counted_the_rest_is_written_and_the_exit_code_says_so(emu, transport):
    ids = emu.bulk_seed(customers=300, subscriptions=450)
    broken = ids["subscriptions"][0]

    def corrupt(request, body):
        for item in body.get("items", []):
            if item["id"] == broken:
                item["customer"] = {**item["customer"], "id": "not-a-uuid"}
                item["customer_id"] = "not-a-uuid"
        return body

    transport.rewrite = corrupt
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 object"):
        call_command("polar_sync", "customers", "subscriptions", *FAST, stdout=out, stderr=err)
    table = summary(out.getvalue())
    assert table["subscriptions"]["failed"] == 1
    assert table["subscriptions"]["created"] == 449
    assert broken in err.getvalue()
    assert Subscription.objects.count() == 449
    assert not Subscription.objects.filter(pk=broken).exists()


def test_prune_archives_what_polar_no_longer_lists_and_keeps_history(emu, transport):
    emu.seed(emu.default_seed())
    run("products", "benefits", *FAST)
    gone = Product.objects.create(id="6f1c3c44-0000-4000-8000-000000000001", name="Old plan")
    benefit_id = emu.ids["pro-features"]
    # A benefit deleted in Polar's dashboard (no webhook arrived).
    emu.handle("DELETE", f"/v1/benefits/{benefit_id}", {"authorization": "Bearer x"})

    out, _ = run("products", "benefits", "--prune", *FAST)
    table = summary(out)
    gone.refresh_from_db()
    assert gone.is_archived and gone.data["is_archived"] is True
    assert table["products"]["archived"] == 1
    assert Benefit.objects.get(pk=benefit_id).is_deleted
    assert table["benefits"]["archived"] == 1
    assert Product.objects.filter(is_archived=False).count() == len(emu.store.products)
    assert Product.objects.filter(pk=gone.pk).exists()  # never deleted


def test_prune_is_skipped_when_a_page_was_lost(emu, transport):
    emu.bulk_seed(customers=1)
    emu.seed({"products": [{"key": f"p{i}", "name": f"Plan {i}", "prices": [{"amount": 100}]}
                           for i in range(150)]})  # fmt: skip
    local = Product.objects.create(id="6f1c3c44-0000-4000-8000-000000000002", name="Local only")

    def lose_page_2(number, request):
        if "page=2" in str(request.url):
            emu.faults.fail_next(10, status=503)

    transport.before = lose_page_2
    syncer = Syncer(rate_per_minute=1_000_000, prune=True, sleep=lambda s: None)
    result = syncer.sync_kind("products")
    local.refresh_from_db()
    assert not local.is_archived
    assert result.failed > 0
    assert any("not pruned" in error for error in result.errors)


def test_syncing_refunds_shows_them_on_orders_synced_before_them(emu, transport):
    """Refunds made while no webhook reached the app: ``polar_sync refunds`` alone brings
    them, and the orders mirrored before them show the refunded amount and status."""
    ids = emu.bulk_seed(customers=2, orders=2)
    run("customers", "orders", *FAST)
    partly, fully = ids["orders"]
    auth = {"authorization": "Bearer x"}
    for order_id, amount in ((partly, 100), (fully, emu.store.orders[fully]["net_amount"])):
        body = {"order_id": order_id, "reason": "customer_request", "amount": amount}
        status, _, _ = emu.handle("POST", "/v1/refunds/", auth, json.dumps(body).encode())
        assert status == 201
    table = summary(run("refunds", *FAST)[0])
    assert (table["refunds"]["created"], table["refunds"]["failed"]) == (2, 0)
    rows = {str(o.pk): o for o in Order.objects.all()}
    assert (rows[partly].refunded_amount, rows[partly].status) == (100, "partially_refunded")
    assert rows[fully].status == "refunded"
    assert rows[fully].refunded_amount == emu.store.orders[fully]["net_amount"]


def test_since_applies_only_objects_modified_after_it(emu, transport):
    ids = emu.bulk_seed(customers=640)
    emu.clock.advance(days=3)
    for customer_id in ids["customers"][:3]:
        emu.handle(
            "PATCH", f"/v1/customers/{customer_id}", {"authorization": "Bearer x"},
            b'{"name": "Renamed"}',
        )  # fmt: skip
    since = emu.clock.now().date().isoformat()  # the day of the changes, 3 days after seeding
    out, _ = run("customers", "--since", since, *FAST)
    table = summary(out)
    assert table["customers"]["created"] == 3
    assert table["customers"]["before-since"] == 637
    assert set(Customer.objects.values_list("name", flat=True)) == {"Renamed"}
    assert "no 'modified after' filter" in out


def test_dry_run_reports_and_writes_nothing(emu, transport):
    emu.bulk_seed(customers=350, subscriptions=120)
    out, _ = run("all", "--dry-run", *FAST)
    table = summary(out)
    assert "Dry run" in out
    assert table["customers"]["created"] == 350
    assert table["subscriptions"]["created"] == 120
    assert Customer.objects.count() == 0 and Subscription.objects.count() == 0


def test_a_sync_never_overwrites_a_newer_webhook(emu, transport):
    ids = emu.bulk_seed(customers=50, subscriptions=250)
    deliver_to_webhook_view(emu)
    assert not emu.sent_events
    # On page 1 (newest first), which the calling thread fetches: the webhook view then
    # runs in the test's own database connection.
    raced = ids["subscriptions"][-5]

    def webhook_lands_mid_sync(request, body):
        # Polar served the page with the old snapshot of ``raced``; before the sync writes
        # it, the subscription is canceled and the webhook reaches the app.
        if any(item["id"] == raced for item in body.get("items", [])) and not emu.sent_events:
            emu.clock.advance(minutes=5)
            emu.cancel_subscription(raced)
        return body

    transport.rewrite = webhook_lands_mid_sync
    syncer = Syncer(rate_per_minute=1_000_000, concurrency=1)
    syncer.sync_kind("customers")
    result = syncer.sync_kind("subscriptions")
    sub = Subscription.objects.get(pk=raced)
    assert emu.subscriptions.get(raced)["cancel_at_period_end"] is True
    assert sub.cancel_at_period_end is True  # the webhook's newer state won
    assert result.skipped_older == 1
    assert result.created + result.unchanged + result.updated == 249


def test_ctrl_c_keeps_whole_pages_only(emu, transport):
    emu.bulk_seed(customers=520)

    class InterruptedSyncer(Syncer):
        pages = 0

        def write_page(self, kind, items):
            counts = super().write_page(kind, items)
            self.pages += 1
            if self.pages == 3:
                raise KeyboardInterrupt  # Ctrl-C while page 3 is being written
            return counts

    syncer = InterruptedSyncer(rate_per_minute=1_000_000, concurrency=2)
    with pytest.raises(KeyboardInterrupt):
        syncer.sync_kind("customers")
    assert Customer.objects.count() == 200  # pages 1 and 2; page 3 rolled back
    assert syncer.results[0].interrupted
    # A second run finishes the job.
    result = Syncer(rate_per_minute=1_000_000).sync_kind("customers")
    assert result.created == 320 and result.unchanged == 200


def test_progress_lines_when_not_a_terminal(emu, transport):
    emu.bulk_seed(customers=250)
    out, err = io.StringIO(), io.StringIO()
    call_command("polar_sync", "customers", "--rate", "1000000", stdout=out, stderr=err)
    assert "customers: 250/250" in err.getvalue()
    assert "\r" not in err.getvalue()


def test_bad_arguments_are_clear_errors(emu, transport):
    with pytest.raises(CommandError, match="unknown kind 'invoices'"):
        run("invoices")
    with pytest.raises(CommandError, match="--since 'soon'"):
        run("--since", "soon")
    with pytest.raises(CommandError, match="--rate"):
        run("--rate", "0")
