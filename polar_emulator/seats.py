"""Customer seats and team members: assign, claim, revoke, resend; members of a team.

Every rule follows Polar's server source (``server/polar/customer_seat/service.py``,
``server/polar/member/service.py``, ``server/polar/checkout/service.py``), with the
organization's ``member_model_enabled`` on (the 2026 model): a seat belongs to the
billing customer, the person holding it is a ``Member`` of that customer, and the
benefit grants of a claimed seat go to the billing customer *with the seat's member*.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .errors import APIError, bad_request, invalid, not_found
from .store import iso, parse_iso
from .validation import Body, check_uuid

if TYPE_CHECKING:
    from .core import Emulator

#: customer_seat/service.py assign_seat: ``token_expires_at = now + timedelta(days=1)``.
INVITATION_LIFETIME = timedelta(days=1)
MEMBER_ROLES = ("owner", "billing_manager", "member")


def seat_error(name: str, detail: str, status: int = 400) -> APIError:
    """A SeatError (a PolarError): ``{"error": <class name>, "detail": message}``."""
    return APIError(status, {"error": name, "detail": detail})


class Seats:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store
        #: The invitation emails Polar would send: {"to", "seat_id", "claim_url"}, in order.
        self.outbox: list[dict[str, str]] = []

    def claim_url(self, token: str) -> str:
        """customer_seat/sender.py: ``{FRONTEND_BASE_URL}/{org slug}/portal/claim?token=``."""
        return f"{self.emu.base_url}/{self.st.organization['slug']}/portal/claim?token={token}"

    def _invite(self, seat: dict[str, Any]) -> None:
        """send_seat_invitation_email: to the seat's member, with the claim link."""
        if seat["email"] and seat.get("_invitation_token"):
            self.outbox.append(
                {
                    "to": seat["email"],
                    "seat_id": seat["id"],
                    "claim_url": self.claim_url(seat["_invitation_token"]),
                }
            )

    # members --------------------------------------------------------------------------
    def members_of(self, customer_id: str) -> list[dict[str, Any]]:
        return [m for m in self.st.members.values() if m["customer_id"] == customer_id]

    def member(self, customer_id: str, member_id: str) -> dict[str, Any]:
        found = self.st.members.get(member_id)
        if found is None or found["customer_id"] != customer_id:
            raise not_found("Member not found")
        return found

    def _new_member(
        self,
        customer_id: str,
        email: str,
        *,
        name: str | None = None,
        external_id: str | None = None,
        role: str = "member",
    ) -> dict[str, Any]:
        now = iso(self.emu.clock.now())
        record: dict[str, Any] = {
            "id": self.st.new_id(),
            "created_at": now,
            "modified_at": None,
            "customer_id": customer_id,
            "email": email.strip(),
            "name": name,
            "external_id": external_id,
            "role": role,
        }
        self.st.members[record["id"]] = record
        return record

    def member_by_email(self, customer_id: str, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        for m in self.members_of(customer_id):
            if m["email"].lower() == wanted:
                return m
        return None

    def get_or_create_member(self, customer_id: str, email: str) -> dict[str, Any]:
        """member/service.py get_or_create_by_email: no member.created webhook is sent."""
        return self.member_by_email(customer_id, email) or self._new_member(customer_id, email)

    def ensure_owner(self, customer: dict[str, Any]) -> dict[str, Any]:
        """member/service.py create_owner_member: one owner per customer, with the
        customer's email, name and external id; announced by member.created."""
        for m in self.members_of(customer["id"]):
            if m["role"] == "owner":
                return m
        if not customer["email"]:
            raise invalid(["body", "email"], "An email is required to create an owner member.")
        owner = self._new_member(
            customer["id"],
            customer["email"],
            name=customer["name"],
            external_id=customer["external_id"],
            role="owner",
        )
        owner["created_at"] = customer["created_at"]
        self.emu.emit("member.created", self.emu.ser.member(owner["id"]))
        return owner

    def create_member(self, customer: dict[str, Any], data: Any) -> dict[str, Any]:
        """POST /v1/customers/{id}/members (member/service.py create): email unique per
        customer, external_id unique per customer, one owner; member.created."""
        body = Body(data)
        email = body.email("email", required=True)
        name = body.str("name", nullable=True, max_length=256)
        external_id = body.str("external_id", nullable=True, max_length=256)
        role = body.choice("role", MEMBER_ROLES, "member") or "member"
        if self.member_by_email(customer["id"], email):
            raise invalid(
                ["body", "email"], "A member with this email already exists for this customer."
            )
        if external_id and any(
            m["external_id"] == external_id for m in self.members_of(customer["id"])
        ):
            raise invalid(
                ["body", "external_id"],
                "A member with this external_id already exists for this customer.",
            )
        if role == "owner" and any(m["role"] == "owner" for m in self.members_of(customer["id"])):
            raise invalid(["body", "role"], "Customer already has an owner.")
        member = self._new_member(
            customer["id"], email, name=name, external_id=external_id, role=role
        )
        self.emu.emit("member.created", self.emu.ser.member(member["id"]))
        return member

    def update_member(self, member: dict[str, Any], data: Any) -> dict[str, Any]:
        """PATCH (member/service.py update): name, email, role; the last owner keeps the
        role ("Customer must have exactly one owner."); member.updated."""
        body = Body(data)
        changed = False
        if body.has("name"):
            member["name"] = body.str("name", nullable=True, max_length=256)
            changed = True
        if body.has("email") and body.get("email") is not None:
            email = body.email("email", required=True)
            other = self.member_by_email(member["customer_id"], email)
            if other is not None and other is not member:
                raise invalid(["body", "email"], "A member with this email already exists.")
            member["email"] = email
            changed = True
        if body.has("role") and body.get("role") is not None:
            role = body.choice("role", MEMBER_ROLES, required=True)
            owners = [m for m in self.members_of(member["customer_id"]) if m["role"] == "owner"]
            if member["role"] == "owner" and role != "owner" and len(owners) <= 1:
                raise invalid(
                    ["body", "role"], "Cannot change role. Customer must have exactly one owner."
                )
            if role == "owner" and member["role"] != "owner" and owners:
                raise invalid(["body", "role"], "Customer already has an owner.")
            member["role"] = role
            changed = True
        if changed:
            member["modified_at"] = iso(self.emu.clock.now())
            self.emu.emit("member.updated", self.emu.ser.member(member["id"]))
        return member

    def delete_member(self, member: dict[str, Any]) -> None:
        """member/service.py delete: the only owner cannot be deleted; the member's active
        seats are revoked; member.deleted."""
        if member["role"] == "owner":
            owners = [m for m in self.members_of(member["customer_id"]) if m["role"] == "owner"]
            if len(owners) <= 1:
                raise invalid(["member_id"], "Cannot delete the only owner of a customer.")
        for seat in list(self.st.customer_seats.values()):
            if seat["member_id"] == member["id"] and seat["status"] != "revoked":
                self.revoke(seat)
        snapshot = self.emu.ser.member(member["id"])
        del self.st.members[member["id"]]
        self.emu.emit("member.deleted", snapshot)

    # containers -----------------------------------------------------------------------
    def _container(self, subscription_id: str | None, order_id: str | None) -> dict[str, Any]:
        """customer_seat/endpoints.py: a subscription or an order, else 400."""
        if subscription_id:
            sub = self.st.subscriptions.get(check_uuid(subscription_id, ["subscription_id"]))
            if sub is None:
                raise not_found("Subscription not found")
            return sub
        if order_id:
            order = self.st.orders.get(check_uuid(order_id, ["order_id"]))
            if order is None:
                raise not_found("Order not found")
            return order
        raise bad_request("Either subscription_id or order_id must be provided")

    def _key(self, container: dict[str, Any]) -> str:
        return "subscription_id" if container["id"] in self.st.subscriptions else "order_id"

    def seats_of(self, container: dict[str, Any]) -> list[dict[str, Any]]:
        key = self._key(container)
        return [s for s in self.st.customer_seats.values() if s[key] == container["id"]]

    def available(self, container: dict[str, Any]) -> int:
        """customer_seat/repository.py get_available_seats_count: seats minus pending and
        claimed ones, never below 0."""
        used = sum(1 for s in self.seats_of(container) if s["status"] in ("pending", "claimed"))
        return max(0, (container.get("seats") or 0) - used)

    def assigned_count(self, container: dict[str, Any]) -> int:
        return sum(1 for s in self.seats_of(container) if s["status"] in ("pending", "claimed"))

    def _product(self, container: dict[str, Any]) -> dict[str, Any]:
        return self.st.products[container["product_id"]]

    def list(self, subscription_id: str | None, order_id: str | None) -> dict[str, Any]:
        container = self._container(subscription_id, order_id)
        seats = sorted(self.seats_of(container), key=lambda s: s["created_at"])
        return {
            "seats": [self.emu.ser.seat(s["id"]) for s in seats],
            "available_seats": self.available(container),
            "total_seats": container.get("seats") or 0,
        }

    # assign -----------------------------------------------------------------------------
    def assign_from_body(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        container = self._container(
            body.str("subscription_id", nullable=True), body.str("order_id", nullable=True)
        )
        return self.assign(
            container,
            email=body.email("email"),
            external_customer_id=body.str("external_customer_id", nullable=True),
            customer_id=body.uuid("customer_id"),
            external_member_id=body.str("external_member_id", nullable=True),
            member_id=body.uuid("member_id"),
            metadata=body.metadata("metadata") if body.get("metadata") is not None else {},
            immediate_claim=bool(body.bool("immediate_claim", False)),
        )

    def assign(
        self,
        container: dict[str, Any],
        *,
        email: str | None = None,
        external_customer_id: str | None = None,
        customer_id: str | None = None,
        external_member_id: str | None = None,
        member_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        immediate_claim: bool = False,
    ) -> dict[str, Any]:
        """customer_seat/service.py assign_seat (member model)."""
        if container["id"] in self.st.orders and container["status"] == "pending":
            raise seat_error(
                "SeatNotAvailable",
                "Order must be paid before assigning seats",
            )
        if self.available(container) <= 0:
            raise seat_error("SeatNotAvailable", f"No available seats for {container['id']}")
        billing_id = container["customer_id"]
        # _resolve_member_model_target: customer_id / external_customer_id stand for the
        # email of that customer (backward compatibility).
        if customer_id or external_customer_id:
            found = (
                self.st.customers.get(customer_id)
                if customer_id
                else self.emu.customers.by_external_id(external_customer_id or "")
            )
            if found is None:
                raise seat_error(
                    "InvalidSeatAssignmentRequest",
                    "Customer not found for the provided customer_id or external_customer_id.",
                )
            email = email or found["email"]
        member = self._resolve_member(billing_id, email, external_member_id, member_id)
        for other in self.seats_of(container):
            if other["status"] != "revoked" and (other["email"] or "").lower() == (
                member["email"].lower()
            ):
                raise seat_error(
                    "SeatAlreadyAssigned", f"Seat already assigned to customer {member['email']}"
                )
        now = self.emu.clock.now()
        # A revoked seat of the container is reused before a new one is created.
        reused = next((s for s in self.seats_of(container) if s["status"] == "revoked"), None)
        seat: dict[str, Any]
        if reused is not None:
            seat = reused
        else:
            seat = {
                "id": self.st.new_id(),
                "created_at": iso(now),
                "subscription_id": None,
                "order_id": None,
            }
            seat[self._key(container)] = container["id"]
            self.st.customer_seats[seat["id"]] = seat
        seat.update(
            modified_at=iso(now) if "status" in seat else None,
            status="claimed" if immediate_claim else "pending",
            customer_id=billing_id,
            member_id=member["id"],
            email=member["email"],
            seat_metadata=dict(metadata or {}),
            claimed_at=iso(now) if immediate_claim else None,
            revoked_at=None,
            _invitation_token=None if immediate_claim else self.st.token("seat_"),
            invitation_token_expires_at=None if immediate_claim else iso(now + INVITATION_LIFETIME),
        )
        if immediate_claim:
            # assign_seat with immediate_claim: the claimed webhook, then the grant job.
            self.emu.emit("customer_seat.claimed", self.emu.ser.seat(seat["id"]))
            self.grant(seat)
        else:
            self._invite(seat)
            self.emu.emit("customer_seat.assigned", self.emu.ser.seat(seat["id"]))
        return seat

    def _resolve_member(
        self,
        billing_id: str,
        email: str | None,
        external_member_id: str | None,
        member_id: str | None,
    ) -> dict[str, Any]:
        """customer_seat/service.py _resolve_member and _resolve_member_by_external_id."""
        if member_id is not None:
            found = self.st.members.get(member_id)
            if found is None or found["customer_id"] != billing_id:
                raise seat_error("MemberNotFound", f"Member not found: {member_id}", 404)
            return found
        if external_member_id is not None:
            found = next(
                (m for m in self.members_of(billing_id) if m["external_id"] == external_member_id),
                None,
            )
            if found is not None:
                if email and found["email"].lower() != email.lower():
                    raise self._mismatch(external_member_id, email)
                return found
            if not email:
                raise seat_error("MemberNotFound", f"Member not found: {external_member_id}", 404)
            found = self.get_or_create_member(billing_id, email)
            if found["external_id"] is None:
                found["external_id"] = external_member_id
            elif found["external_id"] != external_member_id:
                raise self._mismatch(external_member_id, email)
            return found
        if email:
            return self.get_or_create_member(billing_id, email)
        raise seat_error(
            "InvalidSeatAssignmentRequest",
            "At least one of email, external_member_id, or member_id must be provided "
            "when member_model_enabled is true.",
        )

    @staticmethod
    def _mismatch(external_member_id: str, email: str) -> APIError:
        return seat_error(
            "MemberEmailMismatch",
            f"Member with external_member_id '{external_member_id}' exists but has a "
            f"different email than '{email}'",
        )

    # claim --------------------------------------------------------------------------------
    def by_token(self, token: str) -> dict[str, Any] | None:
        """customer_seat/service.py get_seat_by_token: None when revoked, claimed or expired."""
        for seat in self.st.customer_seats.values():
            if token and seat.get("_invitation_token") == token:
                if seat["status"] != "pending":
                    return None
                expires = seat["invitation_token_expires_at"]
                if expires and parse_iso(expires) < self.emu.clock.now():
                    return None
                return seat
        return None

    def claim_info(self, token: str) -> dict[str, Any]:
        """GET /v1/customer-seats/claim/{token} (endpoints.py get_claim_info)."""
        seat = self.by_token(token)
        if seat is None:
            raise not_found("Invalid or expired invitation token")
        product = self._product(self._seat_container(seat))
        org = self.st.organization
        return {
            "product_name": product["name"],
            "product_id": product["id"],
            "organization_name": org["name"],
            "organization_slug": org["slug"],
            "customer_email": seat["email"] or "",
            "can_claim": seat["status"] == "pending",
        }

    def claim(self, data: Any) -> dict[str, Any]:
        """POST /v1/customer-seats/claim (service.py claim_seat): the token is single use;
        an unknown, expired, revoked or claimed one is a 400 InvalidInvitationToken."""
        token = Body(data).str("invitation_token", required=True)
        seat = next(
            (s for s in self.st.customer_seats.values() if s.get("_invitation_token") == token),
            None,
        )
        expired = (
            seat is not None
            and seat["invitation_token_expires_at"] is not None
            and parse_iso(seat["invitation_token_expires_at"]) < self.emu.clock.now()
        )
        if seat is None or seat["status"] != "pending" or expired:
            raise seat_error("InvalidInvitationToken", "Invalid or expired invitation token")
        now = iso(self.emu.clock.now())
        seat.update(status="claimed", claimed_at=now, modified_at=now, _invitation_token=None)
        # claim_seat: the grant job is enqueued, then the claimed webhook is sent; the
        # webhook goes out on commit, the grants when the job runs: claimed comes first.
        self.emu.emit("customer_seat.claimed", self.emu.ser.seat(seat["id"]))
        self.grant(seat)
        # claim_seat answers a *member* session for the seat's member.
        session = self.emu.customers.new_session(
            self.st.customers[seat["customer_id"]], self.st.members.get(seat["member_id"] or "")
        )
        return {"seat": self.emu.ser.seat(seat["id"]), "customer_session_token": session["token"]}

    def resend(self, seat: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/customer-seats/{id}/resend (service.py resend_invitation)."""
        if seat["status"] != "pending":
            raise seat_error("SeatNotPending", "Seat is not in pending status")
        if not seat.get("_invitation_token"):
            raise seat_error("InvalidInvitationToken", "Invalid or expired invitation token")
        self._invite(seat)
        return seat

    def get(self, seat_id: str) -> dict[str, Any]:
        seat = self.st.customer_seats.get(check_uuid(seat_id, ["path", "seat_id"]))
        if seat is None:
            raise not_found("Seat not found")
        return seat

    # revoke -------------------------------------------------------------------------------
    def revoke(self, seat: dict[str, Any]) -> dict[str, Any]:
        """service.py revoke_seat: idempotent; clears customer, member and email; the revoked
        webhook goes out, then the member's grants are revoked (the revoke job)."""
        if seat["status"] == "revoked":
            return seat
        member_id = seat["member_id"]
        now = iso(self.emu.clock.now())
        seat.update(
            status="revoked",
            revoked_at=now,
            modified_at=now,
            _invitation_token=None,
            customer_id=None,
            member_id=None,
            email=None,
        )
        self.emu.emit("customer_seat.revoked", self.emu.ser.seat(seat["id"]))
        container = self._seat_container(seat)
        for grant in list(self.st.grants.values()):
            if grant["member_id"] == member_id and (
                grant["subscription_id"] == container["id"] or grant["order_id"] == container["id"]
            ):
                self.emu.grants.revoke(grant)
        return seat

    def revoke_container(self, container: dict[str, Any]) -> None:
        """service.py revoke_all_seats_for_subscription (subscription/service.py
        enqueue_benefits_grants: a seat-based subscription that is no longer active)."""
        for seat in self.seats_of(container):
            self.revoke(seat)

    # benefits -----------------------------------------------------------------------------
    def _seat_container(self, seat: dict[str, Any]) -> dict[str, Any]:
        if seat["subscription_id"]:
            return self.st.subscriptions[seat["subscription_id"]]
        return self.st.orders[seat["order_id"]]

    def grant(self, seat: dict[str, Any]) -> None:
        """benefit.enqueue_benefits_grants with the seat's member: the billing customer is
        granted the product's benefits *for that member*."""
        container = self._seat_container(seat)
        key = self._key(container)
        for benefit_id in self._product(container)["_benefit_ids"]:
            self.emu.grants.grant(
                seat["customer_id"],
                benefit_id,
                member_id=seat["member_id"],
                **{key: container["id"]},
            )

    def grant_claimed(self, container: dict[str, Any]) -> None:
        for seat in self.seats_of(container):
            if seat["status"] == "claimed":
                self.grant(seat)

    def after_purchase(
        self,
        checkout: dict[str, Any],
        container: dict[str, Any],
        customer: dict[str, Any],
        *,
        auto_claim: bool = True,
    ) -> None:
        """A seat purchase: the customer becomes a ``team`` with an owner member
        (subscription/service.py "Auto-upgrade customer to 'team' type"), and the buyer
        auto-claims one seat (``auto_claim``: the checkout's default price is the seat
        price) only when the checkout has no custom success_url
        (checkout/service.py _maybe_auto_claim_buyer_seat)."""
        if customer["type"] != "team":
            customer["type"] = "team"
            customer["modified_at"] = iso(self.emu.clock.now())
            self.emu.emit("customer.updated", self.emu.ser.customer(customer["id"]))
        if customer["email"]:
            self.ensure_owner(customer)
        if (
            not auto_claim
            or not container.get("seats")
            or checkout.get("_merchant_success_url") is not None
        ):
            return
        email = customer["email"] or checkout.get("customer_email")
        if email:
            self.assign(container, email=email, immediate_claim=True)
