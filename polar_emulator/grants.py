"""Benefit grants: created on purchase, cycled on renewal, revoked on end; license keys."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .store import iso

if TYPE_CHECKING:
    from .core import Emulator


class Grants:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def find(
        self,
        customer_id: str,
        benefit_id: str,
        *,
        subscription_id: str | None,
        order_id: str | None,
        member_id: str | None = None,
    ) -> dict[str, Any] | None:
        for grant in self.st.grants.values():
            if (grant["customer_id"], grant["benefit_id"], grant["member_id"]) != (
                customer_id,
                benefit_id,
                member_id,
            ):
                continue
            if subscription_id and grant["subscription_id"] == subscription_id:
                return grant
            if not subscription_id and order_id and grant["order_id"] == order_id:
                return grant
        return None

    def grant(
        self,
        customer_id: str,
        benefit_id: str,
        *,
        subscription_id: str | None = None,
        order_id: str | None = None,
        member_id: str | None = None,
    ) -> dict[str, Any]:
        """``member_id``: a seat's member (a grant per claimed seat, benefit/grant/)."""
        existing = self.find(
            customer_id,
            benefit_id,
            subscription_id=subscription_id,
            order_id=order_id,
            member_id=member_id,
        )
        now = self.emu.clock.now()
        if existing is not None and existing["is_granted"]:
            return existing
        benefit = self.st.benefits[benefit_id]
        if existing is None:
            grant: dict[str, Any] = {
                "created_at": iso(now),
                "modified_at": None,
                "id": self.st.new_id(),
                "granted_at": iso(now),
                "is_granted": True,
                "revoked_at": None,
                "is_revoked": False,
                "subscription_id": subscription_id,
                "order_id": order_id,
                "customer_id": customer_id,
                "member_id": member_id,
                "benefit_id": benefit_id,
                "error": None,
                "member": None,
                "properties": {},
            }
            self.st.grants[grant["id"]] = grant
        else:
            grant = existing
            grant.update(
                granted_at=iso(now),
                is_granted=True,
                revoked_at=None,
                is_revoked=False,
                modified_at=iso(now),
            )
        grant["properties"] = self._grant_properties(benefit, grant)
        self.emu.emit("benefit_grant.created", self.emu.ser.grant(grant["id"], webhook=True))
        self.emu.state_changed(customer_id)
        return grant

    def _grant_properties(self, benefit: dict[str, Any], grant: dict[str, Any]) -> dict[str, Any]:
        kind = benefit["type"]
        if kind == "license_keys":
            key = self.emu.license_keys.issue(benefit, grant)
            return {"license_key_id": key["id"], "display_key": key["display_key"]}
        if kind == "downloadables":
            return {"files": list(benefit["properties"]["files"])}
        if kind == "meter_credit":
            props = benefit["properties"]
            self.emu.usage.credit(
                grant["customer_id"],
                props["meter_id"],
                props["units"],
                rollover=props.get("rollover", False),
            )
            return {
                "last_credited_meter_id": props["meter_id"],
                "last_credited_units": props["units"],
                "last_credited_at": iso(self.emu.clock.now()),
            }
        if kind == "discord":
            props = benefit["properties"]
            return {"guild_id": props["guild_id"], "role_id": props["role_id"]}
        if kind == "github_repository":
            props = benefit["properties"]
            return {
                "repository_owner": props["repository_owner"],
                "repository_name": props["repository_name"],
                "permission": props["permission"],
            }
        return {}

    def revoke(self, grant: dict[str, Any]) -> None:
        if not grant["is_granted"]:
            return
        now = iso(self.emu.clock.now())
        grant.update(is_granted=False, is_revoked=True, revoked_at=now, modified_at=now)
        if self.st.benefits[grant["benefit_id"]]["type"] == "license_keys":
            self.emu.license_keys.set_status(grant["properties"].get("license_key_id"), "revoked")
        self.emu.emit("benefit_grant.revoked", self.emu.ser.grant(grant["id"], webhook=True))
        self.emu.state_changed(grant["customer_id"])

    def cycle(self, grant: dict[str, Any]) -> None:
        benefit = self.st.benefits[grant["benefit_id"]]
        previous = dict(grant["properties"])
        if benefit["type"] == "meter_credit":
            props = benefit["properties"]
            self.emu.usage.cycle_credit(
                grant["customer_id"],
                props["meter_id"],
                props["units"],
                rollover=props.get("rollover", False),
                last_credited_at=previous.get("last_credited_at") or grant["granted_at"],
            )
            grant["properties"] = {
                **previous,
                "last_credited_units": props["units"],
                "last_credited_at": iso(self.emu.clock.now()),
            }
        if benefit["type"] == "license_keys":
            self.emu.license_keys.extend(grant["properties"].get("license_key_id"), benefit)
        grant["modified_at"] = iso(self.emu.clock.now())
        self.emu.emit(
            "benefit_grant.cycled", self.emu.ser.grant(grant["id"], webhook=True, previous=previous)
        )

    def for_subscription(self, sub: dict[str, Any]) -> list[dict[str, Any]]:
        return [g for g in self.st.grants.values() if g["subscription_id"] == sub["id"]]

    def grant_subscription(self, sub: dict[str, Any]) -> None:
        product = self.st.products[sub["product_id"]]
        if sub.get("seats") is not None:
            # Seat-based: benefits go to the members of claimed seats, never the billing
            # manager (subscription/service.py enqueue_benefits_grants,
            # customer_seat/service.py update_subscription_benefits_grants).
            self.emu.seats.grant_claimed(sub)
            return
        for benefit_id in product["_benefit_ids"]:
            self.grant(sub["customer_id"], benefit_id, subscription_id=sub["id"])

    def revoke_subscription(self, sub: dict[str, Any]) -> None:
        # A seat-based subscription that ends revokes all its seats first
        # (customer_seat/service.py revoke_all_seats_for_subscription).
        self.emu.seats.revoke_container(sub)
        for grant in self.for_subscription(sub):
            self.revoke(grant)

    def cycle_subscription(self, sub: dict[str, Any]) -> None:
        for grant in self.for_subscription(sub):
            if grant["is_granted"]:
                self.cycle(grant)

    def sync_subscription(self, sub: dict[str, Any]) -> None:
        """After a product change: revoke what the new product lacks, grant what it adds."""
        wanted = set(self.st.products[sub["product_id"]]["_benefit_ids"])
        for grant in self.for_subscription(sub):
            if grant["benefit_id"] not in wanted:
                self.revoke(grant)
        self.grant_subscription(sub)

    def product_benefits_changed(self, product: dict[str, Any], before: list[str]) -> None:
        for sub in self.st.subscriptions.values():
            # subscription/service.py ``enqueue_benefits_grants``: only an active
            # (trialing or active) subscription holds grants.
            if sub["product_id"] == product["id"] and sub["status"] in ("active", "trialing"):
                self.sync_subscription(sub)
        added = [b for b in product["_benefit_ids"] if b not in before]
        for order in self.st.orders.values():
            if (
                order["product_id"] == product["id"]
                and order["subscription_id"] is None
                and order["status"] == "paid"
            ):
                for benefit_id in added:
                    self.grant(order["customer_id"], benefit_id, order_id=order["id"])
        removed = [b for b in before if b not in product["_benefit_ids"]]
        for grant in list(self.st.grants.values()):
            if (
                grant["benefit_id"] in removed
                and grant["is_granted"]
                and grant["subscription_id"] is None
            ):
                source = self.st.orders.get(grant["order_id"] or "")
                if source and source["product_id"] == product["id"]:
                    self.revoke(grant)

    def benefit_updated(self, benefit: dict[str, Any]) -> None:
        for grant in self.st.grants.values():
            if grant["benefit_id"] == benefit["id"] and grant["is_granted"]:
                previous = dict(grant["properties"])
                grant["modified_at"] = iso(self.emu.clock.now())
                self.emu.emit(
                    "benefit_grant.updated",
                    self.emu.ser.grant(grant["id"], webhook=True, previous=previous),
                )
                self.emu.state_changed(grant["customer_id"])

    def revoke_benefit_everywhere(self, benefit_id: str) -> None:
        for grant in list(self.st.grants.values()):
            if grant["benefit_id"] == benefit_id:
                self.revoke(grant)


def license_expiry(benefit: dict[str, Any], start: Any) -> Any:
    expires = benefit["properties"].get("expires")
    if not expires:
        return None
    days = {"day": 1, "month": 30, "year": 365}[expires["timeframe"]] * expires["ttl"]
    return start + timedelta(days=days)
