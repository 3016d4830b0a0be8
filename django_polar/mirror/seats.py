"""Seats and team members: ``customer_seat.*`` and ``member.*`` payloads -> rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models, transaction

from ..identity import billable_from_external_id
from ..models import Customer, Member, Seat
from ..models.convert import Fields, as_uuid, pick, text, to_datetime
from .guard import ensure_stub, save_snapshot, version_of

MEMBER_FIELDS: Fields = {
    "email": ("email", lambda v: text(v, 320)),
    "name": ("name", lambda v: text(v, 256)),
    "external_id": ("external_id", lambda v: None if v in (None, "") else text(v, 256)),
    "role": ("role", lambda v: text(v, 32)),
    "created_at": ("created_at", to_datetime),
}

SEAT_FIELDS: Fields = {
    "status": ("status", lambda v: text(v, 16)),
    "email": ("email", lambda v: text(v, 320)),
    "subscription_id": ("subscription_id", as_uuid),
    "order_id": ("order_id", as_uuid),
    "member_id": ("member_id", as_uuid),
    "claimed_at": ("claimed_at", to_datetime),
    "revoked_at": ("revoked_at", to_datetime),
    "invitation_token_expires_at": ("invitation_token_expires_at", to_datetime),
    "created_at": ("created_at", to_datetime),
}


def member_values(data: dict[str, Any]) -> dict[str, Any]:
    """A member's columns (the webhook and ``polar_sync`` store the same row)."""
    return {**pick(data, MEMBER_FIELDS), "customer_id": as_uuid(data.get("customer_id"))}


def upsert_member(
    data: dict[str, Any], *, event_time: datetime | None = None, deleted: bool = False
) -> Member:
    """Mirror a member (``deleted``: the member.deleted snapshot)."""
    pk = as_uuid(data.get("id"))
    customer_id = as_uuid(data.get("customer_id"))
    if pk is None or customer_id is None:
        raise ValueError("Polar member without a valid id or customer_id")
    with transaction.atomic():
        ensure_stub(Customer, customer_id)
        values = member_values(data)
        if deleted:
            values["is_deleted"] = True
        member, _ = save_snapshot(Member, pk, version_of(data, event_time), values, data)
    return member


def delete_member(data: dict[str, Any], *, event_time: datetime | None = None) -> Member:
    return upsert_member(data, event_time=event_time, deleted=True)


def upsert_seat(data: dict[str, Any], *, event_time: datetime | None = None) -> Seat:
    """Mirror a seat with its nested member (a revoked seat names no member)."""
    pk = as_uuid(data.get("id"))
    if pk is None:
        raise ValueError("Polar seat without a valid id")
    with transaction.atomic():
        nested = data.get("member")
        if isinstance(nested, dict) and nested.get("id"):
            upsert_member(nested, event_time=event_time)
        values = pick(data, SEAT_FIELDS)
        seat, _ = save_snapshot(Seat, pk, version_of(data, event_time), values, data)
    return seat


def billable_of_member(member_id: Any) -> models.Model | None:
    """The billable who holds a seat member: the member's ``external_id`` (a seat assigned
    to a billable carries its id), else the billable the app recorded claiming it
    (``holder_external_id``). None while the member is unknown or held by no billable."""
    member = Member.objects.filter(pk=member_id).first() if member_id else None
    if member is None:
        return None
    for external_id in (member.external_id, member.holder_external_id):
        billable = billable_from_external_id(external_id) if external_id else None
        if billable is not None:
            return billable
    return None
