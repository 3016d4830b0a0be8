"""Pruning goes through the mirror (``mirror.archive``), and ``--since`` copes with any time.

Fixtures come from tests.sync_helpers; pytest passes them by name (F811 is expected).
"""

# ruff: noqa: F811

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from django_polar import mirror
from django_polar.mirror.archive import archive_missing
from django_polar.models import Benefit, Product
from django_polar.sync import Syncer
from tests import polar_payloads as pp
from tests.fixtures import make_product
from tests.sync_helpers import emu, fast_retries, transport  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def test_archive_missing_flags_unlisted_rows_and_deletes_nothing():
    kept, gone = make_product("Kept"), make_product("Gone")
    benefit = Benefit.objects.create(id="6f1c3c44-0000-4000-8000-0000000000b1", type="custom")
    assert archive_missing("product", [str(kept.pk)], dry_run=True) == 1
    assert not Product.objects.get(pk=gone.pk).is_archived  # a dry run writes nothing
    assert archive_missing("product", [str(kept.pk)]) == 1
    gone.refresh_from_db()
    assert gone.is_archived and gone.data["is_archived"] is True
    assert list(Product.objects.active()) == [kept]
    assert Product.objects.count() == 2  # history stays
    assert archive_missing("benefit", []) == 1
    benefit.refresh_from_db()
    assert benefit.is_deleted and benefit.data["is_deleted"] is True
    assert archive_missing("product", [str(kept.pk)]) == 0  # already archived


def test_pruning_keeps_the_rest_of_the_stored_json_and_logs_what_it_marked(caplog):
    """The archived product still reads as Polar last showed it (name, prices, metadata),
    with Polar's own flag added; the log says how many rows of which kind were marked."""
    prod_id = pp.new_id()
    product = mirror.upsert_product(pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], []))
    before = dict(product.data)
    with caplog.at_level(logging.INFO, logger="django_polar.mirror"):
        assert archive_missing("product", []) == 1
    product.refresh_from_db()
    assert product.data == {**before, "is_archived": True}
    assert [r.getMessage() for r in caplog.records if r.name == "django_polar.mirror"] == [
        "Marked 1 product row(s) is_archived: Polar no longer lists them."
    ]


def test_archive_missing_leaves_rows_written_after_the_listing_began():
    listing_began = timezone.now() - timedelta(seconds=5)
    arrived_by_webhook = make_product("New plan")  # written after the listing began
    assert archive_missing("product", [], unchanged_since=listing_began) == 0
    assert not Product.objects.get(pk=arrived_by_webhook.pk).is_archived


def test_archive_missing_refuses_kinds_without_an_archived_flag():
    with pytest.raises(ValueError, match="only product, benefit"):
        archive_missing("subscription", [])


def test_since_copes_with_a_time_without_timezone(emu, transport):
    emu.seed({"products": [{"key": "a", "name": "Plan A", "prices": [{"amount": 100}]},
                           {"key": "b", "name": "Plan B", "prices": [{"amount": 100}]}]})  # fmt: skip

    def naive_times(request, body):
        # An odd payload: modified_at without an offset (UTC is assumed, as the mirror does).
        for item in body.get("items", []):
            old = item["id"] == emu.ids["a"]
            item["modified_at"] = "2020-01-01T00:00:00" if old else "2099-01-01T00:00:00"
        return body

    transport.rewrite = naive_times
    since = datetime(2026, 1, 1, tzinfo=UTC)
    result = Syncer(rate_per_minute=1_000_000, since=since).sync_kind("products")
    assert result.ok, result.errors
    assert result.filtered == 1
    assert list(Product.objects.values_list("name", flat=True)) == ["Plan B"]
