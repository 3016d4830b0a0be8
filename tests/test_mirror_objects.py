"""The mirror functions of the objects around a subscription (team members, seats, meters,
refunds, deleted customers): what a webhook handler or ``polar_sync`` leaves in the rows.

tests/test_mirror.py covers subscriptions, orders and customer state; tests/test_seats.py
drives seats through the emulator. These pin each function's own rules: the version
guard, the flags they set and the words of a payload they refuse (which the webhook
inbox shows as the event's error).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from django_polar import mirror
from django_polar.models import Customer, Member, Meter, Order, Refund, Seat
from tests import polar_payloads as pp
from tests.fixtures import make_customer
from tests.testapp.models import User

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


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
def customer():
    return make_customer(User.objects.create_user("ada", "ada@example.com"))


def test_a_member_snapshot_older_than_the_stored_one_changes_nothing(customer):
    newer = member(customer.pk, name="Grace Hopper", modified_at=pp.iso(T0 + timedelta(hours=2)))
    mirror.upsert_member(newer)
    older = {**newer, "name": "G.", "modified_at": pp.iso(T0 + timedelta(hours=1))}
    mirror.upsert_member(older)
    assert Member.objects.get(pk=newer["id"]).name == "Grace Hopper"


def test_member_deleted_marks_the_member_deleted_and_member_updated_does_not(customer):
    data = member(customer.pk)
    assert mirror.upsert_member(data).is_deleted is False
    gone = mirror.delete_member({**data, "modified_at": pp.iso(T0 + timedelta(hours=1))})
    assert gone.is_deleted is True
    assert Member.objects.get(pk=data["id"]).is_deleted is True


def test_a_seat_snapshot_older_than_the_stored_one_changes_nothing():
    newer = seat(status="claimed", modified_at=pp.iso(T0 + timedelta(hours=2)))
    mirror.upsert_seat(newer)
    mirror.upsert_seat(
        {**newer, "status": "pending", "modified_at": pp.iso(T0 + timedelta(hours=1))}
    )
    assert Seat.objects.get(pk=newer["id"]).status == "claimed"


def test_a_meter_is_archived_exactly_when_polar_archived_it():
    data = meter()
    assert mirror.upsert_meter(data).is_archived is False
    later = T0 + timedelta(hours=1)
    archived = mirror.upsert_meter(
        {**data, "archived_at": pp.iso(later), "modified_at": pp.iso(later)}
    )
    assert archived.is_archived is True
    assert Meter.objects.get(pk=data["id"]).is_archived is True


def test_a_meter_snapshot_older_than_the_stored_one_changes_nothing():
    newer = meter(name="Tokens", modified_at=pp.iso(T0 + timedelta(hours=2)))
    mirror.upsert_meter(newer)
    mirror.upsert_meter({**newer, "name": "Calls", "modified_at": pp.iso(T0 + timedelta(hours=1))})
    assert Meter.objects.get(pk=newer["id"]).name == "Tokens"


def test_a_refund_snapshot_older_than_the_stored_one_changes_nothing(customer):
    order = Order.objects.create(id=uuid.uuid4(), customer=customer, total_amount=1000)
    refund = {
        "id": pp.new_id(),
        "status": "succeeded",
        "reason": "customer_request",
        "amount": 400,
        "tax_amount": 0,
        "currency": "usd",
        "revoke_benefits": False,
        "order_id": str(order.pk),
        "customer_id": str(customer.pk),
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
    ],
)
def test_a_payload_without_a_valid_id_is_refused_in_words(upsert, message):
    """The inbox shows this as the event's error: it must say what was wrong."""
    with pytest.raises(ValueError) as refused:
        upsert({"id": "not-a-uuid", "customer_id": str(uuid.uuid4())})
    assert str(refused.value) == message


def test_a_deleted_customer_is_marked_once_at_the_time_given(customer):
    other = make_customer(User.objects.create_user("bob", "bob@example.com"))
    when = T0 + timedelta(minutes=5)
    assert mirror.mark_customer_deleted(str(customer.pk), when=when) is True
    assert Customer.objects.get(pk=customer.pk).deleted_at == when
    # A second delete (the webhook after the API's 204) keeps the first time.
    assert mirror.mark_customer_deleted(customer.pk, when=when + timedelta(hours=1)) is False
    assert Customer.objects.get(pk=customer.pk).deleted_at == when
    assert Customer.objects.get(pk=other.pk).deleted_at is None
    assert mirror.mark_customer_deleted("not-a-uuid") is False


def test_a_deleted_customer_without_a_time_is_marked_now(customer):
    before = timezone.now()
    assert mirror.mark_customer_deleted(customer.pk) is True
    assert before <= Customer.objects.get(pk=customer.pk).deleted_at <= timezone.now()


def test_the_billable_of_a_customer_is_found_by_external_id_then_by_the_stored_link():
    ada = User.objects.create_user("ada", "ada@example.com")
    bob = User.objects.create_user("bob", "bob@example.com")
    assert mirror.billable_of(make_customer(ada, link=False)) == ada
    assert mirror.billable_of(make_customer(bob, external_id=None)) == bob
    assert mirror.billable_of(make_customer(bob, link=False, external_id=None)) is None
    assert mirror.billable_of(None) is None
