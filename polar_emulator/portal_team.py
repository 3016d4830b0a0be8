"""The customer portal's team management (seats and members): what a team's billing
manager does with a customer (or member) session token instead of the organization's.

server/polar/customer_portal/endpoints/customer_seat.py and customer_portal/auth.py:
listing needs a session with ``customer_portal:read`` (any member may list); assigning,
revoking and resending need ``CustomerPortalUnionBillingWrite``: a customer session
always may (legacy), a member session only for an ``owner`` or ``billing_manager``
(else 403 NotPermitted). Only the session customer's own subscriptions, orders and seats
are reachable (others are 404s). The seat rules themselves are the organization API's
(``Seats``).

Members (customer_portal/endpoints/member.py, ``CustomerPortalBillingManager``): a
*member* session only (a customer session is a 401), of an owner or billing manager
(else 403 "Insufficient role for this operation."), of a ``team`` customer (else 403).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import bad_request, forbidden, invalid, not_found, unauthorized
from .validation import Body, check_uuid

if TYPE_CHECKING:
    from .core import Emulator

#: customer_portal/auth.py ``_union_billing_roles``.
BILLING_ROLES = ("owner", "billing_manager")


def subject(emu: Emulator, token: str | None, *, billing: bool) -> dict[str, Any]:
    """The session behind the bearer token (401 without a live one); ``billing``: the
    write check of ``_UnionBillingRoleCheck``."""
    session = emu.customers.session_by_token(token or "")
    if session is None:
        raise unauthorized()
    member = emu.store.members.get(session.get("_member_id") or "")
    if session.get("_member_id") and member is None:
        raise unauthorized()  # the member was deleted: its session no longer authenticates
    if billing and member is not None and member["role"] not in BILLING_ROLES:
        raise forbidden(
            "NotPermitted", "Only owners and billing managers can access billing features."
        )
    return emu.store.customers[session["customer_id"]]


def _readable(emu: Emulator, customer: dict[str, Any], kind: str, raw: Any) -> dict[str, Any]:
    """``get_readable_by_id``: the session customer's own subscription or order."""
    table = emu.store.subscriptions if kind == "subscription" else emu.store.orders
    record = table.get(check_uuid(raw, [f"{kind}_id"]))
    if record is None or record["customer_id"] != customer["id"]:
        raise not_found(f"{kind.capitalize()} not found")
    return record


def list_seats(emu: Emulator, token: str | None, query: dict[str, list[str]]) -> dict[str, Any]:
    customer = subject(emu, token, billing=False)
    subscription_id = next(iter(query.get("subscription_id") or []), None)
    order_id = next(iter(query.get("order_id") or []), None)
    if subscription_id:
        container = _readable(emu, customer, "subscription", subscription_id)
    elif order_id:
        container = _readable(emu, customer, "order", order_id)
    else:
        raise bad_request("Either subscription_id or order_id must be provided")
    return emu.seats.list(
        container["id"] if subscription_id else None, None if subscription_id else container["id"]
    )


def assign(emu: Emulator, token: str | None, data: Any) -> dict[str, Any]:
    """customer_portal/service/customer_seat.py ``resolve_assign_container``: a
    subscription, an order, or the subscription (else the earliest order) of a checkout."""
    customer = subject(emu, token, billing=True)
    body = Body(data)
    subscription_id = body.uuid("subscription_id")
    order_id = body.uuid("order_id")
    checkout_id = body.uuid("checkout_id")
    if subscription_id:
        container = _readable(emu, customer, "subscription", subscription_id)
    elif order_id:
        container = _readable(emu, customer, "order", order_id)
    elif checkout_id:
        mine = [s for s in emu.store.subscriptions.values() if s["customer_id"] == customer["id"]]
        orders = [o for o in emu.store.orders.values() if o["customer_id"] == customer["id"]]
        found = next((s for s in mine if s["checkout_id"] == checkout_id), None) or next(
            iter(sorted((o for o in orders if o["checkout_id"] == checkout_id), key=_created)),
            None,
        )
        if found is None:
            raise not_found("No subscription or order found for this checkout")
        container = found
    else:
        raise bad_request("Either subscription_id, order_id, or checkout_id is required")
    return emu.seats.assign(
        container,
        email=body.email("email"),
        external_customer_id=body.str("external_customer_id", nullable=True),
        customer_id=body.uuid("customer_id"),
        external_member_id=body.str("external_member_id", nullable=True),
        member_id=body.uuid("member_id"),
        metadata=body.metadata("metadata") if body.get("metadata") is not None else {},
        immediate_claim=bool(body.bool("immediate_claim", False)),
    )


def _created(record: dict[str, Any]) -> str:
    return str(record["created_at"])


def own_seat(emu: Emulator, token: str | None, seat_id: str) -> dict[str, Any]:
    """customer_seat/repository.py ``get_by_id_for_customer``: a seat of a subscription
    or order of the session customer (else 404 "Seat not found"), for a billing role."""
    customer = subject(emu, token, billing=True)
    seat = emu.store.customer_seats.get(check_uuid(seat_id, ["path", "seat_id"]))
    container = None
    if seat is not None:
        container = emu.store.subscriptions.get(seat["subscription_id"] or "") or (
            emu.store.orders.get(seat["order_id"] or "")
        )
    if seat is None or container is None or container["customer_id"] != customer["id"]:
        raise not_found("Seat not found")
    return seat


# members ------------------------------------------------------------------------------------
MEMBER_FIELDS = ("id", "created_at", "modified_at", "email", "name", "role")


def portal_member(member: dict[str, Any]) -> dict[str, Any]:
    """customer_portal/schemas/member.py ``CustomerPortalMember``."""
    return {k: member[k] for k in MEMBER_FIELDS}


def manager(emu: Emulator, token: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``CustomerPortalBillingManager`` and ``_require_team_customer``: the acting member
    and its customer."""
    session = emu.customers.session_by_token(token or "")
    member = emu.store.members.get((session or {}).get("_member_id") or "")
    if session is None or member is None:
        raise unauthorized()
    if member["role"] not in BILLING_ROLES:
        raise forbidden("NotPermitted", "Insufficient role for this operation")
    customer = emu.store.customers[session["customer_id"]]
    if customer["type"] != "team":
        raise forbidden(
            "NotPermitted",
            "Member management is only available for team customers. "
            "Purchase a seat-based product to enable team features.",
        )
    return customer, member


def add_member(emu: Emulator, token: str | None, data: Any) -> dict[str, Any]:
    """``add_member``: never an owner; an existing email returns that member
    (member/service.py ``add_to_customer`` -> ``get_or_create_by_email``: no webhook)."""
    customer, _ = manager(emu, token)
    body = Body(data)
    email = body.email("email", required=True)
    name = body.str("name", nullable=True, max_length=256)
    role = body.choice("role", ("owner", "billing_manager", "member"), "member") or "member"
    if role == "owner":
        raise invalid(
            ["body", "role"], "Cannot add a member as owner. There must be exactly one owner."
        )
    existing = emu.seats.member_by_email(customer["id"], email)
    if existing is not None:
        return existing
    member = emu.seats.get_or_create_member(customer["id"], email)
    member.update(name=name, role=role)
    return member


def _team_member(emu: Emulator, customer: dict[str, Any], member_id: str) -> dict[str, Any]:
    found = emu.store.members.get(check_uuid(member_id, ["path", "id"]))
    if found is None or found["customer_id"] != customer["id"]:
        raise not_found("Member not found")
    return found


def update_member(emu: Emulator, token: str | None, member_id: str, data: Any) -> dict[str, Any]:
    """``update_member``: name and role; nobody changes their own role; the owner rules of
    member/service.py ``update``."""
    customer, actor = manager(emu, token)
    member = _team_member(emu, customer, member_id)
    body = Body(data)
    role = body.get("role")
    if role is not None and role != member["role"] and member["id"] == actor["id"]:
        raise invalid(["path", "id"], "You cannot modify your own role.")
    changes = {k: body.data[k] for k in ("name", "role") if body.get(k) is not None}
    return emu.seats.update_member(member, changes)


def remove_member(emu: Emulator, token: str | None, member_id: str) -> None:
    """``remove_member``: not yourself, not the only owner; the member's seats are
    revoked (member/service.py ``delete``)."""
    customer, actor = manager(emu, token)
    member = _team_member(emu, customer, member_id)
    if member["id"] == actor["id"]:
        raise invalid(["path", "id"], "You cannot remove yourself from the team.")
    emu.seats.delete_member(member)
