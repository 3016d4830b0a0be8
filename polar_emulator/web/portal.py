"""The customer portal: subscriptions (cancel, uncancel, change plan), orders with their
invoices, and benefits, behind a customer session token and a per-token CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from typing import Any
from urllib.parse import urlsplit

from ..core import Emulator
from ..errors import APIError
from .base import (
    SECRET_RE,
    UUID_RE,
    Request,
    Response,
    Route,
    html_response,
    layout,
    message_page,
    redirect,
    safe_link,
)
from .rendering import Markup, date, esc, interval, join, money, price_label

CANCEL_REASONS = (
    ("too_expensive", "Too expensive"),
    ("missing_features", "Missing features"),
    ("switched_service", "Switched to another service"),
    ("unused", "I don't use it enough"),
    ("customer_service", "Customer service"),
    ("low_quality", "Quality was lower than expected"),
    ("too_complex", "Too complex"),
    ("other", "Other"),
)
LIVE = ("active", "trialing", "past_due")


class PortalPages:
    """What a customer sees and changes with a portal session token."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._csrf_key = secrets.token_bytes(32)
        self._flash: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            ("GET", re.compile(rf"^/portal/(?P<token>{SECRET_RE})/?$"), self.portal),
            (
                "POST",
                re.compile(
                    rf"^/portal/(?P<token>{SECRET_RE})/subscriptions/(?P<sub>{UUID_RE})/"
                    r"(?P<action>cancel|uncancel|change)$"
                ),
                self.portal_subscription,
            ),
            (
                "POST",
                re.compile(
                    rf"^/portal/(?P<token>{SECRET_RE})/orders/(?P<order>{UUID_RE})/invoice$"
                ),
                self.portal_invoice,
            ),
        ]

    def _csrf(self, token: str) -> str:
        return hmac.new(self._csrf_key, token.encode(), hashlib.sha256).hexdigest()

    def _session(self, token: str) -> dict[str, Any] | None:
        return self.emu.customer_session(token)

    def portal(self, request: Request, token: str) -> Response:
        session = self._session(token)
        if session is None:
            return message_page(
                404,
                "Portal link expired",
                "This customer portal link is unknown or has expired (links last one hour). "
                "Open the billing page of the app again.",
            )
        with self._lock:
            flash = self._flash.pop(token, None)
        with self.emu.action():
            content = self._portal_content(session, token, flash)
        return html_response(200, layout("Customer portal", content))

    def _portal_content(
        self, session: dict[str, Any], token: str, flash: tuple[str, str] | None
    ) -> Markup:
        emu = self.emu
        customer = session["customer"]
        org = emu.store.organization.get("name") or "Polar"
        parts: list[Markup] = [
            Markup(
                f'<section class="card"><p class="test-mode">Test mode &middot; Polar emulator</p>'
                f"<h1>{esc(org)} billing</h1><p>{esc(customer.get('name') or '')} "
                f"<span class='muted'>{esc(customer.get('email') or '')}</span></p>"
            )
        ]
        back = safe_link(session.get("return_url"))
        if back:
            parts.append(Markup(f'<p><a href="{esc(back)}">Back to {esc(back)}</a></p>'))
        parts.append(Markup("</section>"))
        if flash:
            kind, text = flash
            cls = "notice error" if kind == "error" else "notice"
            parts.append(Markup(f'<p class="{cls}" role="status">{esc(text)}</p>'))
        csrf = self._csrf(token)
        subs = sorted(
            (s for s in emu.store.subscriptions.values() if s["customer_id"] == customer["id"]),
            key=lambda s: s["created_at"],
            reverse=True,
        )
        parts.append(
            self._subscriptions(token, csrf, [emu.ser.subscription(s["id"]) for s in subs])
        )
        orders = sorted(
            (o for o in emu.store.orders.values() if o["customer_id"] == customer["id"]),
            key=lambda o: o["created_at"],
            reverse=True,
        )
        parts.append(self._orders(token, csrf, [emu.ser.order(o["id"]) for o in orders]))
        grants = [
            g
            for g in emu.store.grants.values()
            if g["customer_id"] == customer["id"] and g["is_granted"]
        ]
        parts.append(self._benefits(grants))
        return join(parts)

    def _plans(self, current: str) -> list[dict[str, Any]]:
        """Plans a subscription can move to: every other active recurring product."""
        with self.emu.action():  # the lock: another thread may be adding products
            return [
                self.emu.ser.product(p["id"])
                for p in list(self.emu.store.products.values())
                if p["is_recurring"] and not p["is_archived"] and p["id"] != current
            ]

    def _subscriptions(self, token: str, csrf: str, subs: list[dict[str, Any]]) -> Markup:
        if not subs:
            return Markup(
                '<section class="card"><h2>Subscriptions</h2><p class="muted">No subscriptions.</p></section>'
            )
        items = []
        for sub in subs:
            product = sub["product"]
            amount = money(sub["amount"], sub["currency"])
            every = interval(sub["recurring_interval"], sub.get("recurring_interval_count"))
            seats = f" &middot; {esc(sub['seats'])} seats" if sub.get("seats") else ""
            if sub["status"] == "canceled" or sub.get("ended_at"):
                when = f"Ended on {date(sub.get('ended_at') or sub.get('ends_at'))}"
            elif sub.get("cancel_at_period_end"):
                when = f"Ends on {date(sub.get('ends_at') or sub['current_period_end'])}"
            elif sub["status"] == "trialing":
                when = f"Trial ends on {date(sub.get('trial_end'))}, then renews"
            else:
                when = f"Renews on {date(sub['current_period_end'])}"
            base = f"/portal/{token}/subscriptions/{sub['id']}"
            hidden = Markup(f'<input type="hidden" name="csrf" value="{esc(csrf)}">')
            actions: list[Markup] = []
            if sub["status"] in LIVE and sub.get("cancel_at_period_end"):
                actions.append(
                    Markup(
                        f'<form method="post" action="{esc(base)}/uncancel" class="inline">{hidden}'
                        f'<button type="submit">Keep my subscription</button></form>'
                    )
                )
            elif sub["status"] in LIVE:
                reasons = join(
                    [
                        Markup(f'<option value="{esc(v)}">{esc(label)}</option>')
                        for v, label in CANCEL_REASONS
                    ]
                )
                actions.append(
                    Markup(
                        f'<form method="post" action="{esc(base)}/cancel" class="row">{hidden}'
                        f'<div><label for="reason-{esc(sub["id"])}">Reason</label>'
                        f'<select id="reason-{esc(sub["id"])}" name="reason">{reasons}</select></div>'
                        f'<div><label for="comment-{esc(sub["id"])}">Anything we could do better?</label>'
                        f'<textarea id="comment-{esc(sub["id"])}" name="comment" rows="2"></textarea></div>'
                        f'<button type="submit" class="secondary">Cancel at period end</button></form>'
                    )
                )
                plans = self._plans(product["id"])
                if plans and sub["status"] in ("active", "trialing"):
                    options = join(
                        [
                            Markup(
                                f'<option value="{esc(p["id"])}">{esc(p["name"])} '
                                f"({esc(', '.join(price_label(x, p) for x in p['prices']))})</option>"
                            )
                            for p in plans
                        ]
                    )
                    actions.append(
                        Markup(
                            f'<form method="post" action="{esc(base)}/change" class="row">{hidden}'
                            f'<div><label for="plan-{esc(sub["id"])}">Change plan</label>'
                            f'<select id="plan-{esc(sub["id"])}" name="product_id">{options}</select></div>'
                            f'<button type="submit">Change plan</button></form>'
                        )
                    )
            items.append(
                Markup(
                    f'<article class="subscription" data-subscription-id="{esc(sub["id"])}">'
                    f"<h3>{esc(product['name'])}</h3><p><strong>{esc(amount)}</strong> / {esc(every)}{seats} &middot; "
                    f'status <strong class="status">{esc(sub["status"])}</strong> &middot; {esc(when)}</p>'
                    f"{join(actions)}</article>"
                )
            )
        return Markup(
            f'<section class="card"><h2>Subscriptions</h2>{join(items, "<hr>")}</section>'
        )

    def _orders(self, token: str, csrf: str, orders: list[dict[str, Any]]) -> Markup:
        if not orders:
            return Markup(
                '<section class="card"><h2>Orders</h2><p class="muted">No orders yet.</p></section>'
            )
        rows = []
        for order in orders:
            invoice = Markup("")
            if order["paid"]:
                invoice = Markup(
                    f'<form method="post" action="/portal/{esc(token)}/orders/{esc(order["id"])}/invoice" class="inline">'
                    f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
                    f'<button type="submit" class="secondary">Invoice {esc(order["invoice_number"])}</button></form>'
                )
            refunded = (
                f" (refunded {money(order['refunded_amount'], order['currency'])})"
                if order.get("refunded_amount")
                else ""
            )
            rows.append(
                Markup(
                    f"<tr><td>{esc(date(order['created_at']))}</td><td>{esc(order.get('description') or '')}</td>"
                    f"<td>{esc(money(order['total_amount'], order['currency']))}{esc(refunded)}</td>"
                    f"<td>{esc(order['status'])}</td><td>{invoice}</td></tr>"
                )
            )
        head = "<tr><th>Date</th><th>Description</th><th>Amount</th><th>Status</th><th>Invoice</th></tr>"
        return Markup(
            f'<section class="card"><h2>Orders</h2><table>{head}{join(rows)}</table></section>'
        )

    def _benefits(self, grants: list[dict[str, Any]]) -> Markup:
        if not grants:
            return Markup(
                '<section class="card"><h2>Benefits</h2><p class="muted">No benefits.</p></section>'
            )
        items = []
        for grant in grants:
            benefit = self.emu.store.benefits.get(grant["benefit_id"]) or {}
            extra = Markup("")
            key_id = (grant.get("properties") or {}).get("license_key_id")
            key = self.emu.store.license_keys.get(key_id or "")
            if key:
                extra = Markup(f' &middot; license key <code class="key">{esc(key["key"])}</code>')
            items.append(
                Markup(
                    f"<li>{esc(benefit.get('description', ''))} "
                    f"<span class='muted'>({esc(benefit.get('type', ''))})</span>{extra}</li>"
                )
            )
        return Markup(f'<section class="card"><h2>Benefits</h2><ul>{join(items)}</ul></section>')

    def _portal_guard(
        self, request: Request, token: str
    ) -> tuple[dict[str, Any] | None, Response | None]:
        session = self._session(token)
        if session is None:
            return None, message_page(
                404, "Portal link expired", "This customer portal link is unknown or has expired."
            )
        if not hmac.compare_digest(request.form.get("csrf", ""), self._csrf(token)):
            return None, message_page(403, "Form expired", "Reload the portal page and try again.")
        return session, None

    def _say(self, token: str, kind: str, text: str) -> None:
        with self._lock:
            self._flash[token] = (kind, text)

    def portal_subscription(self, request: Request, token: str, sub: str, action: str) -> Response:
        session, failure = self._portal_guard(request, token)
        if failure:
            return failure
        assert session is not None
        record = self.emu.store.subscriptions.get(sub)
        if record is None or record["customer_id"] != session["customer_id"]:
            return message_page(404, "Subscription not found", "This subscription is not yours.")
        try:
            if action == "cancel":
                reason = request.form.get("reason") or None
                if reason not in {v for v, _ in CANCEL_REASONS if v} | {None}:
                    reason = "other"
                # customer_portal/schemas/subscription.py CustomerSubscriptionCancel: the
                # customer's own reason and comment, stored on the subscription.
                comment = (request.form.get("comment") or "").strip() or None
                self.emu.cancel_subscription(sub, reason=reason, comment=comment)
                self._say(
                    token, "ok", "Your subscription will end at the end of the billing period."
                )
            elif action == "uncancel":
                self.emu.uncancel_subscription(sub)
                self._say(token, "ok", "Your subscription will renew as usual.")
            else:
                product_id = request.form.get("product_id", "")
                if product_id not in {p["id"] for p in self._plans(record["product_id"])}:
                    self._say(token, "error", "Choose one of the plans offered.")
                else:
                    self.emu.change_subscription_product(sub, product_id)
                    self._say(token, "ok", "Your plan has been changed.")
        except APIError as err:
            detail = err.body.get("detail")
            text = detail if isinstance(detail, str) else "That change is not possible."
            self._say(token, "error", text)
        return redirect(f"/portal/{token}")

    def portal_invoice(self, request: Request, token: str, order: str) -> Response:
        session, failure = self._portal_guard(request, token)
        if failure:
            return failure
        assert session is not None
        record = self.emu.store.orders.get(order)
        if record is None or record["customer_id"] != session["customer_id"]:
            return message_page(404, "Order not found", "This order is not yours.")
        try:
            with self.emu.action():
                self.emu.orders.generate_invoice(order)
                url = self.emu.orders.invoice(order)["url"]
        except APIError as err:
            detail = err.body.get("detail")
            self._say(
                token, "error", detail if isinstance(detail, str) else "No invoice for this order."
            )
            return redirect(f"/portal/{token}")
        return redirect(urlsplit(url).path)
