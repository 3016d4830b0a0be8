"""The mirror: Polar JSON -> rows, idempotent, guarded against older snapshots."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_polar import mirror
from django_polar.identity import billable_from_external_id
from django_polar.models import (
    Benefit,
    BenefitGrant,
    Customer,
    Member,
    Meter,
    Order,
    Price,
    Product,
    Refund,
    Seat,
    Subscription,
)
from django_polar.webhooks import dispatch
from tests import polar_payloads as pp
from tests.fixtures import make_customer
from tests.testapp.models import User

T0 = pp.T0


def at(minutes: int):
    return T0 + timedelta(minutes=minutes)


def make_sub(external_id=None, *, modified=None, **kw):
    prod_id = pp.new_id()
    prod = pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], [pp.benefit(pp.new_id())])
    return pp.subscription(
        pp.new_id(), pp.customer(pp.new_id(), external_id), prod, modified=modified, **kw
    )


@pytest.mark.django_db
def test_subscription_brings_its_customer_product_prices_and_benefits():
    data = make_sub(metadata={"subscription_type": "swimming"})
    sub = mirror.upsert_subscription(data)
    assert sub.type == "swimming" and sub.status == "active" and sub.amount == 1500
    assert sub.customer.email == "ada@example.com"
    assert sub.product.name == "Pro"
    assert list(sub.product.prices.values_list("amount", flat=True)) == [1500]
    assert sub.product.benefits.get().description == "Priority support"
    assert sub.data == data and sub.modified_at == T0  # created_at stands in for null modified_at


@pytest.mark.django_db
def test_default_type_without_metadata_key():
    assert mirror.upsert_subscription(make_sub()).type == "default"


@pytest.mark.django_db
def test_idempotent():
    data = make_sub(modified=at(1))
    first = mirror.upsert_subscription(data)
    second = mirror.upsert_subscription(copy.deepcopy(data))
    assert first.pk == second.pk and first.updated_at == Subscription.objects.get().updated_at
    assert (Customer.objects.count(), Product.objects.count(), Price.objects.count()) == (1, 1, 1)


@pytest.mark.django_db
def test_older_snapshot_after_newer_changes_nothing():
    new = make_sub(modified=at(10), status="canceled", ended_at=pp.iso(at(10)))
    old = {**copy.deepcopy(new), "modified_at": pp.iso(at(5)), "status": "active", "ended_at": None}
    mirror.upsert_subscription(new)
    sub = mirror.upsert_subscription(old)
    sub.refresh_from_db()
    assert (
        sub.status == "canceled" and sub.modified_at == at(10) and sub.data["status"] == "canceled"
    )


@pytest.mark.django_db
def test_update_before_create_creates_then_create_is_ignored():
    created = make_sub()
    updated = {**copy.deepcopy(created), "modified_at": pp.iso(at(3)), "cancel_at_period_end": True}
    mirror.upsert_subscription(updated)
    mirror.upsert_subscription(created)
    assert Subscription.objects.get().cancel_at_period_end is True


@pytest.mark.django_db
def test_unknown_fields_and_enum_values_are_stored_not_fatal():
    data = make_sub(status="hibernating", shiny_new_field={"x": 1})
    data["product"]["prices"][0]["amount_type"] = "quantum"
    sub = mirror.upsert_subscription(data)
    assert sub.status == "hibernating" and sub.data["shiny_new_field"] == {"x": 1}
    assert Price.objects.get().amount_type == "quantum"


@pytest.mark.django_db
def test_customer_links_to_its_billable_by_external_id_never_by_email():
    from tests.testapp.models import Team, User

    ada = User.objects.create(username="ada", email="ada@example.com")
    team = Team.objects.create(name="Lab", owner=ada)
    linked = mirror.upsert_customer(pp.customer(pp.new_id(), team.get_polar_external_id()))
    stranger = mirror.upsert_customer(pp.customer(pp.new_id(), None))  # same email as ada
    assert mirror.billable_of(linked) == team
    assert linked.billable == team
    assert stranger.billable_id is None and mirror.billable_of(stranger) is None
    assert billable_from_external_id(ada.get_polar_external_id()) == ada
    assert billable_from_external_id("auth.group:1") is None
    assert billable_from_external_id("garbage") is None


@pytest.mark.django_db
def test_deleted_customer_releases_its_billable_and_external_id():
    from tests.testapp.models import User

    ada = User.objects.create(username="ada")
    old = pp.customer(pp.new_id(), ada.get_polar_external_id())
    mirror.upsert_customer(old)
    mirror.upsert_customer({**old, "modified_at": pp.iso(at(1)), "deleted_at": pp.iso(at(1))})
    new = mirror.upsert_customer(pp.customer(pp.new_id(), ada.get_polar_external_id()))
    assert new.billable == ada
    assert Customer.objects.get(pk=old["id"]).billable_id is None


@pytest.mark.django_db
def test_order_with_abridged_product_and_subscription_keeps_full_product_data():
    sub = make_sub()
    mirror.upsert_subscription(sub)
    abridged_product = {k: v for k, v in sub["product"].items() if k not in ("prices", "benefits")}
    abridged_sub = {
        k: v for k, v in sub.items() if k not in ("customer", "product", "prices", "meters")
    }
    order = order_payload(sub, product=abridged_product, subscription=abridged_sub)
    row = mirror.upsert_order(order)
    assert row.subscription_id == Subscription.objects.get().pk and row.paid is True
    product = Product.objects.get()
    assert (
        "prices" in product.data and product.prices.count() == 1 and product.benefits.count() == 1
    )


def order_payload(sub, *, modified=None, **kw):
    data = {
        "id": kw.pop("id", pp.new_id()),
        "created_at": pp.iso(T0),
        "modified_at": pp.iso(modified),
        "status": "paid",
        "paid": True,
        "subtotal_amount": 1500,
        "discount_amount": 0,
        "net_amount": 1500,
        "tax_amount": 0,
        "total_amount": 1500,
        "applied_balance_amount": 0,
        "due_amount": 0,
        "refunded_amount": 0,
        "refunded_tax_amount": 0,
        "currency": "usd",
        "billing_reason": "subscription_create",
        "units": None,
        "billing_name": None,
        "billing_address": None,
        "invoice_number": "INV-1",
        "is_invoice_generated": False,
        "receipt_number": None,
        "customer_id": sub["customer_id"],
        "product_id": sub["product_id"],
        "discount_id": None,
        "subscription_id": sub["id"],
        "checkout_id": None,
        "metadata": {},
        "platform_fee_amount": 0,
        "platform_fee_currency": None,
        "customer": sub["customer"],
        "product": sub["product"],
        "discount": None,
        "subscription": None,
        "items": [],
        "description": "Pro",
        "refundable_amount": 1500,
        "refundable_tax_amount": 0,
    }
    data.update(kw)
    return data


def refund_payload(order, amount, *, status="succeeded", modified=None):
    return {
        "created_at": pp.iso(at(20)),
        "modified_at": pp.iso(modified),
        "id": pp.new_id(),
        "metadata": {},
        "status": status,
        "reason": "customer_request",
        "amount": amount,
        "tax_amount": 0,
        "currency": "usd",
        "organization_id": pp.ORG,
        "order_id": order["id"],
        "subscription_id": None,
        "customer_id": order["customer_id"],
        "revoke_benefits": False,
        "dispute": None,
    }


@pytest.mark.django_db
def test_refunds_raise_the_order_refunded_amounts_and_older_order_snapshots_keep_them():
    sub = make_sub()
    order = order_payload(sub)
    mirror.upsert_order(order)
    mirror.upsert_refund(refund_payload(order, 500))
    row = Order.objects.get()
    assert (row.refunded_amount, row.status) == (500, "partially_refunded")
    mirror.upsert_refund(refund_payload(order, 1000))
    mirror.upsert_refund(refund_payload(order, 700, status="failed"))
    row.refresh_from_db()
    assert (row.refunded_amount, row.status) == (1500, "refunded")
    # order.updated from before the refunds, but newer than what we stored:
    mirror.upsert_order({**order, "modified_at": pp.iso(at(1)), "invoice_number": "INV-1b"})
    row.refresh_from_db()
    assert (row.refunded_amount, row.status, row.invoice_number) == (1500, "refunded", "INV-1b")
    assert Refund.objects.count() == 3


@pytest.mark.django_db
def test_refund_before_its_order_is_applied_when_the_order_arrives():
    sub = make_sub()
    order = order_payload(sub)
    mirror.upsert_refund(refund_payload(order, 1500))
    assert mirror.upsert_order(order).refunded_amount == 1500
    assert Order.objects.get().status == "refunded"


def grant_payload(sub, *, modified=None, granted=True, revoked=False):
    ben = sub["product"]["benefits"][0]
    return {
        "created_at": pp.iso(T0),
        "modified_at": pp.iso(modified),
        "id": sub["id"][:-12] + "0" * 12,
        "granted_at": pp.iso(T0) if granted else None,
        "is_granted": granted,
        "revoked_at": pp.iso(modified) if revoked else None,
        "is_revoked": revoked,
        "subscription_id": sub["id"],
        "order_id": None,
        "customer_id": sub["customer_id"],
        "member_id": None,
        "benefit_id": ben["id"],
        "error": None,
        "customer": sub["customer"],
        "member": None,
        "benefit": ben,
        "properties": {},
        "previous_properties": None,
    }


def state_payload(sub, grant, *, active_sub=None, granted=True):
    base = {k: v for k, v in sub["customer"].items()}
    subs = []
    if active_sub is not None:
        subs = [
            {
                k: active_sub[k]
                for k in (
                    "id created_at modified_at custom_field_data metadata status amount currency "
                    "recurring_interval current_period_start current_period_end trial_start "
                    "trial_end cancel_at_period_end canceled_at started_at ends_at product_id "
                    "discount_id seats units meters"
                ).split()
            }
            | {"status": "granted"}  # 2026-10 states report access, not the billing status
        ]
    grants = []
    if granted:
        grants = [
            {
                "id": grant["id"],
                "created_at": grant["created_at"],
                "modified_at": grant["modified_at"],
                "granted_at": grant["granted_at"],
                "benefit_id": grant["benefit_id"],
                "benefit_type": "custom",
                "benefit_metadata": {},
                "properties": {},
            }
        ]
    return {**base, "active_subscriptions": subs, "granted_benefits": grants, "active_meters": []}


def lifecycle():
    """The events of purchase -> cancel -> uncancel -> revoke, in Polar's true order."""
    created = make_sub()
    canceled = {
        **copy.deepcopy(created),
        "modified_at": pp.iso(at(10)),
        "cancel_at_period_end": True,
        "canceled_at": pp.iso(at(10)),
        "ends_at": created["current_period_end"],
    }
    uncanceled = {**copy.deepcopy(created), "modified_at": pp.iso(at(20))}
    revoked = {
        **copy.deepcopy(created),
        "modified_at": pp.iso(at(30)),
        "status": "canceled",
        "canceled_at": pp.iso(at(30)),
        "ends_at": pp.iso(at(30)),
        "ended_at": pp.iso(at(30)),
    }
    grant = grant_payload(created)
    grant_revoked = grant_payload(created, modified=at(30), granted=False, revoked=True)
    order = order_payload(created)
    events = [
        ("customer.created", created["customer"], at(0)),
        ("subscription.created", created, at(0)),
        ("order.created", {**order, "status": "pending", "paid": False}, at(0)),
        ("order.paid", {**order, "modified_at": pp.iso(at(1))}, at(1)),
        ("subscription.active", created, at(1)),
        ("benefit_grant.created", grant, at(1)),
        ("customer.state_changed", state_payload(created, grant, active_sub=created), at(2)),
        ("subscription.canceled", canceled, at(10)),
        ("customer.state_changed", state_payload(created, grant, active_sub=canceled), at(11)),
        ("subscription.uncanceled", uncanceled, at(20)),
        ("subscription.revoked", revoked, at(30)),
        ("benefit_grant.revoked", grant_revoked, at(30)),
        ("customer.state_changed", state_payload(created, grant, granted=False), at(31)),
    ]
    return created, events


def final_state():
    sub = Subscription.objects.get()
    grant = BenefitGrant.objects.get()
    order = Order.objects.get()
    return {
        "sub": (
            sub.status,
            sub.cancel_at_period_end,
            sub.ended_at,
            sub.modified_at,
            sub.data["status"],
        ),
        "grant": (grant.is_granted, grant.is_revoked, grant.modified_at),
        "order": (order.status, order.paid),
        "counts": (Customer.objects.count(), Product.objects.count(), Benefit.objects.count()),
    }


def apply_all(events):
    for event_type, data, when in events:
        dispatch.HANDLERS[event_type](copy.deepcopy(data), event_time=when)


@pytest.mark.django_db
def test_true_order_final_state():
    _, events = lifecycle()
    apply_all(events)
    state = final_state()
    assert state["sub"][:3] == ("canceled", False, at(30))
    assert state["grant"][:2] == (False, True)
    assert state["order"] == ("paid", True)


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(range(13)))
def test_every_order_of_the_lifecycle_ends_in_the_true_final_state(order):
    _, events = lifecycle()
    with transaction.atomic():
        apply_all(events)
        expected = final_state()
        transaction.set_rollback(True)
    with transaction.atomic():
        apply_all([events[i] for i in order])
        assert final_state() == expected
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_state_marks_unlisted_subscription_canceled_until_its_own_event_arrives():
    created, events = lifecycle()
    mirror.upsert_subscription(created)
    grant = grant_payload(created)
    mirror.upsert_benefit_grant(grant)
    mirror.apply_customer_state(state_payload(created, grant, granted=False), event_time=at(31))
    sub = Subscription.objects.get()
    assert sub.status == "canceled" and sub.modified_at == T0  # version untouched
    assert BenefitGrant.objects.get().is_revoked is True
    [revoked] = [data for kind, data, _ in events if kind == "subscription.revoked"]
    mirror.upsert_subscription(revoked)
    sub.refresh_from_db()
    assert sub.ended_at == at(30) and sub.modified_at == at(30)


@pytest.mark.django_db
def test_state_creates_listed_subscription_and_grant_it_had_not_seen():
    created = make_sub()
    grant = grant_payload(created)
    mirror.apply_customer_state(state_payload(created, grant, active_sub=created), event_time=at(2))
    sub = Subscription.objects.get()
    assert sub.status == "active" and str(sub.product_id) == created["product_id"]
    assert BenefitGrant.objects.get().is_granted is True
    mirror.upsert_subscription(created)  # the full snapshot fills the placeholder product
    assert Product.objects.get().name == "Pro"


@pytest.mark.django_db
def test_a_benefit_first_seen_in_a_state_is_known_by_its_type():
    """Readers that pick grants by benefit type (license keys, downloads) find a grant the
    state lists before the benefit's own snapshot has arrived."""
    created = make_sub()
    grant = grant_payload(created)
    state = state_payload(created, grant)
    state["granted_benefits"][0]["benefit_type"] = "license_keys"
    mirror.apply_customer_state(state, event_time=at(2))
    assert Benefit.objects.get(pk=grant["benefit_id"]).type == "license_keys"


@pytest.mark.django_db
def test_a_benefit_grant_brings_its_customer_and_benefit():
    created = make_sub()
    payload = grant_payload(created, modified=at(1))
    grant = mirror.upsert_benefit_grant(payload)
    assert str(grant.customer_id) == created["customer"]["id"]
    assert Customer.objects.get(pk=grant.customer_id).email == created["customer"]["email"]
    benefit = Benefit.objects.get(pk=grant.benefit_id)
    assert (benefit.type, benefit.description) == (
        created["product"]["benefits"][0]["type"],
        created["product"]["benefits"][0]["description"],
    )


@pytest.mark.django_db
def test_a_state_grant_keeps_its_times_and_the_full_snapshot_under_the_version_guard():
    """The state's abridged grant fills in what it knows (grant and creation times) and
    merges into the full snapshot already stored; an older state changes nothing."""
    created = make_sub()
    full = grant_payload(created, modified=at(5))
    mirror.upsert_benefit_grant(full)
    state = state_payload(created, full)
    state["granted_benefits"][0]["properties"] = {"note": "from the state"}
    mirror.apply_customer_state(state, event_time=at(10))
    grant = BenefitGrant.objects.get()
    assert grant.properties == {"note": "from the state"}
    assert (grant.granted_at, grant.created_at) == (T0, T0)
    assert grant.data["customer"]["id"] == created["customer"]["id"]  # merged, not replaced
    older = state_payload(created, {**full, "modified_at": pp.iso(at(4))})
    older["granted_benefits"][0]["properties"] = {"note": "older"}
    mirror.apply_customer_state(older, event_time=at(11))
    assert BenefitGrant.objects.get().properties == {"note": "from the state"}


@pytest.mark.django_db
def test_a_grant_without_its_nested_benefit_points_at_the_benefit_it_names():
    created = make_sub()
    payload = {**grant_payload(created, modified=at(1)), "benefit": None}
    grant = mirror.upsert_benefit_grant(payload)
    assert str(grant.benefit_id) == payload["benefit_id"]
    assert Benefit.objects.filter(pk=payload["benefit_id"]).exists()


def state_with(sub, **item):
    """A state listing ``sub`` as its one active subscription, with ``item``'s fields."""
    state = state_payload(sub, grant_payload(sub), active_sub=sub, granted=False)
    state["active_subscriptions"][0].update(item)
    return state


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("item", "status"),
    [
        ({"status": "granted"}, "active"),
        ({"status": "disabled"}, "past_due"),  # access withdrawn: Polar is dunning
        ({"status": "granted", "trial_end": pp.iso(at(3))}, "trialing"),
        ({"status": "granted", "trial_end": pp.iso(at(2))}, "active"),  # ended as it was taken
        ({"status": "canceled"}, "canceled"),  # older API versions send the billing status
    ],
)
def test_a_state_subscriptions_status_is_the_billing_status_when_the_state_was_true(item, status):
    created = make_sub()
    mirror.apply_customer_state(state_with(created, **item), event_time=at(2))
    assert Subscription.objects.get().status == status


@pytest.mark.django_db
def test_a_product_first_seen_in_a_state_is_a_placeholder_not_for_sale():
    created = make_sub()
    mirror.apply_customer_state(state_with(created), event_time=at(2))
    product = Product.objects.get(pk=created["product_id"])
    assert product.is_placeholder
    assert not Product.objects.active().filter(pk=product.pk).exists()


@pytest.mark.django_db
def test_a_state_older_than_the_stored_subscription_changes_nothing():
    created = make_sub(modified=at(5))
    mirror.upsert_subscription(created)
    mirror.apply_customer_state(
        state_with(created, modified_at=pp.iso(at(4)), amount=99), event_time=at(6)
    )
    assert Subscription.objects.get().amount == created["amount"]


@pytest.mark.django_db
def test_a_subscription_brings_a_price_its_product_no_longer_lists():
    """A subscription on a price since archived: Polar's product lists only its current
    prices, the subscription its own."""
    created = make_sub()
    legacy = pp.price(pp.new_id(), created["product_id"], amount=900, is_archived=True)
    created["prices"] = [*created["prices"], legacy, {"id": pp.new_id()}]  # the last: no product
    mirror.upsert_subscription(created)
    price = Price.objects.get(pk=legacy["id"])
    assert (str(price.product_id), price.amount) == (created["product_id"], 900)
    assert Price.objects.count() == 2


@pytest.mark.django_db
def test_a_subscription_snapshot_replaces_the_stored_json():
    """The stored JSON is Polar's latest snapshot, not a merge: a field Polar stopped
    sending (the optional ``past_due_at`` once dunning ends) is gone from it."""
    created = make_sub(modified=at(1), past_due_at=pp.iso(at(1)))
    mirror.upsert_subscription(created)
    recovered = {k: v for k, v in created.items() if k != "past_due_at"}
    mirror.upsert_subscription({**recovered, "modified_at": pp.iso(at(2))})
    assert "past_due_at" not in Subscription.objects.get().data


@pytest.mark.django_db
def test_an_order_brings_the_subscription_it_renews_when_that_was_never_mirrored():
    """The order webhook can arrive first: its abridged subscription becomes the row, with
    the order's customer, until the subscription's own snapshot fills it in."""
    sub = make_sub()
    abridged = {
        k: v for k, v in sub.items() if k not in ("customer", "product", "prices", "meters")
    }
    order = mirror.upsert_order(order_payload(sub, subscription=abridged))
    row = Subscription.objects.get(pk=sub["id"])
    assert order.subscription_id == row.pk
    assert (str(row.customer_id), str(row.product_id)) == (sub["customer_id"], sub["product_id"])


@pytest.mark.django_db
def test_an_order_names_its_customer_and_product():
    sub = make_sub()
    order = mirror.upsert_order(order_payload(sub))
    assert (str(order.customer_id), str(order.product_id)) == (
        sub["customer_id"],
        sub["product_id"],
    )


@pytest.mark.django_db
def test_a_refund_raises_only_its_own_orders_refunded_amount():
    first, second = make_sub(), make_sub()
    refunded = order_payload(first)
    mirror.upsert_order(refunded)
    mirror.upsert_refund(refund_payload(refunded, 500))
    other = mirror.upsert_order(order_payload(second))
    assert (other.refunded_amount, other.status) == (0, "paid")
    assert Order.objects.get(pk=refunded["id"]).refunded_amount == 500


@pytest.mark.django_db
def test_a_refund_raises_the_orders_refunded_tax_with_its_amount():
    sub = make_sub()
    order = order_payload(sub)
    mirror.upsert_order(order)
    mirror.upsert_refund(refund_payload(order, 500))  # no tax
    row = Order.objects.get()
    assert (row.refunded_amount, row.refunded_tax_amount) == (500, 0)
    mirror.upsert_refund({**refund_payload(order, 600), "tax_amount": 100})
    row.refresh_from_db()
    assert (row.refunded_amount, row.refunded_tax_amount) == (1100, 100)


@pytest.mark.django_db
def test_a_benefit_snapshot_older_than_the_stored_one_changes_nothing():
    newer = {**pp.benefit(pp.new_id()), "description": "Pro features", "modified_at": pp.iso(at(2))}
    mirror.upsert_benefit(newer)
    mirror.upsert_benefit({**newer, "description": "Old name", "modified_at": pp.iso(at(1))})
    assert Benefit.objects.get().description == "Pro features"


@pytest.mark.django_db
def test_a_subscription_naming_only_its_product_id_makes_a_placeholder_product():
    created = {k: v for k, v in make_sub().items() if k != "product"}
    mirror.upsert_subscription(created)
    product = Product.objects.get(pk=created["product_id"])
    assert product.is_placeholder and product.name == ""


@pytest.mark.django_db
def test_a_payload_without_a_customer_is_refused_in_words():
    with pytest.raises(ValueError) as refused:
        mirror.upsert_subscription({"id": pp.new_id(), "product_id": pp.new_id()})
    assert str(refused.value) == "Polar payload without a customer"


@pytest.mark.django_db
def test_a_price_belongs_to_its_own_product_else_the_one_it_is_listed_under():
    listed_under, its_own = pp.new_id(), pp.new_id()
    mirror.upsert_product(pp.product(listed_under, [], []))
    bare = {k: v for k, v in pp.price(pp.new_id(), listed_under).items() if k != "product_id"}
    assert str(mirror.upsert_price(bare, product_id=listed_under).product_id) == listed_under
    moved = mirror.upsert_price(pp.price(pp.new_id(), its_own), product_id=listed_under)
    assert str(moved.product_id) == its_own
    placeholder = Product.objects.get(pk=its_own)  # not mirrored yet: never for sale
    assert placeholder.is_placeholder and placeholder.name == ""
    with pytest.raises(ValueError) as refused:
        mirror.upsert_price(bare)
    assert str(refused.value) == f"Polar price {bare['id']} has no product_id"


@pytest.mark.django_db
def test_a_price_snapshot_older_than_the_stored_one_changes_nothing():
    product_id = pp.new_id()
    newer = {**pp.price(pp.new_id(), product_id, amount=2000), "modified_at": pp.iso(at(2))}
    mirror.upsert_price(newer)
    mirror.upsert_price({**newer, "price_amount": 1000, "modified_at": pp.iso(at(1))})
    assert Price.objects.get().amount == 2000


@pytest.mark.django_db
def test_a_full_product_snapshot_replaces_the_json_and_a_partial_copy_merges_into_it():
    pid = pp.new_id()
    full = pp.product(pid, [pp.price(pp.new_id(), pid)], [pp.benefit(pp.new_id())])
    mirror.upsert_product({**full, "legacy_field": 1, "modified_at": pp.iso(at(1))})
    mirror.upsert_product({**full, "modified_at": pp.iso(at(2))})
    assert "legacy_field" not in Product.objects.get().data  # Polar no longer sends it
    copy_without_benefits = {
        k: v for k, v in full.items() if k not in ("benefits", "description")
    } | {"modified_at": pp.iso(at(3))}
    mirror.upsert_product(copy_without_benefits)
    data = Product.objects.get().data
    assert "benefits" in data and "description" in data  # merged, not replaced


@pytest.mark.django_db
def test_a_product_brings_the_prices_and_benefits_it_lists_and_skips_entries_without_an_id():
    pid, price_id, benefit_id = pp.new_id(), pp.new_id(), pp.new_id()
    data = pp.product(
        pid, [pp.price(price_id, pid), {"amount_type": "free"}], [pp.benefit(benefit_id), {}]
    )
    product = mirror.upsert_product(data)
    assert [str(p.pk) for p in product.prices.all()] == [price_id]
    assert [str(b.pk) for b in product.benefits.all()] == [benefit_id]


@pytest.mark.django_db
def test_a_product_snapshot_older_than_the_stored_one_changes_nothing():
    pid = pp.new_id()
    newer = {**pp.product(pid, [], []), "name": "Pro", "modified_at": pp.iso(at(2))}
    mirror.upsert_product(newer)
    mirror.upsert_product({**newer, "name": "Old Pro", "modified_at": pp.iso(at(1))})
    assert Product.objects.get().name == "Pro"


@pytest.mark.django_db
def test_a_full_product_snapshot_archives_the_prices_it_no_longer_lists_a_partial_copy_not():
    pid, kept, dropped = pp.new_id(), pp.new_id(), pp.new_id()
    benefits = [pp.benefit(pp.new_id())]
    mirror.upsert_product(pp.product(pid, [pp.price(kept, pid), pp.price(dropped, pid)], benefits))
    prices_only = {
        k: v for k, v in pp.product(pid, [pp.price(kept, pid)], benefits).items() if k != "benefits"
    } | {"modified_at": pp.iso(at(1))}
    mirror.upsert_product(prices_only)  # not the whole product: nothing archived
    assert not Price.objects.filter(is_archived=True).exists()
    mirror.upsert_product(
        {**pp.product(pid, [pp.price(kept, pid)], benefits), "modified_at": pp.iso(at(2))}
    )
    assert set(Price.objects.filter(is_archived=True).values_list("pk", flat=True)) == {
        uuid.UUID(dropped)
    }


@pytest.mark.django_db
def test_the_meter_balances_time_is_the_newest_states_and_only_its_customers():
    """``state_at`` dates the mirrored meter balances: an older state arriving late, or
    another customer's state, must not move it."""
    first, other = make_sub(), make_sub()
    state = state_payload(first, grant_payload(first), granted=False)
    mirror.apply_customer_state(state, event_time=at(5))
    mirror.apply_customer_state(state, event_time=at(3))  # an older state, delivered late
    mirror.apply_customer_state(
        state_payload(other, grant_payload(other), granted=False), event_time=at(9)
    )
    assert Customer.objects.get(pk=first["customer_id"]).state_at == at(5)
    assert Customer.objects.get(pk=other["customer_id"]).state_at == at(9)


@pytest.mark.django_db
def test_a_state_ends_only_its_customers_subscriptions_written_before_it(caplog):
    """The state lists every active subscription of its customer as of its time: one it
    omits that was written before ends (logged), one written after it (a newer event) and
    another customer's stay as they are."""
    ended, newer, others = make_sub(modified=at(1)), make_sub(modified=at(5)), make_sub()
    newer = {**newer, "customer": ended["customer"], "customer_id": ended["customer_id"]}
    for sub in (ended, newer, others):
        mirror.upsert_subscription(sub)
    with caplog.at_level("INFO", logger="django_polar.mirror"):
        mirror.apply_customer_state(
            state_payload(ended, grant_payload(ended), granted=False), event_time=at(3)
        )
    status = dict(Subscription.objects.values_list("pk", "status"))
    assert status[uuid.UUID(ended["id"])] == "canceled"
    assert status[uuid.UUID(newer["id"])] == "active"
    assert status[uuid.UUID(others["id"])] == "active"
    assert caplog.messages == [
        f"Customer state no longer lists subscription {ended['id']}: marking it canceled"
    ]


@pytest.mark.django_db
def test_a_state_revokes_only_its_customers_live_grants_written_before_it():
    """A grant the state omits, written before it, is revoked at the state's time; one
    written after, one not yet granted, one revoked earlier (its time kept) and another
    customer's stay as they are."""
    sub, others = make_sub(), make_sub()

    def grant(base, **kw):
        return {**grant_payload(base), "id": pp.new_id(), **kw}

    ended = grant(sub, modified_at=pp.iso(at(1)))
    newer = grant(sub, modified_at=pp.iso(at(5)))
    pending = grant(sub, modified_at=pp.iso(at(1)), is_granted=False, granted_at=None)
    earlier = grant(sub, modified_at=pp.iso(at(1)), is_granted=False, is_revoked=True,
                    revoked_at=pp.iso(at(1)))  # fmt: skip
    theirs = grant(others, modified_at=pp.iso(at(1)))
    for payload in (ended, newer, pending, earlier, theirs):
        mirror.upsert_benefit_grant(payload)
    mirror.apply_customer_state(state_payload(sub, ended, granted=False), event_time=at(3))
    rows = {str(g.pk): g for g in BenefitGrant.objects.all()}
    assert (rows[ended["id"]].is_granted, rows[ended["id"]].is_revoked) == (False, True)
    assert rows[ended["id"]].revoked_at == at(3)
    assert (rows[newer["id"]].is_granted, rows[newer["id"]].is_revoked) == (True, False)
    assert (rows[pending["id"]].is_granted, rows[pending["id"]].is_revoked) == (False, False)
    assert rows[earlier["id"]].revoked_at == at(1)
    assert (rows[theirs["id"]].is_granted, rows[theirs["id"]].is_revoked) == (True, False)


@pytest.mark.django_db
def test_a_customer_copy_missing_fields_merges_into_the_stored_snapshot():
    """Polar nests customers in other objects; a copy without a field keeps the one the
    full snapshot stored."""
    cid = pp.new_id()
    mirror.upsert_customer(pp.customer(cid, billing_name="Ada Ltd", modified=at(1)))
    copy_ = {k: v for k, v in pp.customer(cid, modified=at(2)).items() if k != "billing_name"}
    mirror.upsert_customer(copy_)
    assert Customer.objects.get().data["billing_name"] == "Ada Ltd"


@pytest.mark.django_db
def test_a_customer_stored_before_its_billable_existed_is_linked_by_a_late_copy():
    """Even a copy older than the stored snapshot links it: the link is ours, not Polar's."""
    later = pp.new_id()
    carol_id = "testapp.user:999"
    mirror.upsert_customer(pp.customer(later, carol_id, modified=at(5)))
    carol = User.objects.create_user("carol", "carol@example.com", id=999)
    assert carol.get_polar_external_id() == carol_id
    linked = mirror.upsert_customer(pp.customer(later, carol_id, modified=at(4)))
    assert linked.billable == carol


@pytest.mark.django_db
def test_a_deleted_customer_releases_its_billable_at_once():
    """Not only when a new customer takes the billable: from the deletion on, the billable
    has no Polar customer in the mirror."""
    ada = User.objects.create_user("ada", "ada@example.com")
    data = pp.customer(pp.new_id(), ada.get_polar_external_id(), modified=at(1))
    assert mirror.upsert_customer(data).billable == ada
    gone = mirror.upsert_customer(
        {**data, "modified_at": pp.iso(at(2)), "deleted_at": pp.iso(at(2))}
    )
    assert gone.billable_id is None
    assert Customer.objects.get(pk=data["id"]).billable_id is None


@pytest.mark.django_db
def test_an_order_snapshot_replaces_the_stored_json():
    sub = make_sub()
    order = order_payload(sub, modified=at(1))
    mirror.upsert_order({**order, "legacy_field": 1})
    mirror.upsert_order({**order, "modified_at": pp.iso(at(2))})
    assert "legacy_field" not in Order.objects.get().data  # Polar no longer sends it


@pytest.mark.django_db
def test_an_older_snapshot_is_logged_with_its_model_and_id(caplog):
    created = make_sub(modified=at(2))
    mirror.upsert_subscription(created)
    with caplog.at_level("DEBUG", logger="django_polar.mirror"):
        mirror.upsert_subscription({**created, "modified_at": pp.iso(at(1))})
    assert f"Skipping older snapshot of Subscription {created['id']}" in caplog.messages


@pytest.mark.django_db
def test_a_pay_what_you_want_price_shows_its_preset_else_its_minimum():
    product_id = pp.new_id()
    custom = {"amount_type": "custom", "price_amount": None, "minimum_amount": 300}
    preset = mirror.upsert_price(pp.price(pp.new_id(), product_id, **custom, preset_amount=500))
    minimum = mirror.upsert_price(pp.price(pp.new_id(), product_id, **custom, preset_amount=None))
    assert (preset.amount, minimum.amount) == (500, 300)


@pytest.mark.django_db
def test_a_subscriptions_type_is_the_checkouts_cut_to_its_column_else_the_default():
    long_type = "t" * 100
    typed = mirror.upsert_subscription(make_sub(metadata={"subscription_type": long_type}))
    empty = mirror.upsert_subscription(make_sub(metadata={"subscription_type": ""}))
    no_metadata = mirror.upsert_subscription(make_sub(metadata=None))
    assert typed.type == long_type[:64]
    assert (empty.type, no_metadata.type) == ("default", "default")


@pytest.mark.django_db
def test_a_snapshot_without_times_is_versioned_by_its_event_and_keeps_it_without_one():
    """Payloads of older API versions may carry no times: the event's time versions them,
    and a later copy without any time leaves the stored version alone."""
    data = {**pp.customer(pp.new_id()), "created_at": None, "modified_at": None}
    mirror.upsert_customer(data, event_time=at(1))
    mirror.upsert_customer(data, event_time=at(2))  # the same data, a newer event
    assert Customer.objects.get().modified_at == at(2)
    mirror.upsert_customer({**data, "name": "Ada L."})  # no time at all
    row = Customer.objects.get()
    assert (row.name, row.modified_at) == ("Ada L.", at(2))


@pytest.mark.django_db
def test_a_price_keeps_its_currency_type_and_interval():
    product_id = pp.new_id()
    monthly = mirror.upsert_price(
        pp.price(pp.new_id(), product_id, price_currency="eur", recurring_interval="month")
    )
    once = mirror.upsert_price(pp.price(pp.new_id(), product_id, recurring_interval=None))
    assert (monthly.currency, monthly.amount_type, monthly.recurring_interval) == (
        "eur",
        "fixed",
        "month",
    )
    assert (once.currency, once.recurring_interval) == ("usd", None)
    assert monthly.created_at == T0 and monthly.is_archived is False
    archived = mirror.upsert_price(pp.price(pp.new_id(), product_id, is_archived=True))
    assert archived.is_archived is True


@pytest.mark.django_db
def test_a_customers_columns_are_cut_to_fit_and_its_type_defaults_to_individual():
    """The columns hold what fits (PostgreSQL refuses longer values); the JSON keeps all."""
    long_email = "a" * 320 + "@example.com"
    data = {**pp.customer(pp.new_id()), "name": "N" * 300, "email": long_email}
    del data["type"]  # older API versions send no type
    row = mirror.upsert_customer(data)
    assert (row.name, row.email) == ("N" * 256, long_email[:320])
    assert (row.type, row.created_at) == ("individual", T0)
    assert Customer.objects.get().data["name"] == "N" * 300


@pytest.mark.django_db
def test_a_new_customer_frees_only_the_deleted_holder_of_its_own_external_id():
    """Polar lets a new customer reuse a deleted one's external id; other deleted customers
    keep theirs, and a deleted customer's own snapshot, applied again, keeps its own."""
    gone = {"deleted_at": pp.iso(at(1)), "modified_at": pp.iso(at(1))}
    first = pp.customer(pp.new_id(), "testapp.user:501", **gone)
    second = pp.customer(pp.new_id(), "testapp.user:502", **gone)
    mirror.upsert_customer(first)
    mirror.upsert_customer(second)
    mirror.upsert_customer({**first, "modified_at": pp.iso(at(2))})  # its own id: kept
    assert Customer.objects.get(pk=first["id"]).external_id == "testapp.user:501"
    mirror.upsert_customer(pp.customer(pp.new_id(), "testapp.user:501"))
    assert Customer.objects.get(pk=first["id"]).external_id is None
    assert Customer.objects.get(pk=second["id"]).external_id == "testapp.user:502"


@pytest.mark.django_db
def test_a_deleted_customer_keeps_no_trace_of_its_billable():
    ada = User.objects.create_user("ada", "ada@example.com")
    data = pp.customer(pp.new_id(), ada.get_polar_external_id(), modified=at(1))
    mirror.upsert_customer(data)
    mirror.upsert_customer({**data, "modified_at": pp.iso(at(2)), "deleted_at": pp.iso(at(2))})
    row = Customer.objects.get()
    assert (row.billable_type_id, row.billable_id) == (None, None)


@pytest.mark.django_db
def test_upsert_many_counts_and_guard():
    subs = [make_sub(modified=at(5)) for _ in range(3)]
    counts = mirror.upsert_many("subscription", subs)
    assert (counts.created, counts.updated, counts.unchanged, counts.skipped_older) == (3, 0, 0, 0)
    assert Product.objects.filter(name="Pro").count() == 3 and Price.objects.count() == 3
    assert all(p.benefits.count() == 1 for p in Product.objects.all())
    newer = {**copy.deepcopy(subs[0]), "modified_at": pp.iso(at(9)), "status": "past_due"}
    older = {**copy.deepcopy(subs[1]), "modified_at": pp.iso(at(1)), "status": "canceled"}
    counts = mirror.upsert_many("subscription", [newer, older, subs[2]])
    assert (counts.created, counts.updated, counts.unchanged, counts.skipped_older) == (0, 1, 1, 1)
    assert Subscription.objects.get(pk=subs[0]["id"]).status == "past_due"
    assert Subscription.objects.get(pk=subs[1]["id"]).status == "active"


@pytest.mark.django_db
def test_upsert_many_links_billables_and_matches_single_upserts():
    from tests.testapp.models import User

    ada = User.objects.create(username="ada")
    cust = pp.customer(pp.new_id(), ada.get_polar_external_id())
    assert mirror.upsert_many("customer", [cust]).created == 1
    assert Customer.objects.get().billable == ada
    prod_id = pp.new_id()
    prod = pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], [pp.benefit(pp.new_id())])
    mirror.upsert_many("product", [prod])
    later = {**prod, "modified_at": pp.iso(at(4)), "prices": [pp.price(pp.new_id(), prod_id, 2000)]}
    mirror.upsert_many("product", [later])
    assert sorted(Price.objects.values_list("amount", "is_archived")) == [
        (1500, True),
        (2000, False),
    ]


@pytest.mark.django_db
def test_upsert_many_counts_a_row_the_database_refuses_instead_of_losing_it():
    # An order without a customer breaks NOT NULL: on SQLite, INSERT OR IGNORE used to drop
    # it while counting it "created"; on PostgreSQL it used to fail the whole page.
    sub = make_sub()
    good = order_payload(sub, subscription_id=None)
    orphan = order_payload(sub, subscription_id=None, customer=None, customer_id=None)
    counts = mirror.upsert_many("order", [good, orphan])
    assert (counts.created, counts.failed, counts.total) == (1, 1, 2)
    assert [str(pk) for pk in Order.objects.values_list("pk", flat=True)] == [good["id"]]


@pytest.mark.django_db
def test_bulk_insert_of_a_row_created_meanwhile_goes_through_the_version_guard():
    from django_polar.mirror import bulk

    sub = make_sub()
    mirror.upsert_subscription(sub)
    older = order_payload(sub, modified=at(1), subscription_id=None, status="pending")
    newer = order_payload(sub, id=older["id"], modified=at(5), subscription_id=None)
    mirror.upsert_order(newer)  # another worker wrote the newer snapshot after our read

    def row(data):
        values = bulk._values("order", data)
        return Order(pk=data["id"], data=data, modified_at=mirror.version_of(data), **values)

    outcomes = bulk._insert_missing(Order, [(row(older), bulk._values("order", older))], False)
    assert outcomes == [mirror.Outcome.SKIPPED_OLDER]
    assert Order.objects.get().status == "paid"


@pytest.mark.django_db
def test_a_page_naming_known_customers_and_products_inserts_no_stubs():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    subs = [make_sub() for _ in range(3)]
    for sub in subs:
        mirror.upsert_subscription(sub)
    orders = [
        {**order_payload(sub, subscription_id=None), "customer": None, "product": None}
        for sub in subs
    ]
    assert mirror.upsert_many("order", orders).created == 3
    with CaptureQueriesContext(connection) as queries:
        counts = mirror.upsert_many("order", orders)
    assert counts.unchanged == 3
    inserts = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert inserts == []


@pytest.mark.django_db
def test_state_fetched_without_a_time_still_ends_what_it_no_longer_lists():
    # The customer was last edited long ago; its subscription changed since, then ended.
    created = make_sub()
    created["customer"]["modified_at"] = pp.iso(T0 - timedelta(days=120))
    mirror.upsert_subscription({**created, "modified_at": pp.iso(at(10))})
    grant = grant_payload(created, modified=at(10))
    mirror.upsert_benefit_grant(grant)
    mirror.apply_customer_state(state_payload(created, grant, granted=False))  # fetched now
    assert Subscription.objects.get().status == "canceled"
    assert BenefitGrant.objects.get().is_revoked is True


@pytest.mark.django_db
def test_a_time_without_offset_is_taken_as_utc():
    data = {**pp.customer(pp.new_id()), "modified_at": "2026-03-01T12:00:00"}
    customer = mirror.upsert_customer(data)
    assert customer.modified_at.isoformat() == "2026-03-01T12:00:00+00:00"


def test_the_old_resolve_billable_name_warns_in_words_and_other_names_do_not_exist():
    """Code written against the old name keeps working and is told, exactly, what to use;
    a misspelt name is the usual AttributeError, not a silent None."""
    with pytest.warns(DeprecationWarning) as caught:
        assert mirror.resolve_billable is billable_from_external_id
    assert [str(w.message) for w in caught] == [
        "django_polar.mirror.resolve_billable is deprecated; use "
        "django_polar.identity.billable_from_external_id."
    ]
    assert caught[0].filename != mirror.__file__  # points at the caller, not at itself
    with pytest.raises(AttributeError) as missing:
        _ = mirror.resolve_billables
    assert str(missing.value) == "module 'django_polar.mirror' has no attribute 'resolve_billables'"


# members, seats, meters, refunds, deleted customers: each function's own rules ----------
def member(customer_id, **kw) -> dict:
    return {
        "id": kw.pop("id", pp.new_id()),
        "customer_id": str(customer_id),
        "email": "grace@example.com",
        "name": "Grace",
        "external_id": None,
        "role": "member",
        "created_at": pp.iso(T0),
        "modified_at": pp.iso(T0),
        **kw,
    }


def seat(**kw) -> dict:
    return {
        "id": kw.pop("id", pp.new_id()),
        "status": "pending",
        "email": "grace@example.com",
        "subscription_id": None,
        "order_id": None,
        "member_id": None,
        "member": None,
        "claimed_at": None,
        "revoked_at": None,
        "invitation_token_expires_at": None,
        "created_at": pp.iso(T0),
        "modified_at": pp.iso(T0),
        **kw,
    }


def meter(**kw) -> dict:
    return {
        "id": kw.pop("id", pp.new_id()),
        "name": "API calls",
        "filter": {"conjunction": "and", "clauses": []},
        "aggregation": {"func": "count"},
        "archived_at": None,
        "created_at": pp.iso(T0),
        "modified_at": pp.iso(T0),
        "metadata": {},
        **kw,
    }


@pytest.fixture
def mirror_customer():
    return make_customer(User.objects.create_user("ada", "ada@example.com"))


@pytest.mark.django_db
def test_a_member_snapshot_older_than_the_stored_one_changes_nothing(mirror_customer):
    newer = member(
        mirror_customer.pk, name="Grace Hopper", modified_at=pp.iso(T0 + timedelta(hours=2))
    )
    mirror.upsert_member(newer)
    older = {**newer, "name": "G.", "modified_at": pp.iso(T0 + timedelta(hours=1))}
    mirror.upsert_member(older)
    assert Member.objects.get(pk=newer["id"]).name == "Grace Hopper"


@pytest.mark.django_db
def test_member_deleted_marks_the_member_deleted_and_member_updated_does_not(mirror_customer):
    data = member(mirror_customer.pk)
    assert mirror.upsert_member(data).is_deleted is False
    gone = mirror.delete_member({**data, "modified_at": pp.iso(T0 + timedelta(hours=1))})
    assert gone.is_deleted is True
    assert Member.objects.get(pk=data["id"]).is_deleted is True


@pytest.mark.django_db
def test_a_seat_snapshot_older_than_the_stored_one_changes_nothing():
    newer = seat(status="claimed", modified_at=pp.iso(T0 + timedelta(hours=2)))
    mirror.upsert_seat(newer)
    mirror.upsert_seat(
        {**newer, "status": "pending", "modified_at": pp.iso(T0 + timedelta(hours=1))}
    )
    assert Seat.objects.get(pk=newer["id"]).status == "claimed"


@pytest.mark.django_db
def test_a_meter_is_archived_exactly_when_polar_archived_it():
    data = meter()
    assert mirror.upsert_meter(data).is_archived is False
    later = T0 + timedelta(hours=1)
    archived = mirror.upsert_meter(
        {**data, "archived_at": pp.iso(later), "modified_at": pp.iso(later)}
    )
    assert archived.is_archived is True
    assert Meter.objects.get(pk=data["id"]).is_archived is True


@pytest.mark.django_db
def test_a_meter_snapshot_older_than_the_stored_one_changes_nothing():
    newer = meter(name="Tokens", modified_at=pp.iso(T0 + timedelta(hours=2)))
    mirror.upsert_meter(newer)
    mirror.upsert_meter({**newer, "name": "Calls", "modified_at": pp.iso(T0 + timedelta(hours=1))})
    assert Meter.objects.get(pk=newer["id"]).name == "Tokens"


@pytest.mark.django_db
def test_a_refund_snapshot_older_than_the_stored_one_changes_nothing(mirror_customer):
    order = Order.objects.create(id=uuid.uuid4(), customer=mirror_customer, total_amount=1000)
    refund = {
        "id": pp.new_id(),
        "status": "succeeded",
        "reason": "customer_request",
        "amount": 400,
        "tax_amount": 0,
        "currency": "usd",
        "revoke_benefits": False,
        "order_id": str(order.pk),
        "customer_id": str(mirror_customer.pk),
        "subscription_id": None,
        "created_at": pp.iso(T0),
        "modified_at": pp.iso(T0 + timedelta(hours=2)),
        "metadata": {},
    }
    mirror.upsert_refund(refund)
    mirror.upsert_refund(
        {**refund, "status": "pending", "modified_at": pp.iso(T0 + timedelta(hours=1))}
    )
    assert Refund.objects.get(pk=refund["id"]).status == "succeeded"
    assert Order.objects.get(pk=order.pk).refunded_amount == 400


@pytest.mark.parametrize(
    ("upsert", "message"),
    [
        (mirror.upsert_refund, "Polar refund without a valid id"),
        (mirror.upsert_seat, "Polar seat without a valid id"),
        (mirror.upsert_meter, "Polar meter without a valid id"),
        (mirror.upsert_member, "Polar member without a valid id or customer_id"),
        (mirror.upsert_benefit_grant, "Polar benefit grant without a valid id"),
        (mirror.upsert_subscription, "Polar subscription without a valid id"),
        (mirror.upsert_order, "Polar order without a valid id"),
        (mirror.upsert_benefit, "Polar benefit without a valid id"),
        (mirror.upsert_price, "Polar price without a valid id"),
        (mirror.upsert_product, "Polar product without a valid id"),
        (mirror.upsert_customer, "Polar customer without an id"),
    ],
)
@pytest.mark.django_db
def test_a_payload_without_a_valid_id_is_refused_in_words(upsert, message):
    """The inbox shows this as the event's error: it must say what was wrong."""
    with pytest.raises(ValueError) as refused:
        upsert({"id": "not-a-uuid", "customer_id": str(uuid.uuid4())})
    assert str(refused.value) == message


@pytest.mark.django_db
def test_a_subscription_without_a_product_is_refused_in_words():
    pk = pp.new_id()
    with pytest.raises(ValueError) as refused:
        mirror.upsert_subscription({"id": pk, "customer_id": pp.new_id()})
    assert str(refused.value) == f"Polar subscription {pk} has no product"


@pytest.mark.django_db
def test_a_deleted_customer_is_marked_once_at_the_time_given(mirror_customer):
    other = make_customer(User.objects.create_user("bob", "bob@example.com"))
    when = T0 + timedelta(minutes=5)
    assert mirror.mark_customer_deleted(str(mirror_customer.pk), when=when) is True
    assert Customer.objects.get(pk=mirror_customer.pk).deleted_at == when
    # A second delete (the webhook after the API's 204) keeps the first time.
    assert mirror.mark_customer_deleted(mirror_customer.pk, when=when + timedelta(hours=1)) is False
    assert Customer.objects.get(pk=mirror_customer.pk).deleted_at == when
    assert Customer.objects.get(pk=other.pk).deleted_at is None
    assert mirror.mark_customer_deleted("not-a-uuid") is False


@pytest.mark.django_db
def test_a_deleted_customer_without_a_time_is_marked_now(mirror_customer):
    before = timezone.now()
    assert mirror.mark_customer_deleted(mirror_customer.pk) is True
    assert before <= Customer.objects.get(pk=mirror_customer.pk).deleted_at <= timezone.now()


@pytest.mark.django_db
def test_the_billable_of_a_customer_is_found_by_external_id_then_by_the_stored_link():
    ada = User.objects.create_user("ada", "ada@example.com")
    bob = User.objects.create_user("bob", "bob@example.com")
    assert mirror.billable_of(make_customer(ada, link=False)) == ada
    assert mirror.billable_of(make_customer(bob, external_id=None)) == bob
    assert mirror.billable_of(make_customer(bob, link=False, external_id=None)) is None
    assert mirror.billable_of(None) is None


# the bulk path (upsert_many, polar_sync) ------------------------------------------------
def orders_naming_unknown_customers_and_products(count: int) -> tuple[list[dict], list[dict]]:
    """Order payloads that name their customer and product by id only, before the mirror
    has either (Polar lists orders in pages of their own)."""
    subs = [make_sub() for _ in range(count)]
    orders = [
        {**order_payload(sub, subscription_id=None), "customer": None, "product": None}
        for sub in subs
    ]
    return subs, orders


@pytest.mark.django_db
def test_a_page_naming_unknown_customers_and_products_stores_placeholders_in_one_insert_each():
    """Orders listed before their customers and products keep their foreign keys: each id
    gets a placeholder that the object's first snapshot fills in, and a page costs one
    insert per table however many ids it names."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    subs, orders = orders_naming_unknown_customers_and_products(3)
    with CaptureQueriesContext(connection) as queries:
        counts = mirror.upsert_many("order", orders)
    assert (counts.created, counts.failed) == (3, 0)
    inserts = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("INSERT")]
    tables = sorted(sql.split('"')[1] for sql in inserts)
    assert tables == sorted(m._meta.db_table for m in (Customer, Order, Product))
    placeholders = Customer.objects.filter(pk__in=[s["customer_id"] for s in subs])
    assert sorted(str(c.pk) for c in placeholders) == sorted(s["customer_id"] for s in subs)
    assert {c.modified_at for c in placeholders} == {None}  # no version: any snapshot applies
    products = Product.objects.filter(pk__in=[s["product_id"] for s in subs])
    assert sorted(str(p.pk) for p in products) == sorted(s["product_id"] for s in subs)
    assert not Product.objects.active().exists()  # a placeholder is never for sale
    mirror.upsert_many("customer", [subs[0]["customer"]])
    assert Customer.objects.get(pk=subs[0]["customer_id"]).email == "ada@example.com"


@pytest.mark.django_db
def test_a_customer_a_webhook_stored_while_the_page_was_written_is_kept_as_it_is():
    """Between a page's read of which customers exist and its insert of the missing ones,
    a webhook may store one of them: the page still stores every order, and the
    placeholder never replaces the webhook's snapshot."""
    from django.db import connection

    subs, orders = orders_naming_unknown_customers_and_products(2)
    raced = {**subs[0]["customer"], "modified_at": pp.iso(at(3)), "name": "From the webhook"}
    table = Customer._meta.db_table
    state = {"read": False, "done": False}

    def webhook_meanwhile(execute, sql, params, many, context):
        # The placeholders' insert runs in a savepoint that follows the read; the
        # webhook's row lands just before it, as another worker's commit would.
        if sql.lstrip().upper().startswith("SELECT") and f'FROM "{table}"' in sql:
            state["read"] = True
        elif state["read"] and not state["done"] and sql.lstrip().upper().startswith("SAVEPOINT"):
            state["done"] = True
            mirror.upsert_customer(raced)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(webhook_meanwhile):
        counts = mirror.upsert_many("order", orders)
    assert state["done"]
    assert (counts.created, counts.failed) == (2, 0)
    kept = Customer.objects.get(pk=raced["id"])
    assert (kept.name, kept.modified_at) == ("From the webhook", at(3))
    assert Customer.objects.filter(pk=subs[1]["customer_id"]).exists()
    assert Order.objects.filter(customer_id=raced["id"]).count() == 1


def untimed(data: dict) -> dict:
    """A snapshot without ``modified_at`` or ``created_at``: only an event time versions it."""
    return {k: v for k, v in data.items() if k not in ("created_at", "modified_at")}


def legacy_price_of_another_product(sub: dict) -> dict:
    """A price the subscription still pays that its product no longer lists, of a product
    the mirror has not seen (a plan change kept the old price)."""
    price = pp.price(pp.new_id(), pp.new_id(), 900)
    sub["prices"] = [*sub["prices"], price]
    return price


@pytest.mark.django_db
def test_a_subscription_page_stores_its_customers_and_every_price_it_pays():
    """A page of subscriptions on an empty mirror brings each nested customer whole and
    each price the subscription lists, even one its product no longer lists, with a
    placeholder for that price's product (never for sale)."""
    sub = make_sub()
    legacy = legacy_price_of_another_product(sub)
    assert mirror.upsert_many("subscription", [sub]).created == 1
    assert Customer.objects.get().email == "ada@example.com"
    price = Price.objects.get(pk=legacy["id"])
    assert (price.amount, str(price.product_id)) == (900, legacy["product_id"])
    placeholder = Product.objects.get(pk=legacy["product_id"])
    assert (placeholder.name, placeholder.modified_at) == ("", None)
    assert list(Product.objects.active()) == [Product.objects.get(pk=sub["product_id"])]


@pytest.mark.django_db
def test_an_order_page_merges_the_abridged_product_and_subscription_it_nests():
    """The product and subscription inside an order are abridged copies: a newer one
    updates their rows and is merged into the stored JSON (the full snapshot's keys stay),
    and a subscription copy without ``customer_id`` belongs to the order's customer."""
    sub = make_sub()
    mirror.upsert_many("subscription", [sub])
    product = {k: v for k, v in sub["product"].items() if k != "benefits"}
    product.update(modified_at=pp.iso(at(3)), name="Pro (renamed)")
    copy_of_sub = {
        k: v for k, v in sub.items() if k not in ("customer", "customer_id", "product", "prices")
    }
    copy_of_sub.update(modified_at=pp.iso(at(4)), status="past_due")
    order = order_payload(sub, product=product, subscription=copy_of_sub)
    assert mirror.upsert_many("order", [order]).created == 1
    row = Product.objects.get()
    assert row.name == "Pro (renamed)"
    assert "benefits" in row.data and row.benefits.count() == 1
    subscription = Subscription.objects.get()
    assert (subscription.status, str(subscription.customer_id)) == ("past_due", sub["customer_id"])
    assert subscription.data["prices"] == sub["prices"]  # merged, not replaced


@pytest.mark.django_db
def test_a_grant_page_stores_the_customer_and_benefit_it_nests_or_names():
    """Grants synced before customers and benefits: a nested copy is stored whole, a bare
    id gets a placeholder."""
    sub = make_sub()
    grant = grant_payload(sub)
    named = {
        **grant_payload(make_sub()),
        "id": pp.new_id(),
        "customer": None,
        "benefit": None,
        "customer_id": pp.new_id(),
        "benefit_id": pp.new_id(),
    }
    assert mirror.upsert_many("benefit_grant", [grant, named]).created == 2
    assert Customer.objects.get(pk=grant["customer_id"]).email == "ada@example.com"
    assert Benefit.objects.get(pk=grant["benefit_id"]).description == "Priority support"
    assert Customer.objects.get(pk=named["customer_id"]).modified_at is None
    assert Benefit.objects.get(pk=named["benefit_id"]).modified_at is None


@pytest.mark.django_db
def test_member_and_seat_pages_name_customers_and_bring_members_not_mirrored_yet():
    """Members synced before their customer get a placeholder customer; seats synced
    before their members store the member nested in each seat."""
    customer_id = pp.new_id()
    assert mirror.upsert_many("member", [member(customer_id)]).created == 1
    assert Customer.objects.get(pk=customer_id).modified_at is None
    holder = member(customer_id, email="ben@example.com", external_id="user:9")
    claimed = seat(status="claimed", email="ben@example.com", member_id=holder["id"], member=holder)
    assert mirror.upsert_many("seat", [claimed]).created == 1
    assert Seat.objects.get().member.external_id == "user:9"


@pytest.mark.django_db
def test_a_page_applied_with_an_event_time_versions_the_nested_objects_without_times():
    """``event_time`` (the guard's version when a snapshot carries no time) reaches every
    object a page nests: customers, products, prices, subscriptions, benefits, members."""
    sub = make_sub()
    sub["customer"] = untimed(sub["customer"])
    sub["product"] = untimed(sub["product"])
    legacy = untimed(legacy_price_of_another_product(sub))
    sub["prices"][-1] = legacy
    mirror.upsert_many("subscription", [sub], event_time=at(5))
    assert Customer.objects.get().modified_at == at(5)
    assert Product.objects.get(pk=sub["product_id"]).modified_at == at(5)
    assert Price.objects.get(pk=legacy["id"]).modified_at == at(5)

    other = make_sub()
    product = untimed({k: v for k, v in other["product"].items() if k != "benefits"})
    nested_sub = untimed({k: v for k, v in other.items() if k not in ("customer", "product")})
    order = order_payload(other, product=product, subscription=nested_sub)
    mirror.upsert_many("order", [order], event_time=at(6))
    assert Product.objects.get(pk=other["product_id"]).modified_at == at(6)
    assert Subscription.objects.get(pk=other["id"]).modified_at == at(6)

    grant = grant_payload(make_sub())
    grant["benefit"] = untimed(grant["benefit"])
    mirror.upsert_many("benefit_grant", [grant], event_time=at(7))
    assert Benefit.objects.get(pk=grant["benefit_id"]).modified_at == at(7)

    holder = untimed(member(sub["customer_id"]))
    seat = {"id": pp.new_id(), "status": "claimed", "member_id": holder["id"], "member": holder}
    mirror.upsert_many("seat", [seat], event_time=at(8))
    assert Member.objects.get().modified_at == at(8)


@pytest.mark.django_db
def test_a_subscription_known_only_from_an_order_belongs_to_the_orders_customer():
    """A subscription the mirror has not seen, nested in an order as a copy that does not
    name its customer, is stored as the order's customer's."""
    sub = make_sub()
    copy_of_sub = {
        k: v for k, v in sub.items() if k not in ("customer", "customer_id", "product", "prices")
    }
    order = order_payload(sub, subscription=copy_of_sub)
    assert mirror.upsert_many("order", [order]).created == 1
    stored = Subscription.objects.get()
    assert str(stored.customer_id) == sub["customer_id"]
    assert set(stored.data) == {*copy_of_sub, "customer_id"}


@pytest.mark.django_db
def test_a_page_listing_an_object_twice_keeps_its_newest_snapshot():
    """Polar's pages can shift while they are read, so one object may come twice: the
    newest snapshot is applied whatever the order, an untimed one versioned by the event
    time, and entries that are not objects with a valid id are skipped."""
    cust = pp.customer(pp.new_id(), modified=at(1))
    newer, older = {**cust, "modified_at": pp.iso(at(9)), "name": "New"}, {**cust, "name": "Old"}
    junk = [None, "not an object", {"id": "not-a-uuid"}]
    assert mirror.upsert_many("customer", [*junk, newer, older]).created == 1
    assert Customer.objects.get().name == "New"
    Customer.objects.all().delete()
    untimed_copy = {**untimed(cust), "name": "Untimed"}
    mirror.upsert_many("customer", [newer, untimed_copy], event_time=at(5))
    assert Customer.objects.get().name == "New"  # at(9) beats the event's at(5)
    Customer.objects.all().delete()
    mirror.upsert_many("customer", [untimed_copy, older], event_time=at(5))
    row = Customer.objects.get()
    assert (row.name, row.modified_at) == ("Untimed", at(5))  # at(5) beats at(1)


@pytest.mark.django_db
def test_every_refused_row_of_a_page_is_counted_and_logged_and_the_others_stored(caplog):
    """Rows the database refuses anywhere on a page are each counted in ``failed`` and
    logged with the database's reason; the rows between them are stored."""
    import logging

    sub = make_sub()
    good = order_payload(sub, subscription_id=None)
    orphans = [
        order_payload(sub, subscription_id=None, customer=None, customer_id=None) for _ in range(2)
    ]
    with caplog.at_level(logging.INFO, logger="django_polar.mirror"):
        counts = mirror.upsert_many("order", [orphans[0], good, orphans[1]])
    assert (counts.created, counts.failed, counts.total) == (1, 2, 3)
    assert [str(pk) for pk in Order.objects.values_list("pk", flat=True)] == [good["id"]]
    messages = [r.getMessage() for r in caplog.records if r.name == "django_polar.mirror"]
    assert "Bulk insert of 3 Order rows failed; inserting one by one" in messages
    for orphan in orphans:
        [line] = [m for m in messages if m.startswith(f"Order {orphan['id']} not stored: ")]
        assert "customer_id" in line  # the database's own reason


@pytest.mark.django_db
def test_customer_snapshots_are_merged_and_other_kinds_replaced():
    """Customers come in several shapes (the customer state has no ``metadata``), so a
    sync merges their JSON, leaving out the state's own keys; a product's full snapshot
    replaces the stored one, so a key Polar dropped is gone."""
    cust = pp.customer(pp.new_id(), modified=at(1))
    mirror.upsert_many("customer", [cust])
    state_shape = {k: v for k, v in cust.items() if k != "metadata"}
    state_shape.update(modified_at=pp.iso(at(2)), active_subscriptions=[], granted_benefits=[])
    assert mirror.upsert_many("customer", [state_shape]).updated == 1
    data = Customer.objects.get().data
    assert "metadata" in data and not {"active_subscriptions", "granted_benefits"} & set(data)
    prod_id = pp.new_id()
    prod = pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], [], legacy_key=1)
    mirror.upsert_many("product", [prod])
    later = {k: v for k, v in prod.items() if k != "legacy_key"}
    assert mirror.upsert_many("product", [{**later, "modified_at": pp.iso(at(3))}]).updated == 1
    assert "legacy_key" not in Product.objects.get().data


@pytest.mark.django_db
def test_equal_versions_apply_and_an_untimed_copy_of_the_same_data_changes_nothing():
    """A snapshot of the stored version with other values is applied (the guard lets equal
    versions through); a newer one moves the row's version; listing the same untimed
    snapshot again counts as unchanged and writes nothing."""
    cust = pp.customer(pp.new_id(), modified=at(1))
    mirror.upsert_many("customer", [cust])
    assert mirror.upsert_many("customer", [{**cust, "name": "Same version"}]).updated == 1
    assert Customer.objects.get().name == "Same version"
    assert mirror.upsert_many("customer", [{**cust, "modified_at": pp.iso(at(7))}]).updated == 1
    assert Customer.objects.get().modified_at == at(7)
    prod_id = pp.new_id()
    prod = untimed(pp.product(prod_id, [pp.price(pp.new_id(), prod_id)], []))
    mirror.upsert_many("product", [prod], event_time=at(5))
    assert mirror.upsert_many("product", [copy.deepcopy(prod)]).unchanged == 1
    assert Product.objects.get().modified_at == at(5)


@pytest.mark.django_db
def test_a_newer_snapshot_of_a_customer_created_meanwhile_is_merged_into_it():
    """When another worker inserted the customer between the page's read and its insert,
    the page's newer snapshot still applies, merged like every customer snapshot."""
    from django_polar.mirror import bulk

    cust = pp.customer(pp.new_id(), modified=at(1))
    mirror.upsert_customer({**cust, "extra": "kept"})  # the other worker's snapshot
    newer = {**cust, "modified_at": pp.iso(at(5)), "name": "Newer"}
    values = bulk._values("customer", newer)
    row = Customer(pk=newer["id"], data=newer, modified_at=at(5), **values)
    assert bulk._insert_missing(Customer, [(row, values)], True) == [mirror.Outcome.UPDATED]
    stored = Customer.objects.get()
    assert (stored.name, stored.data["extra"], stored.modified_at) == ("Newer", "kept", at(5))


@pytest.mark.django_db
def test_a_customer_a_webhook_inserted_while_the_page_was_written_gets_the_newer_snapshot():
    """The page read no row, then a webhook inserted the customer before the page's
    insert: the page's newer snapshot goes through the guard and is merged into it."""
    from django.db import connection

    cust = pp.customer(pp.new_id(), modified=at(1))
    newer = {**cust, "modified_at": pp.iso(at(5)), "name": "Newer"}
    table = Customer._meta.db_table
    state = {"read": False, "done": False}

    def webhook_meanwhile(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT") and f'FROM "{table}"' in sql:
            state["read"] = True
        elif state["read"] and not state["done"] and sql.lstrip().upper().startswith("SAVEPOINT"):
            state["done"] = True
            mirror.upsert_customer({**cust, "extra": "kept"})
        return execute(sql, params, many, context)

    with connection.execute_wrapper(webhook_meanwhile):
        counts = mirror.upsert_many("customer", [newer])
    assert state["done"]
    assert (counts.created, counts.updated, counts.failed) == (0, 1, 0)
    stored = Customer.objects.get()
    assert (stored.name, stored.data["extra"], stored.modified_at) == ("Newer", "kept", at(5))
