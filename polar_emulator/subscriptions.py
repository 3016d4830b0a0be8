"""Subscriptions: creation, cancel/uncancel/revoke, plan and seat changes, renewals, trials,
past due, pause/resume — each announcing the webhooks Polar sends, in Polar's order."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import discounts, pricing
from .errors import APIError, bad_request, conflict, forbidden, invalid, not_found
from .store import add_interval, iso, parse_iso
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
# models/subscription.py SubscriptionStatus.billable_statuses()
BILLABLE = ("trialing", "active", "past_due")


def already_canceled() -> APIError:
    """subscription/service.py ``AlreadyCanceledSubscription`` (403)."""
    return forbidden(
        "AlreadyCanceledSubscription",
        "This subscription is already canceled or will be at the end of the period.",
    )


def inactive(sub: dict[str, Any]) -> APIError:
    """subscription/service.py ``InactiveSubscription`` (403)."""
    return forbidden("InactiveSubscription", f"Subscription {sub['id']} is not active.")


def priced(
    prices: list[dict[str, Any]], *, seats: int | None, amount: int | None = None
) -> list[dict[str, Any]]:
    """models/subscription_product_price.py ``from_price``: the subscription keeps every
    price of the set with its own amount (``_amount``: fixed, custom paid, seat charge;
    metered 0)."""
    return [dict(p, _amount=pricing.price_amount(p, seats=seats, amount=amount)) for p in prices]


def total(prices: list[dict[str, Any]]) -> int:
    """models/subscription.py ``update_amount_and_currency``: the sum of the prices'
    amounts (the emulator keeps ``amount`` before the discount, as it always has)."""
    return sum(int(p.get("_amount", 0)) for p in pricing.static(prices))


def amount_of(sub: dict[str, Any], price: dict[str, Any]) -> int:
    """A subscription price's own amount (a state saved before prices carried one: the
    whole amount of its only static price, else the price's amount for the seats)."""
    if "_amount" in price:
        return int(price["_amount"])
    if len(pricing.static(sub["_prices"])) == 1 and price["amount_type"] not in pricing.METERED:
        return int(sub["amount"])
    return pricing.price_amount(price, seats=sub["seats"])


def item_label(product: dict[str, Any], price: dict[str, Any], seats: int | None) -> str:
    """models/order_item.py ``format_price_label``: "Team (5 seats)" for a seat price."""
    if price["amount_type"] == "seat_based" and seats is not None:
        return f"{product['name']} ({seats} seat{'' if seats == 1 else 's'})"
    return str(product["name"])


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
        currency: str,
        seats: int | None,
        checkout_id: str | None,
        discount_id: str | None,
        metadata: dict[str, Any],
        trial: tuple[str, int] | None,
        amount: int | None = None,
    ) -> dict[str, Any]:
        """subscription/service.py ``create_or_update_from_checkout``: the subscription
        carries every price of the product's set in ``currency`` (``amount``: what a
        custom price was paid), each with its amount; its ``amount`` is their sum."""
        now = self.emu.clock.now()
        trial_end = add_interval(now, trial[0], trial[1]) if trial else None
        period_end = trial_end or add_interval(
            now, product["recurring_interval"], product["recurring_interval_count"] or 1
        )
        prices = priced(self.emu.catalog.price_set(product, currency), seats=seats, amount=amount)
        sub = {
            "created_at": iso(now),
            "modified_at": None,
            "id": self.st.new_id(),
            "amount": total(prices),
            "currency": currency,
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
            "_prices": prices,
            "_pending_update": None,
            "_fail_next_renewal": False,
            # subscription/service.py ``create_or_update_from_checkout``: a discount counts
            # its cycles from the first billed one (now, unless a trial comes first).
            "_discount_applied_at": iso(now) if discount_id and not trial else None,
            "_proration_due": 0,
            "_pending_order_id": None,
        }
        self._meter_period(sub)
        self.st.subscriptions[sub["id"]] = sub
        for price_meter in sub["_prices"]:
            if price_meter["amount_type"] == "metered_unit":
                self.emu.usage.reset(customer_id, price_meter["meter_id"])
        return sub

    def create_free(self, data: Any) -> dict[str, Any]:
        """POST /v1/subscriptions/ (subscription/service.py ``create``): a free recurring
        product only (a paid one needs a checkout), for an existing customer by id or
        external id. Active at once; webhooks subscription.created, subscription.active,
        subscription.updated; benefits granted; no order."""
        body = Body(data)
        product_id = body.uuid("product_id", required=True)
        if body.has("customer_id"):
            customer_field, customer_value = "customer_id", body.uuid("customer_id", required=True)
        elif body.has("external_customer_id"):
            customer_field = "external_customer_id"
            customer_value = body.str("external_customer_id", required=True, nullable=False)
        else:
            raise invalid(["body", "customer_id"], "Field required", "missing")
        metadata = body.metadata() or {}
        product = self.st.products.get(product_id)
        if product is None:
            raise invalid(["body", "product_id"], "Product does not exist.", value=product_id)
        if not product["is_recurring"]:
            raise invalid(
                ["body", "product_id"], "Product is not a recurring product.", value=product_id
            )
        price = self.emu.catalog.default_price(product)
        # models/product_price.py: only a fixed price of 0 ``is_free``.
        if price["amount_type"] != "fixed" or price["price_amount"] != 0:
            raise invalid(
                ["body", "product_id"],
                "Product is not free. The customer should go through a checkout "
                "to create a paid subscription.",
                value=product_id,
            )
        customer = (
            self.st.customers.get(customer_value)
            if customer_field == "customer_id"
            else self.emu.customers.by_external_id(customer_value)
        )
        if customer is None or customer["deleted_at"] is not None:
            raise invalid(
                ["body", customer_field], "Customer does not exist.", value=customer_value
            )
        sub = self.create(
            customer_id=customer["id"],
            product=product,
            currency=price["price_currency"],
            seats=None,
            checkout_id=None,
            discount_id=None,
            metadata=metadata,
            trial=None,
        )
        self._emit("subscription.created", "subscription.active", "subscription.updated", sub=sub)
        self.emu.grants.grant_subscription(sub)
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
            flag = body.bool("pause_at_period_end", required=True)
            resumes_at = self._future(body, "resumes_at")
            if flag:
                self.pause(sub, resumes_at)
            else:
                self.cancel_scheduled_pause(sub)
        elif body.has("resume"):
            if body.get("resume") is not True:
                raise invalid(["body", "resume"], "Input should be True", "literal_error")
            self.resume(sub)
        elif body.has("current_billing_period_end"):
            when = self._future(body, "current_billing_period_end", required=True)
            assert when is not None
            self.set_period_end(sub, when)
        elif body.has("pending_update"):
            if body.get("pending_update") is not None:
                raise invalid(["body", "pending_update"], "Input should be None", "none_required")
            self.clear_pending_update(sub)
        else:
            self._update_base(sub, body)
        return sub

    def _future(self, body: Body, name: str, *, required: bool = False) -> datetime | None:
        """A pydantic ``FutureDatetime`` field (subscription/schemas.py ``trial_end``,
        ``current_billing_period_end``, ``resumes_at``): checked against Polar's clock
        when the body is parsed, before any rule of the service."""
        when = body.datetime(name, required=required)
        if when is not None and when <= self.emu.clock.now():
            raise invalid(["body", name], "Input should be in the future", "datetime_future")
        return when

    def _can_cancel(self, sub: dict[str, Any], *, immediately: bool = False) -> bool:
        """models/subscription.py ``can_cancel``: a paused subscription may be revoked
        (not canceled at period end); otherwise only a billable one not ended, and at
        period end only once."""
        if immediately and sub["status"] == "paused":
            return sub["ended_at"] is None
        if sub["status"] not in BILLABLE or sub["ended_at"]:
            return False
        return immediately or not (sub["cancel_at_period_end"] or sub["ends_at"])

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
        new_trial_end = None if trial_end is None else self._trial_end(sub, body)
        metadata = body.metadata()
        proration = body.choice("proration_behavior", PRORATIONS)
        if discount_id is not None:
            self._require_live(sub)
            self.emu.discounts.for_subscription(sub, discount_id, product_id or sub["product_id"])
        if product_id is not None:
            self.change(sub, product_id=product_id, proration=proration)
        if discount_id is not None:
            self._set_discount(sub, discount_id)
            self.emu.discounts.redeem(discount_id)
        # An explicit null removes the discount (SubscriptionUpdateBase.discount_id).
        removes_discount = body.has("discount_id") and discount_id is None
        if removes_discount:
            self._set_discount(sub, None)
        if isinstance(new_trial_end, datetime):
            # The trial end is the period end; ``trial_start`` and ``ends_at`` stay as
            # they were, as Polar leaves them.
            sub.update(status="trialing", trial_end=iso(new_trial_end))
            sub["current_period_end"] = iso(new_trial_end)
        if metadata is not None:
            sub["metadata"] = metadata
        if new_trial_end == "now" and sub["status"] == "trialing":
            # ``update_trial`` sets the billing effect "cycle": the trial ends now and
            # the first cycle is billed when the update is done.
            now = self.emu.clock.now()
            sub["trial_end"] = sub["current_period_end"] = iso(now)
            self.convert_trial(sub, at=now)
            return
        if product_id is None and (
            discount_id is not None
            or removes_discount
            or trial_end is not None
            or metadata is not None
        ):
            self._touch(sub)
            self._emit("subscription.updated", sub=sub)

    def _trial_end(self, sub: dict[str, Any], body: Body) -> datetime | str:
        """subscription/service.py ``update_trial``, checked before anything changes:
        only an active or trialing subscription (403 InactiveSubscription; one canceled
        at period end is still active). A trial's end moves to any future date, or to
        ``"now"``; an active subscription gets a new trial only past its current period
        end (no paid day is lost), and ``"now"`` on it is a 422."""
        raw = body.get("trial_end")
        when = None if raw == "now" else self._future(body, "trial_end")
        if sub["status"] not in ("trialing", "active"):
            raise inactive(sub)
        if when is None:
            if sub["status"] != "trialing":
                raise invalid(
                    ["body", "trial_end"], "The subscription is not currently trialing.", value=raw
                )
            return "now"
        if sub["status"] == "active" and when <= parse_iso(sub["current_period_end"]):
            raise invalid(
                ["body", "trial_end"], "Trial end must be after the current period end.", value=raw
            )
        return when

    # cancellation -----------------------------------------------------------------
    def cancel(
        self, sub: dict[str, Any], *, reason: str | None = None, comment: str | None = None
    ) -> None:
        """subscription/service.py ``_perform_cancellation`` (at period end): a
        scheduled pause is dropped; a reason or comment is stored only when given."""
        if not self._can_cancel(sub):
            raise already_canceled()
        now = iso(self.emu.clock.now())
        sub.update(
            cancel_at_period_end=True,
            canceled_at=now,
            ends_at=sub["current_period_end"],
            pause_at_period_end=False,
            resumes_at=None,
            modified_at=now,
        )
        if reason:
            sub["customer_cancellation_reason"] = reason
        if comment:
            sub["customer_cancellation_comment"] = comment
        self._emit("subscription.updated", "subscription.canceled", sub=sub)

    def uncancel(self, sub: dict[str, Any]) -> None:
        # subscription/service.py uncancel: an ended subscription is 410 ResourceUnavailable;
        # one not set to cancel (can_uncancel) is 400 BadRequest.
        if sub["ended_at"]:
            raise APIError(410, {"error": "ResourceUnavailable", "detail": "Unavailable"})
        if not sub["cancel_at_period_end"] or sub["status"] not in BILLABLE:
            raise bad_request("Bad request")
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
        if not self._can_cancel(sub, immediately=True):
            raise already_canceled()
        now = iso(self.emu.clock.now())
        # subscription/service.py _perform_cancellation sets canceled_at to now even when a
        # cancellation was already scheduled, and _after_subscription_updated then sends
        # subscription.canceled (revoked=True) before subscription.revoked in both cases.
        sub.update(
            status="canceled",
            cancel_at_period_end=False,
            canceled_at=now,
            ends_at=now,
            ended_at=now,
            pause_at_period_end=False,
            resumes_at=None,
            modified_at=now,
        )
        if reason:
            sub["customer_cancellation_reason"] = reason
        if comment:
            sub["customer_cancellation_comment"] = comment
        self._emit("subscription.updated", "subscription.canceled", "subscription.revoked", sub=sub)
        self.emu.grants.revoke_subscription(sub)
        self.emu.dunning.void_pending(sub)

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
        self.emu.organizations.check_proration(proration, ["body", "proration_behavior"])
        proration = proration or self.emu.organizations.setting("proration_behavior")
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
        new_prices = self.emu.catalog.price_set(product, sub["currency"])
        old_seat = pricing.seat_price_of(sub["_prices"])
        new_seat = pricing.seat_price_of(new_prices)
        if seats is not None:
            self._validate_seats(sub, seats)
        if product_id is not None:
            # subscription/service.py ``validate_product_change``.
            if any(p["amount_type"] == "custom" for p in new_prices):
                raise invalid(
                    ["body", "product_id"], "Can't update to a product with custom prices."
                )
            if old_seat is not None and new_seat is None:
                raise invalid(
                    ["body", "product_id"],
                    "Can't switch from a seat-based to a non-seat-based product.",
                )
            if old_seat is None and new_seat is not None and proration == "next_period":
                # ``_promote_seats_for_seat_transition``.
                raise invalid(
                    ["body", "proration_behavior"],
                    "Switching from a non-seat to a seat-based product must apply immediately "
                    "and can't use the 'next_period' proration behavior.",
                )
        # A seat change keeps the product; a product change keeps the seat count (a
        # non-seat -> seat change starts at the new price's minimum).
        new_seats = seats if seats is not None else sub["seats"]
        if new_seat is None:
            new_seats = None
        elif new_seats is None:
            new_seats = new_seat["seat_tiers"]["minimum_seats"]
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
        was_trialing = sub["status"] == "trialing"
        old_product = self.st.products[sub["product_id"]]
        old_prices, old_seats = sub["_prices"], sub["seats"]
        old_start = parse_iso(sub["current_period_start"])
        old_end = parse_iso(sub["current_period_end"])
        # subscription/update.py ``_generate_product_subscription_update``: an interval
        # change (or ``reset``) starts a new cycle now, of the new product's interval.
        interval_changed = (
            product["recurring_interval"],
            product["recurring_interval_count"] or 1,
        ) != (
            sub["recurring_interval"],
            sub["recurring_interval_count"],
        )
        resets_cycle = proration == "reset" or interval_changed
        self._apply(sub, product, new_seats)
        if was_trialing:
            # subscription/service.py ``update_product`` / ``_resolve_trial_end``: the
            # trial follows the new product's trial from the trial start; a product
            # without one (or one already over) ends the trial now and bills a cycle.
            trial_end = self._resolved_trial_end(sub, product) if product_id else sub["trial_end"]
            if trial_end is None:
                sub["trial_end"] = sub["current_period_end"] = iso(now)
                self.emu.grants.sync_subscription(sub)
                self.convert_trial(sub, at=now)
                return
            sub["trial_end"] = sub["current_period_end"] = trial_end
            self._emit("subscription.updated", sub=sub)
            self.emu.grants.sync_subscription(sub)
            return
        if resets_cycle:
            sub["current_period_start"] = iso(now)
            sub["current_period_end"] = iso(
                add_interval(now, sub["recurring_interval"], sub["recurring_interval_count"])
            )
            self._meter_period(sub)
        self._emit("subscription.updated", sub=sub)
        new_period = (parse_iso(sub["current_period_start"]), parse_iso(sub["current_period_end"]))
        if product_id is None:
            items = self._seat_proration(
                sub, old_seats or 1, old_period=(old_start, old_end), reset=proration == "reset"
            )
        else:
            items = self._product_proration(
                sub,
                old_product=old_product,
                old_prices=old_prices,
                old_seats=old_seats,
                old_period=(old_start, old_end),
                credit_unused=proration != "reset",
                new_period=new_period,
            )
        # ``update_product``: ``invoice`` and ``reset`` (immediate) or an interval change
        # bill at once, credits included (a negative total credits the customer's
        # balance); ``prorate`` carries the difference to the next renewal.
        if items and (proration in ("invoice", "reset") or interval_changed):
            self._bill(sub, items, "subscription_update")
        elif items and proration == "prorate":
            sub["_proration_due"] += sum(item["amount"] for item in items)
        self.emu.grants.sync_subscription(sub)

    def _validate_seats(self, sub: dict[str, Any], seats: int) -> None:
        """subscription/service.py ``validate_seats_change``: the subscription's own
        seat-based price (a "fixed + per seat" subscription has one) bounds the count,
        and the seats assigned are a floor; each refusal a 400 SubscriptionError."""
        seat = pricing.seat_price_of(sub["_prices"])
        if seat is None:
            raise APIError(
                400,
                {
                    "error": "NotASeatBasedSubscription",
                    "detail": "This subscription does not support seat-based pricing.",
                },
            )
        tiers = seat["seat_tiers"]
        if seats < tiers["minimum_seats"]:
            raise APIError(
                400,
                {
                    "error": "BelowMinimumSeats",
                    "detail": f"Minimum {tiers['minimum_seats']} seats required.",
                },
            )
        if tiers["maximum_seats"] is not None and seats > tiers["maximum_seats"]:
            raise APIError(
                400,
                {
                    "error": "AboveMaximumSeats",
                    "detail": f"Maximum {tiers['maximum_seats']} seats allowed.",
                },
            )
        assigned = self.emu.seats.assigned_count(sub)
        if seats < assigned:
            raise APIError(
                400,
                {
                    "error": "SeatsAlreadyAssigned",
                    "detail": f"Cannot decrease seats to {seats}. Currently {assigned} "
                    "seats are assigned. Revoke seats first.",
                },
            )

    def _resolved_trial_end(self, sub: dict[str, Any], product: dict[str, Any]) -> str | None:
        if not product["trial_interval"] or not sub["trial_start"]:
            return None
        end = add_interval(
            parse_iso(sub["trial_start"]),
            product["trial_interval"],
            product["trial_interval_count"] or 1,
        )
        return iso(end) if end > self.emu.clock.now() else None

    def _proration_item(
        self, label: str, amount: int, price_id: str, end: datetime
    ) -> list[dict[str, Any]]:
        if not amount:
            return []
        now = iso(self.emu.clock.now())
        return [
            self.emu.orders.item(
                label, amount, price_id=price_id, proration=True, start=now, end=iso(end)
            )
        ]

    def _seat_proration(
        self,
        sub: dict[str, Any],
        old_seats: int,
        *,
        old_period: tuple[datetime, datetime],
        reset: bool,
    ) -> list[dict[str, Any]]:
        """subscription/update.py ``_generate_quantity_subscription_update``: one entry,
        for the seat price only (a fixed price beside it is untouched): the prorated
        difference of the seat charge, each side net of its share of the discount
        (allocated across ``[fixed, seats]``); ``reset`` charges the new seat charge in
        full. Truncated toward zero (``int(Decimal)``)."""
        seat = pricing.seat_price_of(sub["_prices"])
        assert seat is not None
        fixed = pricing.fixed_price_of(sub["_prices"])
        discount = self.st.discounts.get(sub["discount_id"] or "")
        new_seats = sub["seats"]
        old_base = pricing.seat_amount(seat, old_seats)
        new_base = pricing.seat_amount(seat, new_seats)

        def share(amount: int) -> int:
            amounts = [fixed["price_amount"], amount] if fixed is not None else [amount]
            return pricing.allocate_discount(discount, amounts)[-1]

        if reset:
            delta = new_base - share(new_base)
        else:
            start, end = old_period
            factor = max((end - self.emu.clock.now()) / (end - start), 0) if end > start else 0
            delta = int(((new_base - share(new_base)) - (old_base - share(old_base))) * factor)
        product = self.st.products[sub["product_id"]]
        label = f"{product['name']} ({old_seats} → {new_seats} seats)"
        return self._proration_item(label, delta, seat["id"], parse_iso(sub["current_period_end"]))

    def _product_proration(
        self,
        sub: dict[str, Any],
        *,
        old_product: dict[str, Any],
        old_prices: list[dict[str, Any]],
        old_seats: int | None,
        old_period: tuple[datetime, datetime],
        credit_unused: bool,
        new_period: tuple[datetime, datetime],
    ) -> list[dict[str, Any]]:
        """subscription/update.py ``_generate_product_*_proration_billing_entries``: a
        credit for the unused time of each old static price and a debit for the
        remaining time of each new one (``_collect_proratable_amounts``: fixed and seat
        prices, free and custom ones skipped), each net of its share of the discount
        (``allocate_discount_amounts``; prorations carry the discount themselves)."""
        now = self.emu.clock.now()
        discount = self.st.discounts.get(sub["discount_id"] or "")

        def remaining(period: tuple[datetime, datetime]) -> float:
            start, end = period
            return max((end - now) / (end - start), 0) if end > start else 0

        def proratable(
            prices: list[dict[str, Any]], seats: int | None
        ) -> list[tuple[dict[str, Any], int]]:
            out = []
            for price in pricing.static(prices):
                if price["amount_type"] == "fixed" or (
                    price["amount_type"] == "seat_based" and seats is not None
                ):
                    amount = pricing.price_amount(price, seats=seats)
                    if amount:
                        out.append((price, amount))
            return out

        items: list[dict[str, Any]] = []
        if credit_unused:
            old = proratable(old_prices, old_seats)
            shares = pricing.allocate_discount(discount, [a for _, a in old])
            for (price, amount), off in zip(old, shares, strict=True):
                label = item_label(old_product, price, old_seats)
                credit = round((amount - off) * remaining(old_period))
                items += self._proration_item(
                    f"Unused time on {label}", -credit, price["id"], old_period[1]
                )
        new_product = self.st.products[sub["product_id"]]
        new = proratable(sub["_prices"], sub["seats"])
        shares = pricing.allocate_discount(discount, [a for _, a in new])
        for (price, amount), off in zip(new, shares, strict=True):
            label = item_label(new_product, price, sub["seats"])
            debit = round((amount - off) * remaining(new_period))
            items += self._proration_item(
                f"Remaining time on {label}", debit, price["id"], new_period[1]
            )
        return items

    def _apply(self, sub: dict[str, Any], product: dict[str, Any], seats: int | None) -> None:
        """models/subscription_update.py ``apply_update``: the product's price set (or
        the same prices, for a seat change) re-priced for ``seats``; a custom price keeps
        what was paid."""
        paid = next(
            (amount_of(sub, p) for p in sub["_prices"] if p["amount_type"] == "custom"), None
        )
        prices = (
            sub["_prices"]
            if product["id"] == sub["product_id"]
            else self.emu.catalog.price_set(product, sub["currency"])
        )
        sub["_prices"] = priced(prices, seats=seats, amount=paid)
        sub.update(
            product_id=product["id"],
            amount=total(sub["_prices"]),
            seats=seats,
            recurring_interval=product["recurring_interval"],
            recurring_interval_count=product["recurring_interval_count"] or 1,
            _pending_update=None,
        )
        self._meter_period(sub)
        self._touch(sub)

    def static_items(self, sub: dict[str, Any]) -> list[dict[str, Any]]:
        """One item per static price of the subscription, at its own amount, for the
        current period (order/service.py ``_build_static_order_items``)."""
        product = self.st.products[sub["product_id"]]
        return [
            self.emu.orders.item(
                item_label(product, price, sub["seats"]),
                amount_of(sub, price),
                price_id=price["id"],
                start=sub["current_period_start"],
                end=sub["current_period_end"],
            )
            for price in pricing.static(sub["_prices"])
        ]

    def _bill(
        self,
        sub: dict[str, Any],
        items: list[dict[str, Any]],
        reason: str,
        *,
        discount_id: str | None = None,
    ) -> dict[str, Any]:
        """An order paid at once (prorations are net of the discount already)."""
        order = self.emu.orders.create(
            customer_id=sub["customer_id"],
            product_id=sub["product_id"],
            items=items,
            billing_reason=reason,
            currency=sub["currency"],
            subscription_id=sub["id"],
            discount_id=discount_id,
            seats=sub["seats"],
            metadata=sub["metadata"],
        )
        self.emu.orders.mark_paid(order, announce_update=True)
        return order

    def _set_discount(self, sub: dict[str, Any], discount_id: str | None) -> None:
        # models/subscription.py: a new discount counts its own cycles from scratch.
        sub["discount_id"] = discount_id
        sub["_discount_applied_at"] = None

    def _clear_expired_discount(self, sub: dict[str, Any]) -> None:
        """subscription/service.py ``_clear_expired_discount``, at every billed cycle: the
        first one a discount meets starts its count; an expired discount is removed."""
        discount = self.st.discounts.get(sub["discount_id"] or "")
        if discount is None:
            sub["discount_id"] = None
            return
        if sub.get("_discount_applied_at") is None:
            sub["_discount_applied_at"] = sub["current_period_start"]
        if discounts.is_repetition_expired(
            discount,
            parse_iso(sub["_discount_applied_at"]),
            parse_iso(sub["current_period_start"]),
        ):
            sub["discount_id"] = None

    def set_period_end(self, sub: dict[str, Any], when: datetime) -> None:
        """subscription/service.py ``update_currrent_billing_period_end``: the renewal
        (the billing anchor) moves to ``when``, earlier or later, on a running
        subscription only: revoked or canceled at period end is 403
        AlreadyCanceledSubscription, any other not active status 403
        InactiveSubscription. Nothing is billed or credited now."""
        if sub["status"] in ("canceled", "unpaid"):
            raise already_canceled()
        if sub["status"] not in ("trialing", "active"):
            raise inactive(sub)
        if sub["cancel_at_period_end"]:
            raise already_canceled()
        sub["current_period_end"] = iso(when)
        self._meter_period(sub)
        self._touch(sub)
        self._emit("subscription.updated", sub=sub)

    def clear_pending_update(self, sub: dict[str, Any]) -> None:
        """subscription/service.py ``clear_pending_update``: a scheduled change
        (``proration_behavior`` next_period) is dropped; none to clear is a 422."""
        if sub.get("_pending_update") is None:
            raise invalid(
                ["body", "pending_update"], "This subscription has no pending update to clear."
            )
        sub["_pending_update"] = None
        self._touch(sub)
        self._emit("subscription.updated", sub=sub)

    # pause / resume ---------------------------------------------------------------
    def pause(self, sub: dict[str, Any], resumes_at: datetime | None) -> None:
        """subscription/service.py ``pause``: Polar pauses only at the end of the
        period (``pause_at_period_end``); ``resumes_at``, if given, must be after it."""
        # models/subscription.py ``can_pause``: active, not canceled, not already pausing.
        if (
            sub["status"] != "active"
            or sub["cancel_at_period_end"]
            or sub["pause_at_period_end"]
            or sub["ends_at"] is not None
        ):
            raise conflict("CannotPauseSubscription", "This subscription cannot be paused.")
        if resumes_at is not None and resumes_at <= parse_iso(sub["current_period_end"]):
            raise invalid(
                ["body", "resumes_at"],
                "resumes_at must be after the current period end.",
                value=iso(resumes_at),
            )
        sub["pause_at_period_end"] = True
        sub["resumes_at"] = iso(resumes_at)
        self._touch(sub)
        self._emit("subscription.updated", sub=sub)

    def cancel_scheduled_pause(self, sub: dict[str, Any]) -> None:
        """subscription/service.py ``cancel_scheduled_pause`` (``can_cancel_scheduled_pause``)."""
        if not (sub["pause_at_period_end"] and sub["status"] == "active"):
            raise conflict("NoScheduledPause", "This subscription is not scheduled to be paused.")
        sub.update(pause_at_period_end=False, resumes_at=None)
        self._touch(sub)
        self._emit("subscription.updated", sub=sub)

    def resume(self, sub: dict[str, Any]) -> None:
        """subscription/service.py ``resume``: a paused subscription only (409
        NotPausedSubscription otherwise); a new period starts now and is billed."""
        if sub["status"] != "paused":
            raise conflict("NotPausedSubscription", "This subscription is not paused.")
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
        self._clear_expired_discount(sub)
        self._touch(sub)
        self._emit("subscription.updated", "subscription.resumed", sub=sub)
        self._bill(
            sub,
            self.static_items(sub),
            "subscription_cycle",
            discount_id=sub["discount_id"],
        )
        self.emu.grants.grant_subscription(sub)

    def _enter_pause(self, sub: dict[str, Any]) -> None:
        sub.update(status="paused", paused_at=sub["current_period_end"], pause_at_period_end=False)
        self._touch(sub)
        self._emit("subscription.updated", "subscription.paused", sub=sub)
        # subscription/service.py ``cycle``: entering the pause revokes the benefits
        # (a paused subscription is not active); resuming grants them again.
        self.emu.grants.revoke_subscription(sub)

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
        # subscription/service.py ``cycle``: conversion is a renewal; trialing was already
        # active (``active_statuses``), so no subscription.active is sent.
        self._emit("subscription.updated", sub=sub)
        self._charge_cycle(sub, metered_usage=False)

    def renew(self, sub: dict[str, Any]) -> None:
        pending = sub.get("_pending_update")
        if pending:
            product = self.st.products[pending["product_id"] or sub["product_id"]]
            seats = pending["seats"] if pending["seats"] is not None else sub["seats"]
            if pricing.seat_price_of(self.emu.catalog.price_set(product, sub["currency"])) is None:
                seats = None
            self._apply(sub, product, seats)
            self.emu.grants.sync_subscription(sub)
        start = parse_iso(sub["current_period_end"])
        end = add_interval(start, sub["recurring_interval"], sub["recurring_interval_count"])
        sub.update(current_period_start=iso(start), current_period_end=iso(end))
        self._meter_period(sub)
        self._touch(sub)
        self._emit("subscription.updated", sub=sub)
        self._charge_cycle(sub, metered_usage=True)

    def _charge_cycle(self, sub: dict[str, Any], *, metered_usage: bool) -> None:
        self._clear_expired_discount(sub)
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
                # ``_create_cycle_billing_entries``: one entry per static price, at
                # that price's own amount ("fixed + per seat": two items).
                items.append(
                    self.emu.orders.item(
                        item_label(product, price, sub["seats"]),
                        amount_of(sub, price),
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
            discount_id=sub["discount_id"],
            seats=sub["seats"],
            metadata=sub["metadata"],
        )
        if sub["_fail_next_renewal"] and order["due_amount"] > 0:
            sub["_fail_next_renewal"] = False
            self._emit("subscription.cycled", sub=sub)
            self.emu.dunning.start(sub, order)
            return
        self.emu.orders.mark_paid(order, announce_update=True)
        self.emu.grants.cycle_subscription(sub)
        self._emit("subscription.cycled", sub=sub)

    def recover(self, sub: dict[str, Any]) -> None:
        """The customer fixed their card: the pending renewal is paid, access returns."""
        self.emu.dunning.recover(sub)

    def tick(self) -> bool:
        """Apply one due transition; True when something happened (the caller loops)."""
        if self.emu.dunning.tick():
            return True
        now = self.emu.clock.now()
        for sub in list(self.st.subscriptions.values()):
            status = sub["status"]
            # subscription/scheduler.py: every cycle, a trial's end included, is due at
            # ``current_period_end`` (a trial moved by ``current_billing_period_end``
            # converts at the new date).
            if status == "trialing" and parse_iso(sub["current_period_end"]) <= now:
                if sub["cancel_at_period_end"]:
                    self.end_at_period_end(sub)
                else:
                    self.convert_trial(sub, at=parse_iso(sub["current_period_end"]))
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
