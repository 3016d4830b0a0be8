"""Subscriptions: creation, cancel/uncancel/revoke, plan and seat changes, renewals, trials,
past due, pause/resume — each announcing the webhooks Polar sends, in Polar's order."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import APIError, forbidden, invalid, not_found
from .store import iso, parse_iso
from .validation import Body

if TYPE_CHECKING:
    from .core import Emulator

CANCEL_REASONS = (
    "customer_service",
    "low_quality",
    "missing_features",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
    "other",
)
PRORATIONS = ("invoice", "prorate", "next_period", "reset")


def add_interval(start: datetime, interval: str, count: int = 1) -> datetime:
    if interval == "day":
        return start + timedelta(days=count)
    if interval == "week":
        return start + timedelta(weeks=count)
    months = count * (12 if interval == "year" else 1)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def seat_price(price: dict[str, Any], seats: int) -> int:
    tiers = price["seat_tiers"]
    if tiers.get("seat_tier_type") == "graduated":
        total, counted = 0, 0
        for tier in tiers["tiers"]:
            upper = tier["max_seats"] or seats
            in_tier = max(0, min(seats, upper) - counted)
            total += in_tier * tier["price_per_seat"]
            counted += in_tier
        return total
    for tier in tiers["tiers"]:
        if tier["min_seats"] <= seats and (tier["max_seats"] is None or seats <= tier["max_seats"]):
            return seats * tier["price_per_seat"]
    return seats * tiers["tiers"][-1]["price_per_seat"]


def base_amount(
    price: dict[str, Any], *, seats: int | None = None, amount: int | None = None
) -> int:
    kind = price["amount_type"]
    if kind == "fixed":
        return price["price_amount"]
    if kind == "custom":
        return amount if amount is not None else (price["preset_amount"] or price["minimum_amount"])
    if kind == "seat_based":
        return seat_price(price, seats or price["seat_tiers"]["minimum_seats"])
    return 0


class Subscriptions:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def get(self, subscription_id: str) -> dict[str, Any]:
        sub = self.st.subscriptions.get(subscription_id)
        if sub is None:
            raise not_found("Subscription not found")
        return sub

    def _emit(self, *types: str, sub: dict[str, Any]) -> None:
        for kind in types:
            self.emu.emit(kind, self.emu.ser.subscription(sub["id"]))
        self.emu.state_changed(sub["customer_id"])

    def _touch(self, sub: dict[str, Any]) -> None:
        sub["modified_at"] = iso(self.emu.clock.now())

    def _meter_period(self, sub: dict[str, Any]) -> None:
        metered = any(p["amount_type"] == "metered_unit" for p in sub["_prices"])
        sub["current_meter_period_start"] = sub["current_period_start"] if metered else None
        sub["current_meter_period_end"] = sub["current_period_end"] if metered else None

    # creation ---------------------------------------------------------------------
    def create(
        self,
        *,
        customer_id: str,
        product: dict[str, Any],
        price: dict[str, Any],
        amount: int,
        seats: int | None,
        checkout_id: str | None,
        discount_id: str | None,
        metadata: dict[str, Any],
        trial: tuple[str, int] | None,
    ) -> dict[str, Any]:
        now = self.emu.clock.now()
        trial_end = add_interval(now, trial[0], trial[1]) if trial else None
        period_end = trial_end or add_interval(
            now, product["recurring_interval"], product["recurring_interval_count"] or 1
        )
        prices = [price] + [
            p
            for p in product["prices"]
            if not p["is_archived"] and p["amount_type"] == "metered_unit" and p is not price
        ]
        sub = {
            "created_at": iso(now),
            "modified_at": None,
            "id": self.st.new_id(),
            "amount": amount,
            "currency": price["price_currency"],
            "recurring_interval": product["recurring_interval"],
            "recurring_interval_count": product["recurring_interval_count"] or 1,
            "status": "trialing" if trial else "active",
            "current_period_start": iso(now),
            "current_period_end": iso(period_end),
            "current_meter_period_start": None,
            "current_meter_period_end": None,
            "trial_start": iso(now) if trial else None,
            "trial_end": iso(trial_end),
            "cancel_at_period_end": False,
            "canceled_at": None,
            "started_at": iso(now),
            "ends_at": None,
            "ended_at": None,
            "past_due_at": None,
            "pause_at_period_end": False,
            "paused_at": None,
            "resumes_at": None,
            "customer_id": customer_id,
            "product_id": product["id"],
            "discount_id": discount_id,
            "checkout_id": checkout_id,
            "seats": seats,
            "units": None,
            "customer_cancellation_reason": None,
            "customer_cancellation_comment": None,
            "metadata": dict(metadata),
            "_prices": [dict(p) for p in prices],
            "_pending_update": None,
            "_fail_next_renewal": False,
            "_proration_due": 0,
            "_pending_order_id": None,
        }
        self._meter_period(sub)
        self.st.subscriptions[sub["id"]] = sub
        for price_meter in sub["_prices"]:
            if price_meter["amount_type"] == "metered_unit":
                self.emu.usage.reset(customer_id, price_meter["meter_id"])
        return sub

    # PATCH ------------------------------------------------------------------------
    def update(self, sub: dict[str, Any], data: Any) -> dict[str, Any]:
        body = Body(data)
        if body.has("revoke"):
            if body.get("revoke") is not True:
                raise invalid(["body", "revoke"], "Input should be True", "literal_error")
            self.revoke(
                sub,
                reason=body.choice("customer_cancellation_reason", CANCEL_REASONS),
                comment=body.str("customer_cancellation_comment"),
            )
        elif body.has("cancel_at_period_end"):
            flag = body.bool("cancel_at_period_end", required=True)
            if flag:
                self.cancel(
                    sub,
                    reason=body.choice("customer_cancellation_reason", CANCEL_REASONS),
                    comment=body.str("customer_cancellation_comment"),
                )
            else:
                self.uncancel(sub)
        elif body.has("seats"):
            self.change(
                sub,
                seats=body.int("seats", required=True, ge=1),
                proration=body.choice("proration_behavior", PRORATIONS),
            )
        elif body.has("pause_at_period_end"):
            self.pause(
                sub, body.bool("pause_at_period_end", required=True), body.datetime("resumes_at")
            )
        elif body.has("resume"):
            if body.get("resume") is not True:
                raise invalid(["body", "resume"], "Input should be True", "literal_error")
            self.resume(sub)
        elif body.has("current_billing_period_end"):
            self.set_period_end(sub, body.datetime("current_billing_period_end", required=True))
        elif body.has("pending_update"):
            if body.get("pending_update") is not None:
                raise invalid(["body", "pending_update"], "Input should be None", "none_required")
            sub["_pending_update"] = None
            self._touch(sub)
            self._emit("subscription.updated", sub=sub)
        else:
            self._update_base(sub, body)
        return sub

    def _require_live(self, sub: dict[str, Any]) -> None:
        if sub["status"] in ("canceled", "incomplete_expired", "unpaid"):
            raise forbidden(
                "AlreadyCanceledSubscription",
                "This subscription is already canceled or will be at the end of the period.",
            )

    def _update_base(self, sub: dict[str, Any], body: Body) -> None:
        product_id = body.uuid("product_id")
        discount_id = body.uuid("discount_id")
        trial_end = body.get("trial_end")
        metadata = body.metadata()
        proration = body.choice("proration_behavior", PRORATIONS)
        if product_id is not None:
            self.change(sub, product_id=product_id, proration=proration)
        if discount_id is not None:
            self._require_live(sub)
            if discount_id not in self.st.discounts:
                raise invalid(["body", "discount_id"], "Discount does not exist.")
            sub["discount_id"] = discount_id
        # An explicit null removes the discount (SubscriptionUpdateBase.discount_id).
        removes_discount = body.has("discount_id") and discount_id is None
        if removes_discount:
            sub["discount_id"] = None
        if trial_end is not None:
            self._require_live(sub)
            if trial_end == "now":
                if sub["status"] == "trialing":
                    self.convert_trial(sub, at=self.emu.clock.now())
                    return
            else:
                when = body.datetime("trial_end", required=True)  # present: not None
                if when <= self.emu.clock.now():
                    raise invalid(["body", "trial_end"], "Trial end must be in the future.")
                sub.update(
                    status="trialing",
                    trial_start=sub["trial_start"] or iso(self.emu.clock.now()),
                    trial_end=iso(when),
                    current_period_end=iso(when),
                )
        if metadata is not None:
            sub["metadata"] = metadata
        if product_id is None and (
            discount_id is not None
            or removes_discount
            or trial_end is not None
            or metadata is not None
        ):
            self._touch(sub)
            self._emit("subscription.updated", sub=sub)

    # cancellation -----------------------------------------------------------------
    def cancel(
        self, sub: dict[str, Any], *, reason: str | None = None, comment: str | None = None
    ) -> None:
        self._require_live(sub)
        if sub["cancel_at_period_end"]:
            raise forbidden(
                "AlreadyCanceledSubscription",
                "This subscription is already canceled or will be at the end of the period.",
            )
        now = iso(self.emu.clock.now())
        sub.update(
            cancel_at_period_end=True,
            canceled_at=now,
            ends_at=sub["current_period_end"],
            customer_cancellation_reason=reason,
            customer_cancellation_comment=comment,
            modified_at=now,
        )
        self._emit("subscription.updated", "subscription.canceled", sub=sub)

    def uncancel(self, sub: dict[str, Any]) -> None:
        self._require_live(sub)
        if not sub["cancel_at_period_end"]:
            return
        sub.update(
            cancel_at_period_end=False,
            canceled_at=None,
            ends_at=None,
            customer_cancellation_reason=None,
            customer_cancellation_comment=None,
        )
        self._touch(sub)
        self._emit("subscription.updated", "subscription.uncanceled", sub=sub)

    def revoke(
        self, sub: dict[str, Any], *, reason: str | None = None, comment: str | None = None
    ) -> None:
        self._require_live(sub)
        now = iso(self.emu.clock.now())
        was_scheduled = sub["cancel_at_period_end"]
        sub.update(
            status="canceled",
            cancel_at_period_end=False,
            canceled_at=sub["canceled_at"] or now,
            ends_at=now,
            ended_at=now,
            modified_at=now,
        )
        if reason is not None:
            sub["customer_cancellation_reason"] = reason
        if comment is not None:
            sub["customer_cancellation_comment"] = comment
        events = ["subscription.updated"] + ([] if was_scheduled else ["subscription.canceled"])
        self._emit(*events, "subscription.revoked", sub=sub)
        self.emu.grants.revoke_subscription(sub)

    def end_at_period_end(self, sub: dict[str, Any]) -> None:
        end = sub["current_period_end"]
        sub.update(
            status="canceled", ended_at=end, ends_at=end, modified_at=iso(self.emu.clock.now())
        )
        self._emit("subscription.updated", "subscription.revoked", sub=sub)
        self.emu.grants.revoke_subscription(sub)

    # plan and seat changes ----------------------------------------------------------
    def change(
        self,
        sub: dict[str, Any],
        *,
        product_id: str | None = None,
        seats: int | None = None,
        proration: str | None = None,
    ) -> None:
        self._require_live(sub)
        if sub["status"] not in ("active", "trialing"):
            raise forbidden("InactiveSubscription", "This subscription is not active.")
        if sub["cancel_at_period_end"]:
            raise forbidden(
                "AlreadyCanceledSubscription",
                "This subscription is already canceled or will be at the end of the period.",
            )
        proration = proration or self.st.organization["subscription_settings"]["proration_behavior"]
        product = self.st.products[sub["product_id"]]
        if product_id is not None:
            chosen = self.st.products.get(product_id)
            if chosen is None:
                raise invalid(["body", "product_id"], "Product does not exist.")
            product = chosen
            if product["is_archived"]:
                raise invalid(["body", "product_id"], "Product is archived.")
            if not product["is_recurring"]:
                raise invalid(["body", "product_id"], "Product is not a recurring product.")
            if product_id == sub["product_id"]:
                raise invalid(["body", "product_id"], "Subscription is already on this product.")
        price = self.emu.catalog.default_price(product)
        if seats is not None:
            if price["amount_type"] != "seat_based":
                raise invalid(
                    ["body", "seats"], "Seats can only be set on a seat-based subscription."
                )
            tiers = price["seat_tiers"]
            if seats < tiers["minimum_seats"] or (
                tiers["maximum_seats"] and seats > tiers["maximum_seats"]
            ):
                raise invalid(["body", "seats"], "Seats out of the allowed range for this price.")
            assigned = self.emu.seats.assigned_count(sub)
            if seats < assigned:
                # subscription/service.py update_seats raises SeatsAlreadyAssigned (400).
                raise APIError(
                    400,
                    {
                        "error": "SeatsAlreadyAssigned",
                        "detail": f"Cannot decrease seats to {seats}. Currently {assigned} "
                        "seats are assigned. Revoke seats first.",
                    },
                )
        new_seats = (
            seats
            if seats is not None
            else (sub["seats"] if price["amount_type"] == "seat_based" else None)
        )
        if price["amount_type"] == "seat_based" and new_seats is None:
            new_seats = price["seat_tiers"]["minimum_seats"]
        new_amount = base_amount(
            price,
            seats=new_seats,
            amount=sub["amount"] if price["amount_type"] == "custom" else None,
        )
        now = self.emu.clock.now()
        if proration == "next_period":
            sub["_pending_update"] = {
                "created_at": iso(now),
                "modified_at": None,
                "id": self.st.new_id(),
                "applies_at": sub["current_period_end"],
                "product_id": product["id"] if product_id else None,
                "seats": seats,
                "units": None,
            }
            self._touch(sub)
            self._emit("subscription.updated", sub=sub)
            return
        old_amount = sub["amount"]
        self._apply(sub, product, price, new_amount, new_seats)
        if proration == "reset":
            sub["current_period_start"] = iso(now)
            sub["current_period_end"] = iso(
                add_interval(now, sub["recurring_interval"], sub["recurring_interval_count"])
            )
            self._meter_period(sub)
        self._emit("subscription.updated", sub=sub)
        start, end = parse_iso(sub["current_period_start"]), parse_iso(sub["current_period_end"])
        if proration == "reset":
            self._bill(
                sub,
                [
                    self.emu.orders.item(
                        product["name"],
                        new_amount,
                        price_id=price["id"],
                        start=iso(start),
                        end=iso(end),
                    )
                ],
                "subscription_update",
            )
        elif sub["status"] == "active":
            fraction = max((end - now) / (end - start), 0) if end > start else 0
            delta = round((new_amount - old_amount) * fraction)
            if proration == "invoice" and delta > 0:
                label = f"Remaining time on {product['name']}"
                self._bill(
                    sub,
                    [
                        self.emu.orders.item(
                            label,
                            delta,
                            price_id=price["id"],
                            proration=True,
                            start=iso(now),
                            end=iso(end),
                        )
                    ],
                    "subscription_update",
                )
            elif proration == "prorate":
                sub["_proration_due"] += delta
        self.emu.grants.sync_subscription(sub)

    def _apply(
        self,
        sub: dict[str, Any],
        product: dict[str, Any],
        price: dict[str, Any],
        amount: int,
        seats: int | None,
    ) -> None:
        sub.update(
            product_id=product["id"],
            amount=amount,
            seats=seats,
            currency=price["price_currency"],
            recurring_interval=product["recurring_interval"],
            recurring_interval_count=product["recurring_interval_count"] or 1,
            _pending_update=None,
        )
        sub["_prices"] = [dict(price)] + [
            dict(p)
            for p in product["prices"]
            if not p["is_archived"] and p["amount_type"] == "metered_unit" and p is not price
        ]
        self._meter_period(sub)
        self._touch(sub)

    def _bill(
        self, sub: dict[str, Any], items: list[dict[str, Any]], reason: str
    ) -> dict[str, Any]:
        order = self.emu.orders.create(
            customer_id=sub["customer_id"],
            product_id=sub["product_id"],
            items=items,
            billing_reason=reason,
            currency=sub["currency"],
            subscription_id=sub["id"],
            discount_id=self._discount_for_cycle(sub),
            seats=sub["seats"],
            metadata=sub["metadata"],
        )
        self.emu.orders.mark_paid(order, announce_update=True)
        return order

    def _discount_for_cycle(self, sub: dict[str, Any]) -> str | None:
        discount = self.st.discounts.get(sub["discount_id"] or "")
        if discount is None:
            return None
        if discount["duration"] == "forever":
            return discount["id"]
        if discount["duration"] == "repeating":
            limit = add_interval(
                parse_iso(sub["started_at"]), "month", discount["duration_in_months"]
            )
            return discount["id"] if self.emu.clock.now() < limit else None
        return None

    def set_period_end(self, sub: dict[str, Any], when: datetime) -> None:
        self._require_live(sub)
        if when <= self.emu.clock.now():
            raise invalid(
                ["body", "current_billing_period_end"], "The new period end must be in the future."
            )
        sub["current_period_end"] = iso(when)
        if sub["cancel_at_period_end"]:
            sub["ends_at"] = iso(when)
        self._meter_period(sub)
        self._touch(sub)
        self._emit("subscription.updated", sub=sub)

    # pause / resume ---------------------------------------------------------------
    def pause(self, sub: dict[str, Any], flag: bool, resumes_at: datetime | None) -> None:
        self._require_live(sub)
        if sub["status"] not in ("active", "paused"):
            raise forbidden("InactiveSubscription", "Only active subscriptions can be paused.")
        sub["pause_at_period_end"] = flag
        sub["resumes_at"] = iso(resumes_at) if flag else None
        self._touch(sub)
        self._emit("subscription.updated", sub=sub)

    def resume(self, sub: dict[str, Any]) -> None:
        self._require_live(sub)
        if sub["status"] != "paused":
            if sub["pause_at_period_end"]:
                sub.update(pause_at_period_end=False, resumes_at=None)
                self._touch(sub)
                self._emit("subscription.updated", sub=sub)
            return
        now = self.emu.clock.now()
        sub.update(
            status="active",
            paused_at=None,
            resumes_at=None,
            pause_at_period_end=False,
            current_period_start=iso(now),
            current_period_end=iso(
                add_interval(now, sub["recurring_interval"], sub["recurring_interval_count"])
            ),
        )
        self._meter_period(sub)
        self._touch(sub)
        self._emit("subscription.updated", "subscription.resumed", sub=sub)
        price = sub["_prices"][0]
        self._bill(
            sub,
            [
                self.emu.orders.item(
                    self.st.products[sub["product_id"]]["name"],
                    sub["amount"],
                    price_id=price["id"],
                    start=sub["current_period_start"],
                    end=sub["current_period_end"],
                )
            ],
            "subscription_cycle",
        )
        self.emu.grants.grant_subscription(sub)

    def _enter_pause(self, sub: dict[str, Any]) -> None:
        sub.update(status="paused", paused_at=sub["current_period_end"], pause_at_period_end=False)
        self._touch(sub)
        self._emit("subscription.updated", "subscription.paused", sub=sub)

    # the passage of time ------------------------------------------------------------
    def convert_trial(self, sub: dict[str, Any], *, at: datetime) -> None:
        end = add_interval(at, sub["recurring_interval"], sub["recurring_interval_count"])
        sub.update(
            status="active",
            trial_end=iso(at),
            current_period_start=iso(at),
            current_period_end=iso(end),
        )
        self._meter_period(sub)
        self._touch(sub)
        self._emit("subscription.updated", "subscription.active", sub=sub)
        self._charge_cycle(sub, metered_usage=False)

    def renew(self, sub: dict[str, Any]) -> None:
        pending = sub.get("_pending_update")
        if pending:
            product = self.st.products[pending["product_id"] or sub["product_id"]]
            price = self.emu.catalog.default_price(product)
            seats = pending["seats"] if pending["seats"] is not None else sub["seats"]
            if price["amount_type"] != "seat_based":
                seats = None
            self._apply(
                sub, product, price, base_amount(price, seats=seats, amount=sub["amount"]), seats
            )
            self.emu.grants.sync_subscription(sub)
        start = parse_iso(sub["current_period_end"])
        end = add_interval(start, sub["recurring_interval"], sub["recurring_interval_count"])
        sub.update(current_period_start=iso(start), current_period_end=iso(end))
        self._meter_period(sub)
        self._touch(sub)
        self._emit("subscription.updated", sub=sub)
        self._charge_cycle(sub, metered_usage=True)

    def _charge_cycle(self, sub: dict[str, Any], *, metered_usage: bool) -> None:
        product = self.st.products[sub["product_id"]]
        items = []
        for price in sub["_prices"]:
            if price["amount_type"] == "metered_unit":
                if metered_usage:
                    consumed, credited = self.emu.usage.period_usage(
                        sub["customer_id"], price["meter_id"]
                    )
                    meter = self.st.meters[price["meter_id"]]
                    items.append(
                        self.emu.orders.item(
                            f"{meter['name']} ({max(consumed - credited, 0):g} units)",
                            self.emu.usage.metered_amount(price, consumed - credited),
                            price_id=price["id"],
                        )
                    )
                self.emu.usage.reset(sub["customer_id"], price["meter_id"])
            else:
                items.append(
                    self.emu.orders.item(
                        product["name"],
                        sub["amount"],
                        price_id=price["id"],
                        start=sub["current_period_start"],
                        end=sub["current_period_end"],
                    )
                )
        if sub["_proration_due"]:
            items.append(
                self.emu.orders.item(
                    "Proration", sub["_proration_due"], price_id=None, proration=True
                )
            )
            sub["_proration_due"] = 0
        order = self.emu.orders.create(
            customer_id=sub["customer_id"],
            product_id=sub["product_id"],
            items=items,
            billing_reason="subscription_cycle",
            currency=sub["currency"],
            subscription_id=sub["id"],
            discount_id=self._discount_for_cycle(sub),
            seats=sub["seats"],
            metadata=sub["metadata"],
        )
        if sub["_fail_next_renewal"] and order["total_amount"] > 0:
            sub["_fail_next_renewal"] = False
            sub["_pending_order_id"] = order["id"]
            now = iso(self.emu.clock.now())
            order["next_payment_attempt_at"] = iso(self.emu.clock.now() + timedelta(days=2))
            sub.update(status="past_due", past_due_at=now, modified_at=now)
            self._emit("subscription.updated", "subscription.past_due", sub=sub)
            return
        self.emu.orders.mark_paid(order, announce_update=True)
        self.emu.grants.cycle_subscription(sub)
        self._emit("subscription.cycled", sub=sub)

    def recover(self, sub: dict[str, Any]) -> None:
        """The customer fixed their card: the pending renewal is paid, access continues."""
        if sub["status"] != "past_due":
            raise forbidden("InactiveSubscription", "Subscription is not past due.")
        order = self.st.orders[sub["_pending_order_id"]]
        sub.update(status="active", past_due_at=None, _pending_order_id=None)
        self._touch(sub)
        self.emu.orders.mark_paid(order, announce_update=True)
        self._emit("subscription.updated", "subscription.active", sub=sub)
        self.emu.grants.cycle_subscription(sub)

    def tick(self) -> bool:
        """Apply one due transition; True when something happened (the caller loops)."""
        now = self.emu.clock.now()
        for sub in list(self.st.subscriptions.values()):
            status = sub["status"]
            if status == "trialing" and sub["trial_end"] and parse_iso(sub["trial_end"]) <= now:
                if sub["cancel_at_period_end"]:
                    self.end_at_period_end(sub)
                else:
                    self.convert_trial(sub, at=parse_iso(sub["trial_end"]))
                return True
            if status == "paused" and sub["resumes_at"] and parse_iso(sub["resumes_at"]) <= now:
                self.resume(sub)
                return True
            if status == "active" and parse_iso(sub["current_period_end"]) <= now:
                if sub["cancel_at_period_end"]:
                    self.end_at_period_end(sub)
                elif sub["pause_at_period_end"]:
                    self._enter_pause(sub)
                else:
                    self.renew(sub)
                return True
        return False
