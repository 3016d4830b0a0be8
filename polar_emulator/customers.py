"""Customers (individual and team) with Polar's uniqueness rules, soft delete, sessions."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .errors import invalid, not_found
from .store import iso, parse_iso
from .validation import Body, address

if TYPE_CHECKING:
    from .core import Emulator

SESSION_TTL = timedelta(hours=1)


class Customers:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def live(self) -> list[dict[str, Any]]:
        return [c for c in self.st.customers.values() if c["deleted_at"] is None]

    def get(self, customer_id: str) -> dict[str, Any]:
        customer = self.st.customers.get(customer_id)
        if customer is None or customer["deleted_at"] is not None:
            raise not_found("Customer not found")
        return customer

    def by_external_id(self, external_id: str) -> dict[str, Any] | None:
        return next((c for c in self.live() if c["external_id"] == external_id), None)

    def by_email(self, email: str) -> dict[str, Any] | None:
        return next((c for c in self.live() if (c["email"] or "").lower() == email.lower()), None)

    def get_external(self, external_id: str) -> dict[str, Any]:
        customer = self.by_external_id(external_id)
        if customer is None:
            raise not_found("Customer not found")
        return customer

    def _address(self, body: Body) -> dict[str, Any] | None:
        return address(body, "billing_address")

    def create(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        kind = body.choice("type", ("individual", "team"), "individual") or "individual"
        email = body.email("email", required=kind == "individual")
        external_id = body.str("external_id")
        if email and self.by_email(email):
            raise invalid(["body", "email"], "A customer with this email address already exists.")
        if external_id is not None and self.by_external_id(external_id):
            raise invalid(
                ["body", "external_id"], "A customer with this external ID already exists."
            )
        return self.insert(
            email=email,
            name=body.str("name", max_length=256),
            external_id=external_id,
            kind=kind,
            metadata=body.metadata() or {},
            billing_address=self._address(body),
            tax_id=body.str("tax_id"),
            locale=body.str("locale"),
        )

    def insert(
        self,
        *,
        email: str | None,
        name: str | None = None,
        external_id: str | None = None,
        kind: str = "individual",
        metadata: dict[str, Any] | None = None,
        billing_address: dict[str, Any] | None = None,
        tax_id: str | None = None,
        locale: str | None = None,
        announce: bool = True,
    ) -> dict[str, Any]:
        now = iso(self.emu.clock.now())
        customer = {
            "id": self.st.new_id(),
            "created_at": now,
            "modified_at": None,
            "metadata": dict(metadata or {}),
            "external_id": external_id,
            "email": email,
            "email_verified": False,
            "type": kind,
            "name": name,
            "billing_name": name,
            "billing_address": billing_address,
            "tax_id": [tax_id, None] if tax_id else None,
            "locale": locale,
            "organization_id": self.st.organization["id"],
            "default_payment_method_id": None,
            "deleted_at": None,
            "first_user_event_at": None,
            "avatar_url": None,
        }
        self.st.customers[customer["id"]] = customer
        if announce:
            self.emu.emit("customer.created", self.emu.ser.customer(customer["id"]))
        return customer

    def update(
        self, customer: dict[str, Any], data: Any, *, allow_external_id: bool = True
    ) -> dict[str, Any]:
        body = Body(data)
        if body.has("email") and body.get("email") is not None:
            email = body.email("email")
            other = self.by_email(email)
            if other is not None and other["id"] != customer["id"]:
                raise invalid(
                    ["body", "email"], "A customer with this email address already exists."
                )
            if email != customer["email"]:
                customer["email"] = email
                customer["email_verified"] = False
        if allow_external_id and body.has("external_id") and body.get("external_id") is not None:
            external_id = body.str("external_id")
            if customer["external_id"] is not None and customer["external_id"] != external_id:
                raise invalid(["body", "external_id"], "Customer external ID cannot be updated.")
            other = self.by_external_id(external_id)
            if other is not None and other["id"] != customer["id"]:
                raise invalid(
                    ["body", "external_id"], "A customer with this external ID already exists."
                )
            customer["external_id"] = external_id
        if allow_external_id and body.has("type") and body.get("type") is not None:
            kind = body.choice("type", ("individual", "team"))
            if customer["type"] == "team" and kind == "individual":
                raise invalid(
                    ["body", "type"], "A team customer cannot be changed back to individual."
                )
            customer["type"] = kind
        if body.has("name"):
            customer["name"] = body.str("name", max_length=256)
            customer["billing_name"] = customer["name"]
        if body.has("metadata"):
            customer["metadata"] = body.metadata() or {}
        if body.has("billing_address"):
            customer["billing_address"] = self._address(body)
        if body.has("tax_id"):
            tax_id = body.str("tax_id")
            customer["tax_id"] = [tax_id, None] if tax_id else None
        if body.has("locale"):
            customer["locale"] = body.str("locale")
        customer["modified_at"] = iso(self.emu.clock.now())
        self.emu.emit("customer.updated", self.emu.ser.customer(customer["id"]))
        self.emu.state_changed(customer["id"])
        return customer

    def delete(self, customer: dict[str, Any], *, anonymize: bool = False) -> None:
        """Soft delete: Polar revokes the customer's subscriptions and benefits first
        (customer/service.py ``delete``). customer/repository.py ``soft_delete`` clears
        the external id (kept in metadata ``__external_id``) so it can be used again;
        ``anonymize`` (``?anonymize=true``) also scrubs the personal data (``anonymize``)."""
        for sub in list(self.st.subscriptions.values()):
            if sub["customer_id"] == customer["id"] and sub["status"] not in (
                "canceled",
                "incomplete_expired",
            ):
                self.emu.subscriptions.revoke(sub, reason=None)
        for grant in list(self.st.grants.values()):
            if grant["customer_id"] == customer["id"] and grant["is_granted"]:
                self.emu.grants.revoke(grant)
        now = iso(self.emu.clock.now())
        customer["deleted_at"] = now
        customer["modified_at"] = now
        if customer["external_id"]:
            customer["metadata"] = {
                **customer["metadata"],
                "__external_id": customer["external_id"],
            }
            customer["external_id"] = None
        if anonymize:
            self._anonymize(customer, now)
        self.emu.emit("customer.deleted", self.emu.ser.customer(customer["id"]))

    @staticmethod
    def _anonymize(customer: dict[str, Any], now: str) -> None:
        """customer/service.py ``anonymize`` with kit/anonymization.py: email, name (not a
        business's, one with a tax id) and billing name hashed with the creation time,
        billing address cleared, ``__anonymized_at`` in metadata; external id and tax id
        kept."""

        def hashed(value: str) -> str:
            created = parse_iso(customer["created_at"]).isoformat()
            return hashlib.sha256(created.encode() + value.encode()).hexdigest()

        if customer["email"]:
            customer["email"] = f"{hashed(customer['email'])}@anonymized.polar.sh"
        customer["email_verified"] = False
        if customer["tax_id"] is None and customer["name"]:
            customer["name"] = hashed(customer["name"])
        if customer["billing_name"]:
            customer["billing_name"] = hashed(customer["billing_name"])
        customer["billing_address"] = None
        customer["metadata"] = {**customer["metadata"], "__anonymized_at": now}

    # customer sessions ------------------------------------------------------------
    def create_session(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        if body.get("customer_id") is not None:
            customer_id = body.uuid("customer_id")
            customer = self.st.customers.get(customer_id)
            if customer is None or customer["deleted_at"] is not None:
                raise invalid(["body", "customer_id"], "Customer does not exist.")
        elif body.get("external_customer_id") is not None:
            external_id = body.str("external_customer_id")
            customer = self.by_external_id(external_id)
            if customer is None:
                raise invalid(["body", "external_customer_id"], "Customer does not exist.")
        else:
            raise invalid(["body", "customer_id"], "Field required", "missing")
        member = None
        if self.emu.organizations.feature("member_model_enabled"):
            member = self._session_member(customer, body)
        return self.new_session(customer, member, return_url=body.url("return_url"))

    def _session_member(self, customer: dict[str, Any], body: Body) -> dict[str, Any]:
        """customer_session/service.py ``create`` with the member model on: a *member*
        session, for ``member_id`` or ``external_member_id`` (a member of this customer),
        else the owner of an individual customer (made if missing); a team customer must
        name the member (422 "member_id is required for team customers.")."""
        seats = self.emu.seats
        member_id = body.uuid("member_id")
        external_member_id = body.str("external_member_id")
        if member_id is not None or external_member_id is not None:
            loc, field, wanted = (
                ("member_id", "id", member_id)
                if member_id is not None
                else ("external_member_id", "external_id", external_member_id)
            )
            found = next((m for m in seats.members_of(customer["id"]) if m[field] == wanted), None)
            if found is None:
                raise invalid(["body", loc], "Member does not exist for this customer.")
            return found
        if customer["type"] == "team":
            raise invalid(["body", "member_id"], "member_id is required for team customers.")
        return seats.ensure_owner(customer)

    def new_session(
        self,
        customer: dict[str, Any],
        member: dict[str, Any] | None,
        *,
        return_url: str | None = None,
    ) -> dict[str, Any]:
        """A customer session (``polar_cst_``), or a member session (``polar_mst_``,
        models/member_session.py) acting for ``member``; both open the portal for an
        hour."""
        now = self.emu.clock.now()
        token = self.st.token("polar_mst_" if member is not None else "polar_cst_")
        session = {
            "created_at": iso(now),
            "modified_at": None,
            "id": self.st.new_id(),
            "token": token,
            "expires_at": iso(now + SESSION_TTL),
            "return_url": return_url,
            "customer_portal_url": f"{self.emu.base_url}/portal/{token}",
            "customer_id": customer["id"],
            "_member_id": member["id"] if member is not None else None,
        }
        self.st.customer_sessions[session["id"]] = session
        return session

    def session_by_token(self, token: str) -> dict[str, Any] | None:
        now = self.emu.clock.now()
        for session in self.st.customer_sessions.values():
            if session["token"] == token and parse_iso(session["expires_at"]) > now:
                customer = self.st.customers.get(session["customer_id"])
                if customer is not None and customer["deleted_at"] is None:
                    return session
        return None
