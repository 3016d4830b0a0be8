"""Dunning: a declined renewal makes the subscription past due and takes its benefits away;
Polar retries the payment on a schedule driven by the clock, then revokes the subscription."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import forbidden
from .payments import decline
from .store import iso, parse_iso

if TYPE_CHECKING:
    from .core import Emulator

# server/polar/config.py ``DUNNING_RETRY_INTERVALS``: retries 2, 7, 14 and 21 days after
# the failed renewal.
DUNNING_RETRY_INTERVALS = (
    timedelta(days=2),
    timedelta(days=5),
    timedelta(days=7),
    timedelta(days=7),
)


def past_due_deadline(sub: dict[str, Any]) -> datetime | None:
    """models/subscription.py ``past_due_deadline``: the sum of the intervals plus a minute."""
    if sub["past_due_at"] is None:
        return None
    return parse_iso(sub["past_due_at"]) + sum(DUNNING_RETRY_INTERVALS, timedelta(minutes=1))


class Dunning:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def _grace_days(self) -> int:
        return int(self.emu.organizations.setting("benefit_revocation_grace_period"))

    def start(self, sub: dict[str, Any], order: dict[str, Any]) -> None:
        """order/service.py ``_handle_first_dunning_attempt`` and subscription/service.py
        ``mark_past_due``: past due now, first retry in two days, grants revoked unless
        the organization gives a revocation grace period (0 days by default)."""
        now = self.emu.clock.now()
        decline(self.emu, order)  # the renewal's payment, recorded failed (payment/)
        sub["_pending_order_id"] = order["id"]
        order["_failed_attempts"] = 1
        order["next_payment_attempt_at"] = iso(now + DUNNING_RETRY_INTERVALS[0])
        order["modified_at"] = iso(now)
        sub.update(status="past_due", past_due_at=sub["past_due_at"] or iso(now))
        sub["modified_at"] = iso(now)
        self.emu.subscriptions._emit("subscription.updated", "subscription.past_due", sub=sub)
        self._revoke_unless_in_grace(sub)

    def _revoke_unless_in_grace(self, sub: dict[str, Any]) -> None:
        """subscription/service.py ``enqueue_benefits_grants`` with
        ``_is_within_revocation_grace_period``."""
        grace = self._grace_days()
        if grace and self.emu.clock.now() < parse_iso(sub["past_due_at"]) + timedelta(days=grace):
            return
        self.emu.grants.revoke_subscription(sub)

    def recover(self, sub: dict[str, Any]) -> None:
        """The customer saved a working card: order/service.py
        ``schedule_retry_for_past_due_orders`` retries at once, the payment succeeds and
        ``mark_active`` restores the subscription and its benefits."""
        if sub["status"] != "past_due":
            raise forbidden("InactiveSubscription", "Subscription is not past due.")
        self._paid(sub, self.st.orders[sub["_pending_order_id"]])

    def _paid(self, sub: dict[str, Any], order: dict[str, Any]) -> None:
        sub.update(status="active", past_due_at=None, _pending_order_id=None, _declines=0)
        sub["modified_at"] = iso(self.emu.clock.now())
        self.emu.orders.mark_paid(order, announce_update=True)
        self.emu.subscriptions._emit("subscription.updated", "subscription.active", sub=sub)
        self.emu.grants.cycle_subscription(sub)
        self.emu.grants.grant_subscription(sub)

    def tick(self) -> bool:
        """Run one due retry (or a grace period's end); True when something happened."""
        now = self.emu.clock.now()
        for sub in list(self.st.subscriptions.values()):
            if sub["status"] != "past_due" or not sub.get("_pending_order_id"):
                continue
            order = self.st.orders[sub["_pending_order_id"]]
            due = order["next_payment_attempt_at"]
            if due is not None and parse_iso(due) <= now:
                self._retry(sub, order, at=parse_iso(due))
                return True
            grace = self._grace_days()
            if (
                grace
                and now >= parse_iso(sub["past_due_at"]) + timedelta(days=grace)
                and any(g["is_granted"] for g in self.emu.grants.for_subscription(sub))
            ):
                self.emu.grants.revoke_subscription(sub)
                return True
        return False

    def _retry(self, sub: dict[str, Any], order: dict[str, Any], *, at: datetime) -> None:
        """order/service.py ``_handle_consecutive_dunning_attempts``."""
        declines = sub.get("_declines")
        if declines is not None and declines <= 0:
            self._paid(sub, order)
            return
        if declines is not None:
            sub["_declines"] = declines - 1
        decline(self.emu, order, trigger="retry_dunning")
        order["_failed_attempts"] = failed = order.get("_failed_attempts", 1) + 1
        deadline = past_due_deadline(sub)
        if failed > len(DUNNING_RETRY_INTERVALS) or (deadline is not None and deadline < at):
            order["next_payment_attempt_at"] = None
            self.emu.subscriptions.revoke(sub)
            return
        order["next_payment_attempt_at"] = iso(at + DUNNING_RETRY_INTERVALS[failed - 1])
        order["modified_at"] = iso(self.emu.clock.now())
        self._revoke_unless_in_grace(sub)

    def void_pending(self, sub: dict[str, Any]) -> None:
        """subscription/service.py ``_on_subscription_revoked`` ->
        order/service.py ``void``: an unpaid renewal of a revoked subscription is void,
        and any balance it consumed goes back to the customer."""
        order = self.st.orders.get(sub.get("_pending_order_id") or "")
        if order is None or order["status"] != "pending":
            return
        sub["_pending_order_id"] = None
        order.update(
            status="void", next_payment_attempt_at=None, modified_at=iso(self.emu.clock.now())
        )
        if order["applied_balance_amount"] < 0:
            self.emu.orders.adjust_balance(order["customer_id"], -order["applied_balance_amount"])
        self.emu.emit("order.updated", self.emu.ser.order(order["id"]))
