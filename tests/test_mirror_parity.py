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
from django_polar.models import BenefitGrant, Customer, Order, Product, Refund
from tests import polar_payloads as pp
from tests.test_mirror import at, grant_payload, make_sub, order_payload


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


# -- public names ---------------------------------------------------------------------------


def test_archive_missing_is_part_of_the_mirror_api():
    from django_polar.mirror.archive import archive_missing

    assert mirror.archive_missing is archive_missing
    assert "archive_missing" in mirror.__all__
