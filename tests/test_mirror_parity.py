"""The bulk mirror (``polar_sync``) and the single upserts (webhooks) agree, row for row."""

from __future__ import annotations

import copy
import uuid

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from django_polar import mirror
from django_polar.mirror import billing
from django_polar.models import Benefit, BenefitGrant, Customer, Order, Price, Product, Refund
from tests import polar_payloads as pp
from tests.test_mirror import at, grant_payload, make_sub, order_payload, refund_payload


def deleted(data: dict, minutes: int = 1) -> dict:
    return {**data, "modified_at": pp.iso(at(minutes)), "deleted_at": pp.iso(at(minutes))}


# -- customers: external ids and billables --------------------------------------------------


@pytest.mark.django_db
def test_sync_stores_a_customer_reusing_a_deleted_customers_external_id():
    from tests.testapp.models import User

    ada = User.objects.create(username="ada")
    old = pp.customer(pp.new_id(), ada.get_polar_external_id())
    mirror.upsert_customer(deleted(old))  # Polar deleted it; its external id is free again
    new = pp.customer(pp.new_id(), ada.get_polar_external_id())
    counts = mirror.upsert_many("customer", [new])
    assert (counts.created, counts.failed) == (1, 0)
    assert Customer.objects.get(pk=new["id"]).billable == ada
    assert Customer.objects.get(pk=old["id"]).external_id is None


@pytest.mark.django_db
def test_sync_page_with_a_deletion_and_its_successor_stores_both():
    from tests.testapp.models import User

    ada = User.objects.create(username="ada")
    old = pp.customer(pp.new_id(), ada.get_polar_external_id())
    mirror.upsert_many("customer", [old])
    assert Customer.objects.get(pk=old["id"]).billable == ada
    new = pp.customer(pp.new_id(), ada.get_polar_external_id())
    counts = mirror.upsert_many("customer", [new, deleted(old)])  # successor listed first
    assert (counts.created, counts.updated, counts.failed) == (1, 1, 0)
    gone, successor = Customer.objects.get(pk=old["id"]), Customer.objects.get(pk=new["id"])
    assert (gone.external_id, gone.billable_id) == (None, None)
    assert successor.billable == ada


@pytest.mark.django_db
def test_sync_of_a_deleted_customer_releases_its_billable():
    from tests.testapp.models import User

    ada = User.objects.create(username="ada")
    old = pp.customer(pp.new_id(), ada.get_polar_external_id())
    mirror.upsert_customer(old)
    assert Customer.objects.get().billable == ada
    counts = mirror.upsert_many("customer", [deleted(old)])
    assert counts.updated == 1
    assert Customer.objects.get().billable_id is None
    new = pp.customer(pp.new_id(), ada.get_polar_external_id())
    mirror.upsert_many("customer", [new])
    assert Customer.objects.get(pk=new["id"]).billable == ada


@pytest.mark.django_db
def test_sync_never_steals_a_billable_from_another_live_customer():
    from tests.testapp.models import User

    ada = User.objects.create(username="ada")
    holder = mirror.upsert_customer(pp.customer(pp.new_id(), ada.get_polar_external_id()))
    Customer.objects.filter(pk=holder.pk).update(external_id="elsewhere")  # linked by hand
    claimant = pp.customer(pp.new_id(), ada.get_polar_external_id())
    assert mirror.upsert_many("customer", [claimant]).created == 1
    assert Customer.objects.get(pk=holder.pk).billable == ada
    assert Customer.objects.get(pk=claimant["id"]).billable_id is None


@pytest.mark.django_db
def test_sync_resolves_a_pages_billables_in_one_query_per_billable_model():
    from tests.testapp.models import Team, User

    users = [User.objects.create(username=f"u{n}") for n in range(6)]
    team = Team.objects.create(name="Lab", owner=users[0])
    page = [pp.customer(pp.new_id(), u.get_polar_external_id()) for u in users]
    page.append(pp.customer(pp.new_id(), team.get_polar_external_id()))
    with CaptureQueriesContext(connection) as queries:
        assert mirror.upsert_many("customer", page).created == 7
    billable_reads = [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith("SELECT")
        and any(f'"{t}"' in q["sql"].split(" WHERE ")[0] for t in ("testapp_user", "testapp_team"))
    ]
    assert len(billable_reads) == 2
    assert {c.billable for c in Customer.objects.all()} == {*users, team}


@pytest.mark.django_db
def test_a_stale_listing_of_a_customer_deleted_since_changes_nothing():
    """A page fetched before a customer was deleted can reach the mirror after the
    ``customer.deleted`` webhook: the older snapshot is skipped, and the deleted row keeps
    its external id until a new customer claims it, as after the same webhook alone."""
    old = pp.customer(pp.new_id(), "user:7", modified=at(1))
    mirror.upsert_customer(deleted(old, minutes=5))
    counts = mirror.upsert_many("customer", [old])
    assert (counts.skipped_older, counts.updated) == (1, 0)
    row = Customer.objects.get()
    assert (row.external_id, row.deleted_at) == ("user:7", at(5))


@pytest.mark.django_db
def test_a_deleted_customer_synced_alone_keeps_its_external_id_as_a_webhook_leaves_it():
    """Only a live customer taking the external id frees it; a sync of the deleted
    customer by itself stores the same columns as its ``customer.deleted`` webhook."""
    gone = deleted(pp.customer(pp.new_id(), "user:8"))
    mirror.upsert_customer(gone)
    single = columns(Customer.objects.get())
    Customer.objects.all().delete()
    assert mirror.upsert_many("customer", [gone]).created == 1
    assert columns(Customer.objects.get()) == single
    assert single["external_id"] == "user:8"


@pytest.mark.django_db
def test_a_customer_page_costs_the_same_queries_for_three_customers_or_six():
    """Linking a page's billables reads each customer's columns from the page's one
    query: a longer page costs no extra query per customer."""
    from tests.testapp.models import User

    def queries_for(count: int) -> int:
        users = [User.objects.create(username=f"{count}-{n}") for n in range(count)]
        page = [pp.customer(pp.new_id(), u.get_polar_external_id()) for u in users]
        page[0] = deleted(page[0])  # a deleted one, so every branch reads its columns
        with CaptureQueriesContext(connection) as queries:
            assert mirror.upsert_many("customer", page).created == count
        return len(queries)

    queries_for(2)  # warms Django's content-type cache
    assert queries_for(3) == queries_for(6)
    assert Customer.objects.filter(billable_id__isnull=False).count() == 1 + 2 + 5


# -- one definition of each kind's columns --------------------------------------------------


def columns(obj) -> dict:
    row = model_to_dict(obj)
    row.pop("updated_at", None)
    return row


@pytest.mark.django_db
def test_orders_and_grants_get_the_same_columns_from_a_webhook_and_from_a_sync():
    sub = make_sub()
    order = order_payload(sub, subscription_id=None)
    grant = grant_payload(sub, modified=at(2))
    mirror.upsert_order(order)
    mirror.upsert_benefit_grant(grant)
    single = (columns(Order.objects.get()), columns(BenefitGrant.objects.get()))
    assert billing.order_values(order)["customer_id"] is not None
    assert billing.grant_values(grant)["benefit_id"] is not None
    Order.objects.all().delete()
    BenefitGrant.objects.all().delete()
    assert mirror.upsert_many("order", [order]).created == 1
    assert mirror.upsert_many("benefit_grant", [grant]).created == 1
    assert (columns(Order.objects.get()), columns(BenefitGrant.objects.get())) == single


@pytest.mark.django_db
def test_refund_floor_is_public_and_raises_an_orders_refunded_amount():
    sub = make_sub()
    mirror.upsert_subscription(sub)
    data = order_payload(sub, subscription_id=None)
    order = mirror.upsert_order(data)
    Refund.objects.create(
        pk=pp.new_id(),
        order=order,
        customer_id=order.customer_id,
        amount=500,
        currency="usd",
        status="succeeded",
        data={},
    )  # stored without going through upsert_refund: the order does not know yet
    billing.apply_refund_floor(order)
    assert (order.refunded_amount, order.status) == (500, "partially_refunded")
    assert Order.objects.get().refunded_amount == 500


@pytest.mark.django_db
def test_a_synced_order_page_never_hides_a_refund_the_mirror_holds():
    """Polar may list an order as it was before a refund the mirror already stored (the
    refund's webhook came first): the sync keeps the refunded amount, as webhooks do."""
    sub = make_sub()
    order = order_payload(sub, subscription_id=None)
    mirror.upsert_many("order", [order])
    mirror.upsert_refund(refund_payload(order, 500))
    counts = mirror.upsert_many("order", [copy.deepcopy(order)])
    assert counts.updated == 1  # the listing's refunded_amount 0 was written, then floored
    row = Order.objects.get()
    assert (row.refunded_amount, row.status) == (500, "partially_refunded")


@pytest.mark.django_db
def test_a_synced_refund_page_raises_the_refunded_amounts_of_its_orders():
    """Refunds synced after their orders (the orders not listed again) still show on the
    orders: partly refunded, then fully, only succeeded refunds counted."""
    subs = [make_sub() for _ in range(2)]
    orders = [order_payload(sub, subscription_id=None) for sub in subs]
    mirror.upsert_many("order", orders)
    page = [
        refund_payload(orders[0], 500),
        refund_payload(orders[1], 1000),
        refund_payload(orders[1], 500),
        refund_payload(orders[1], 300, status="failed"),
    ]
    assert mirror.upsert_many("refund", page).created == 4
    rows = {str(o.pk): o for o in Order.objects.all()}
    assert (rows[orders[0]["id"]].refunded_amount, rows[orders[0]["id"]].status) == (
        500,
        "partially_refunded",
    )
    assert (rows[orders[1]["id"]].refunded_amount, rows[orders[1]["id"]].status) == (
        1500,
        "refunded",
    )


# -- product benefit links ------------------------------------------------------------------


def link_sql(queries) -> list[str]:
    table = Product.benefits.through._meta.db_table
    return [
        q["sql"]
        for q in queries
        if table in q["sql"] and q["sql"].lstrip().upper().startswith(("INSERT", "DELETE"))
    ]


@pytest.mark.django_db
def test_sync_leaves_benefit_links_of_unchanged_products_alone():
    prod_id = pp.new_id()
    prod = pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], [pp.benefit(pp.new_id())])
    mirror.upsert_many("product", [prod])
    with CaptureQueriesContext(connection) as queries:
        assert mirror.upsert_many("product", [copy.deepcopy(prod)]).unchanged == 1
    assert link_sql(queries) == []
    assert Product.objects.get().benefits.count() == 1


@pytest.mark.django_db
def test_sync_diffs_benefit_links_of_a_changed_product():
    prod_id = pp.new_id()
    kept, dropped, added = (pp.benefit(pp.new_id()) for _ in range(3))
    prod = pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], [kept, dropped])
    mirror.upsert_many("product", [prod])
    through = Product.benefits.through
    kept_link = through.objects.get(benefit_id=kept["id"]).pk
    later = {**prod, "modified_at": pp.iso(at(3)), "benefits": [kept, added]}
    assert mirror.upsert_many("product", [later]).updated == 1
    links = dict(through.objects.values_list("benefit_id", "pk"))
    assert {str(b) for b in links} == {kept["id"], added["id"]}
    assert links[uuid.UUID(kept["id"])] == kept_link  # the unchanged link was not re-created


def product_page(prod_id: str | None = None) -> dict:
    prod_id = prod_id or pp.new_id()
    return pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], [pp.benefit(pp.new_id())])


def untimed(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("created_at", "modified_at")}


@pytest.mark.django_db
def test_prices_listed_without_a_product_id_belong_to_the_product_listing_them():
    """The product that lists a price is its product, as ``upsert_product`` stores it,
    even when the price object does not name it."""
    prod = product_page()
    del prod["prices"][0]["product_id"]
    assert (mirror.upsert_many("product", [prod]).failed, Price.objects.count()) == (0, 1)
    assert str(Price.objects.get().product_id) == prod["id"]
    Price.objects.all().delete()
    mirror.upsert_product(prod)
    assert str(Price.objects.get().product_id) == prod["id"]


@pytest.mark.django_db
def test_prices_and_benefits_without_times_are_versioned_by_the_pages_event_time():
    """A price or benefit with neither ``modified_at`` nor ``created_at`` takes the event
    time its product was applied with, as on the webhook path: a copy from an older event
    then changes nothing."""
    prod = product_page()
    prod["prices"], prod["benefits"] = [untimed(prod["prices"][0])], [untimed(prod["benefits"][0])]
    mirror.upsert_many("product", [prod], event_time=at(5))
    assert Price.objects.get().modified_at == at(5)
    assert Benefit.objects.get().modified_at == at(5)
    mirror.upsert_price({**prod["prices"][0], "price_amount": 999}, event_time=at(1))
    mirror.upsert_benefit({**prod["benefits"][0], "description": "Old"}, event_time=at(1))
    assert Price.objects.get().amount == 1500
    assert Benefit.objects.get().description == "Priority support"


@pytest.mark.django_db
def test_a_product_listed_without_its_benefits_leaves_prices_and_links_alone():
    """An abridged product (no ``benefits`` key) cannot say which prices or benefits it
    dropped: the sync stores it and archives nothing, unlinks nothing."""
    prod = product_page()
    mirror.upsert_many("product", [prod])
    abridged = {k: v for k, v in prod.items() if k != "benefits"}
    abridged.update(modified_at=pp.iso(at(3)), prices=[pp.price(pp.new_id(), prod["id"], 2000)])
    assert mirror.upsert_many("product", [abridged]).updated == 1
    assert list(Price.objects.filter(is_archived=False).values_list("amount", flat=True)) == [1500]
    assert [str(b.pk) for b in Product.objects.get().benefits.all()] == [prod["benefits"][0]["id"]]


@pytest.mark.django_db
def test_a_partial_product_page_merges_and_leaves_prices_and_links_alone():
    """``partial=True`` says the snapshots may be abridged copies (those nested in orders):
    even one listing prices and benefits does not archive the product's other prices or
    unlink its benefits; its keys are merged into the stored JSON."""
    prod = product_page()
    mirror.upsert_many("product", [prod])
    copy_in_order = {k: v for k, v in prod.items() if k != "description"}
    copy_in_order.update(
        modified_at=pp.iso(at(3)), prices=[pp.price(pp.new_id(), prod["id"], 2000)], benefits=[]
    )
    assert mirror.upsert_many("product", [copy_in_order], partial=True).updated == 1
    assert list(Price.objects.values_list("amount", "is_archived")) == [(1500, False)]
    row = Product.objects.get()
    assert [str(b.pk) for b in row.benefits.all()] == [prod["benefits"][0]["id"]]
    assert row.data["description"] == "The pro plan"  # merged, not replaced


@pytest.mark.django_db
def test_a_benefit_listed_by_its_bare_id_is_skipped_as_on_the_webhook_path():
    """An odd payload listing a benefit as a string instead of an object: the product and
    its real benefits are stored, the string is ignored, as ``upsert_product`` does."""
    prod = product_page()
    prod["benefits"].append(pp.new_id())
    assert mirror.upsert_many("product", [prod]).created == 1
    linked = [str(b.pk) for b in Product.objects.get().benefits.all()]
    assert linked == [prod["benefits"][0]["id"]]
    assert [str(b.pk) for b in mirror.upsert_product(prod).benefits.all()] == linked


@pytest.mark.django_db
def test_a_benefit_link_a_webhook_wrote_while_the_page_was_written_is_not_an_error():
    """A ``product.updated`` webhook may link the same benefit between the page's read of
    the links and its insert: the page still succeeds, with the link once."""
    prod = product_page()
    mirror.upsert_many("product", [prod])
    added = pp.benefit(pp.new_id())
    later = {**prod, "modified_at": pp.iso(at(3)), "benefits": [*prod["benefits"], added]}
    mirror.upsert_benefit(added)
    through = Product.benefits.through
    table = through._meta.db_table
    done = []

    def webhook_meanwhile(execute, sql, params, many, context):
        if not done and sql.lstrip().upper().startswith("INSERT") and f'"{table}"' in sql:
            done.append(sql)  # first: the webhook's own insert passes through here too
            through.objects.create(product_id=prod["id"], benefit_id=added["id"])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(webhook_meanwhile):
        assert mirror.upsert_many("product", [later]).updated == 1
    assert done
    assert sorted(str(b) for b in through.objects.values_list("benefit_id", flat=True)) == sorted(
        [prod["benefits"][0]["id"], added["id"]]
    )


# -- public names ---------------------------------------------------------------------------


def test_archive_missing_is_part_of_the_mirror_api():
    from django_polar.mirror.archive import archive_missing

    assert mirror.archive_missing is archive_missing
    assert "archive_missing" in mirror.__all__
