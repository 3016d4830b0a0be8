"""The customer portal's seat management: what a team's billing manager does with a
customer (or member) session token instead of the organization's token.

server/polar/customer_portal/endpoints/customer_seat.py and customer_portal/auth.py:
listing needs a session with ``customer_portal:read`` (any member may list); assigning,
revoking and resending need ``CustomerPortalUnionBillingWrite``: a customer session
always may (legacy), a member session only for an ``owner`` or ``billing_manager``
(else 403 NotPermitted). Only the session customer's own subscriptions, orders and seats
are reachable (others are 404s). The seat rules themselves are the organization API's
(``Seats``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import bad_request, forbidden, not_found, unauthorized
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
