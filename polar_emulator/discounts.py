"""When a discount may be redeemed, on what, and for how many billing cycles — Polar's
rules, so a test cannot pass with a code Polar would refuse."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import invalid
from .store import add_interval, parse_iso

if TYPE_CHECKING:
    from .core import Emulator


def is_redeemable(discount: dict[str, Any], now: datetime) -> bool:
    """discount/service.py ``is_redeemable_discount``: started, not ended, not exhausted."""
    if discount["starts_at"] is not None and parse_iso(discount["starts_at"]) > now:
        return False
    if discount["ends_at"] is not None and parse_iso(discount["ends_at"]) < now:
        return False
    if discount["max_redemptions"] is not None:
        return bool(discount["redemptions_count"] < discount["max_redemptions"])
    return True


def is_applicable(discount: dict[str, Any], product_id: str, currency: str) -> bool:
    """models/discount.py ``is_applicable``: a fixed discount needs an amount in the
    currency; a discount restricted to products applies to those only."""
    if discount["type"] == "fixed" and currency not in discount["amounts"]:
        return False
    return not discount["_product_ids"] or product_id in discount["_product_ids"]


def is_repetition_expired(
    discount: dict[str, Any], applied_at: datetime, period_start: datetime
) -> bool:
    """models/discount.py ``is_repetition_expired``: months count from the first billed
    cycle the discount applied to (``discount_applied_at``), the first month included."""
    if discount["duration"] == "once":
        return period_start > applied_at
    if discount["duration"] == "forever":
        return False
    months = discount.get("duration_in_months")
    if months is None:
        return False
    return period_start > add_interval(applied_at, "month", months - 1)


class Discounts:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def by_code(self, code: str) -> dict[str, Any] | None:
        return next(
            (d for d in self.st.discounts.values() if (d["code"] or "").upper() == code.upper()),
            None,
        )

    def usable(self, discount: dict[str, Any] | None, product_id: str, currency: str) -> bool:
        return (
            discount is not None
            and is_applicable(discount, product_id, currency)
            and is_redeemable(discount, self.emu.clock.now())
        )

    def for_checkout(
        self,
        *,
        product_id: str,
        currency: str,
        discount_id: str | None = None,
        code: str | None = None,
    ) -> dict[str, Any]:
        """checkout/service.py ``_get_validated_discount`` (``get_by_id_and_organization``,
        ``get_by_code_and_product``): unknown, other products', other currencies', not
        started, ended or exhausted discounts are all "Discount does not exist."."""
        discount = self.st.discounts.get(discount_id) if discount_id else self.by_code(code or "")
        if not self.usable(discount, product_id, currency):
            loc = "discount_id" if discount_id else "discount_code"
            raise invalid(["body", loc], "Discount does not exist.", value=discount_id or code)
        assert discount is not None
        return discount

    def for_subscription(self, sub: dict[str, Any], discount_id: str, product_id: str) -> None:
        """subscription/service.py ``resolve_discount``."""
        discount = self.st.discounts.get(discount_id)
        if not self.usable(discount, product_id, sub["currency"]):
            raise invalid(
                ["body", "discount_id"],
                "Discount does not exist, is not applicable to this product or is not redeemable.",
                value=discount_id,
            )
        if discount_id == sub["discount_id"]:
            raise invalid(
                ["body", "discount_id"],
                "This discount is already applied to the subscription.",
                value=discount_id,
            )

    def redeem(self, discount_id: str | None) -> None:
        """discount/service.py ``redeem_discount``: one more redemption, counted."""
        discount = self.st.discounts.get(discount_id or "")
        if discount is not None:
            discount["redemptions_count"] += 1
