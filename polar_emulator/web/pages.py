"""The emulator's browser pages: Polar's hosted checkout (also inside the
``@polar-sh/checkout`` embed iframe), the customer portal, invoices and a small
dashboard. Django-free: ``Pages.handle(Request) -> Response | None``.

Paying, cancelling and changing plans call the same emulator logic as the API, so a
person clicking through these pages produces the same objects and webhooks as Polar.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..core import Emulator
from ..errors import APIError
from .invoice_pdf import render_pdf
from .rendering import (
    Markup,
    date,
    esc,
    interval,
    join,
    major,
    money,
    parse_money,
    price_label,
    render,
)

EMBED_SCRIPT = Path(__file__).with_name("static") / "embed.global.js"
POLAR_ORIGINS = '"https://polar.sh,https://sandbox.polar.sh"'
ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$")
SECRET_RE = r"[A-Za-z0-9_\-]{8,200}"
UUID_RE = r"[0-9a-fA-F\-]{36}"
CANCEL_REASONS = (
    ("", "No reason given"),
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


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # scheme://host the browser used


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def html_response(status: int, page: Markup, *, frame_ancestors: str | None = None) -> Response:
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]
    if frame_ancestors:
        headers.append(("Content-Security-Policy", f"frame-ancestors {frame_ancestors}"))
    return Response(status, page.encode("utf-8"), headers)


def redirect(location: str) -> Response:
    return Response(303, b"", [("Location", location), ("Cache-Control", "no-store")])


def layout(
    title: str,
    content: Markup,
    *,
    theme: str = "light",
    embed: bool = False,
    embed_origin: str | None = None,
    events: str = "",
    success_url: str = "",
    redirect_parent: bool = False,
) -> Markup:
    classes = " ".join(
        c for c in ("dark" if theme == "dark" else "", "embed" if embed else "") if c
    )
    return render(
        "layout.html",
        title=title,
        content=content,
        body_class=classes,
        embed_origin=embed_origin or "",
        embed_events=events,
        success_url=success_url,
        redirect="true" if redirect_parent else "false",
    )


def message_page(status: int, title: str, text: str) -> Response:
    content = Markup(
        f'<div class="card"><p class="test-mode">Polar emulator</p><h1>{esc(title)}</h1>'
        f"<p>{esc(text)}</p></div>"
    )
    return html_response(status, layout(title, content))


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, v) for k, v in params.items() if v]
    return urlunsplit(parts._replace(query=urlencode(query)))


def safe_link(url: str | None) -> str | None:
    """Only http(s) URLs become links or redirects (never javascript: and friends)."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return url
    return None


class Pages:
    """Routes and renders every page the emulator serves to a browser."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._csrf_key = secrets.token_bytes(32)
        self._flash: dict[str, tuple[str, str]] = {}
        self._session_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._routes: list[tuple[str, re.Pattern[str], Any]] = [
            ("GET", re.compile(r"^/(?:dashboard/?)?$"), self.dashboard),
            ("GET", re.compile(r"^/embed\.global\.js$"), self.embed_script),
            ("GET", re.compile(rf"^/checkout/(?P<secret>{SECRET_RE})/?$"), self.checkout),
            ("POST", re.compile(rf"^/checkout/(?P<secret>{SECRET_RE})/?$"), self.pay),
            (
                "GET",
                re.compile(rf"^/checkout/(?P<secret>{SECRET_RE})/confirmation/?$"),
                self.confirmation,
            ),
            (
                "GET",
                re.compile(rf"^/checkout-links/(?P<secret>{SECRET_RE})/?$"),
                self.checkout_link,
            ),
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
            (
                "GET",
                re.compile(rf"^/invoices/(?P<order>{UUID_RE})/(?P<number>[A-Za-z0-9\-]+)\.pdf$"),
                self.invoice,
            ),
        ]

    def handle(self, request: Request) -> Response | None:
        """The page for ``request``; None when no page matches (the API may answer)."""
        allowed = False
        for method, pattern, view in self._routes:
            match = pattern.match(request.path)
            if match:
                if method != request.method:
                    allowed = True
                    continue
                return view(request, **match.groupdict())
        if allowed:
            return message_page(
                405, "Method not allowed", "This page does not accept that request."
            )
        return None

    # -- embed script ----------------------------------------------------------------------

    def embed_script(self, request: Request) -> Response:
        """The vendored @polar-sh/checkout script, trusting this emulator's origin too."""
        origins = ["https://polar.sh", "https://sandbox.polar.sh"]
        for candidate in (self._origin(self.emu.base_url), request.origin):
            if candidate and ORIGIN_RE.match(candidate) and candidate not in origins:
                origins.append(candidate)
        script = EMBED_SCRIPT.read_text(encoding="utf-8").replace(
            POLAR_ORIGINS, f'"{",".join(origins)}"'
        )
        return Response(
            200,
            script.encode("utf-8"),
            [
                ("Content-Type", "application/javascript; charset=utf-8"),
                ("Cache-Control", "no-cache"),
                ("Access-Control-Allow-Origin", "*"),
            ],
        )

    @staticmethod
    def _origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""

    # -- checkout --------------------------------------------------------------------------

    def _load_checkout(self, secret: str) -> dict[str, Any] | None:
        """The checkout for a client secret (never by id: the secret is the capability)."""
        with self.emu.action():
            try:
                record = self.emu.checkouts.by_secret(secret)
            except APIError:
                return None
            self.emu.checkouts.expire_if_due(record)
            return self.emu.ser.checkout(record["id"])

    @staticmethod
    def _embed(request: Request) -> tuple[bool, str]:
        theme = "dark" if request.query.get("theme") == "dark" else "light"
        return request.query.get("embed") == "true", theme

    def _frame_ancestors(self, checkout: dict[str, Any]) -> str:
        origin = checkout.get("embed_origin")
        return f"'self' {origin}" if origin else "*"

    def _default_success(self, checkout: dict[str, Any]) -> bool:
        return (
            checkout["success_url"]
            == f"{self.emu.base_url}/checkout/{checkout['client_secret']}/confirmation"
        )

    def checkout(self, request: Request, secret: str) -> Response:
        checkout = self._load_checkout(secret)
        if checkout is None:
            return message_page(404, "Checkout not found", "This checkout link is not valid.")
        if checkout["status"] in ("confirmed", "succeeded"):
            return self.confirmation(request, secret)
        return self._checkout_page(request, checkout, {}, {}, 200)

    def _checkout_page(
        self,
        request: Request,
        checkout: dict[str, Any],
        errors: dict[str, str],
        values: dict[str, str],
        status: int,
    ) -> Response:
        embed, theme = self._embed(request)
        title = f"Checkout - {self.emu.store.organization.get('name', 'Polar')}"
        if checkout["status"] == "expired":
            body = self._card(
                "This checkout has expired",
                Markup(
                    "<p>Checkout sessions last one hour. Go back to the shop and start again.</p>"
                ),
                embed=embed,
                back=checkout.get("return_url"),
            )
            return html_response(
                410,
                layout(
                    title,
                    body,
                    theme=theme,
                    embed=embed,
                    embed_origin=checkout.get("embed_origin"),
                    events="loaded",
                ),
                frame_ancestors=self._frame_ancestors(checkout),
            )
        if checkout["status"] != "open":
            body = self._card(
                "This checkout is closed",
                Markup(f"<p>Status: {esc(checkout['status'])}.</p>"),
                embed=embed,
                back=checkout.get("return_url"),
            )
            return html_response(
                409,
                layout(
                    title,
                    body,
                    theme=theme,
                    embed=embed,
                    embed_origin=checkout.get("embed_origin"),
                    events="loaded",
                ),
                frame_ancestors=self._frame_ancestors(checkout),
            )
        body = self._checkout_form(request, checkout, errors, values, embed)
        return html_response(
            status,
            layout(
                title,
                body,
                theme=theme,
                embed=embed,
                embed_origin=checkout.get("embed_origin"),
                events="loaded",
            ),
            frame_ancestors=self._frame_ancestors(checkout),
        )

    def _card(self, heading: str, inner: Markup, *, embed: bool, back: str | None = None) -> Markup:
        close = (
            Markup(
                '<button type="button" class="secondary close" data-embed-close '
                'aria-label="Close checkout">&times;</button>'
            )
            if embed
            else Markup("")
        )
        back_link = safe_link(back)
        link = (
            Markup(f'<p><a href="{esc(back_link)}">Back to the shop</a></p>')
            if back_link and not embed
            else Markup("")
        )
        return Markup(
            f'<section class="card">{close}<p class="test-mode">Test mode &middot; Polar emulator</p>'
            f"<h1>{esc(heading)}</h1>{inner}{link}</section>"
        )

    def _product_block(self, checkout: dict[str, Any], errors: dict[str, str]) -> Markup:
        products = checkout["products"]

        def describe(product: dict[str, Any]) -> Markup:
            lines = [esc(price_label(p, product)) for p in product["prices"]]
            desc = (
                Markup(f'<br><span class="muted">{esc(product["description"])}</span>')
                if product.get("description")
                else Markup("")
            )
            return Markup(
                f"<strong>{esc(product['name'])}</strong> &middot; {join(lines, ' + ')}{desc}"
            )

        if len(products) == 1:
            return Markup(f'<p class="product">{describe(products[0])}</p>')
        options = []
        for product in products:
            checked = " checked" if product["id"] == checkout["product_id"] else ""
            options.append(
                Markup(
                    f'<label class="option"><input type="radio" name="product_id" value="{esc(product["id"])}"{checked}>'
                    f"<span>{describe(product)}</span></label>"
                )
            )
        error = self._field_error(errors, "product_id")
        return Markup(
            f'<fieldset class="products"><legend>Choose a plan</legend>{join(options)}{error}</fieldset>'
        )

    @staticmethod
    def _field_error(errors: dict[str, str], name: str) -> Markup:
        if name not in errors:
            return Markup("")
        return Markup(f'<p class="field-error" id="{esc(name)}-error">{esc(errors[name])}</p>')

    def _checkout_form(
        self,
        request: Request,
        checkout: dict[str, Any],
        errors: dict[str, str],
        values: dict[str, str],
        embed: bool,
    ) -> Markup:
        currency = checkout["currency"]
        price = checkout.get("product_price") or {}
        parts: list[Markup] = [self._product_block(checkout, errors)]
        if embed and not checkout.get("embed_origin"):
            parts.append(
                Markup(
                    '<p class="notice error">This checkout was created without '
                    "<code>embed_origin</code>: on Polar the embed would never finish loading "
                    "nor close. Pass embed_origin when creating the checkout.</p>"
                )
            )
        general = errors.get("__all__")
        if general:
            parts.append(Markup(f'<p class="notice error" role="alert">{esc(general)}</p>'))
        fields: list[Markup] = []
        if price.get("amount_type") == "custom":
            low = major(price.get("minimum_amount") or 0, currency)
            high = (
                major(price["maximum_amount"], currency)
                if price.get("maximum_amount") is not None
                else ""
            )
            value = values.get("amount", major(checkout["amount"], currency))
            max_attr = Markup(f' max="{esc(high)}"') if high else Markup("")
            fields.append(
                Markup(
                    f'<label for="amount">Amount ({esc(currency.upper())})</label>'
                    f'<input type="number" id="amount" name="amount" step="any" min="{esc(low)}"{max_attr} '
                    f'value="{esc(value)}" required inputmode="decimal">{self._field_error(errors, "amount")}'
                )
            )
        if price.get("amount_type") == "seat_based":
            tiers = price.get("seat_tiers") or {}
            value = values.get(
                "seats", str(checkout.get("seats") or tiers.get("minimum_seats") or 1)
            )
            max_attr = (
                Markup(f' max="{esc(tiers["maximum_seats"])}"')
                if tiers.get("maximum_seats")
                else Markup("")
            )
            fields.append(
                Markup(
                    f'<label for="seats">Seats</label><input type="number" id="seats" name="seats" step="1" '
                    f'min="{esc(tiers.get("minimum_seats") or 1)}"{max_attr} value="{esc(value)}" required>'
                    f"{self._field_error(errors, 'seats')}"
                )
            )
        email = values.get("customer_email", checkout.get("customer_email") or "")
        name = values.get("customer_name", checkout.get("customer_name") or "")
        fields.append(
            Markup(
                f'<label for="customer_email">Email</label><input type="email" id="customer_email" '
                f'name="customer_email" value="{esc(email)}" required autocomplete="email">'
                f"{self._field_error(errors, 'customer_email')}"
                f'<label for="customer_name">Cardholder name</label><input type="text" id="customer_name" '
                f'name="customer_name" value="{esc(name)}" autocomplete="name">'
                f"{self._field_error(errors, 'customer_name')}"
            )
        )
        if checkout.get("allow_discount_codes"):
            code = values.get("discount_code", "")
            fields.append(
                Markup(
                    f'<label for="discount_code">Discount code <span class="muted">(optional)</span></label>'
                    f'<input type="text" id="discount_code" name="discount_code" value="{esc(code)}">'
                    f"{self._field_error(errors, 'discount_code')}"
                )
            )
        parts.append(join(fields))
        parts.append(self._totals(checkout))
        if checkout.get("active_trial_interval"):
            label = "Start free trial"
        elif checkout["total_amount"] == 0:
            label = "Get it for free"
        else:
            label = f"Pay {money(checkout['total_amount'], currency)}"
        parts.append(
            Markup(
                f'<button type="submit" class="pay">{esc(label)}</button>'
                '<p class="muted">Emulated payment: no card is charged.</p>'
            )
        )
        action = self._checkout_url(checkout, request)
        form = Markup(f'<form method="post" action="{esc(action)}" novalidate>{join(parts)}</form>')
        org = self.emu.store.organization.get("name") or "Polar"
        return self._card(f"Checkout - {org}", form, embed=embed, back=checkout.get("return_url"))

    def _totals(self, checkout: dict[str, Any]) -> Markup:
        currency = checkout["currency"]
        rows = [("Subtotal", money(checkout["amount"], currency))]
        if checkout.get("discount_amount"):
            rows.append(("Discount", "-" + money(checkout["discount_amount"], currency)))
        if checkout.get("tax_amount"):
            rows.append(("Tax", money(checkout["tax_amount"], currency)))
        trial = checkout.get("active_trial_interval")
        if trial:
            span = interval(trial, checkout.get("active_trial_interval_count"))
            rows.append((f"Free trial ({span})", f"ends {date(checkout.get('trial_end'))}"))
            rows.append(("Due today", money(0, currency)))
            rows.append(("Then", money(checkout["total_amount"], currency)))
        else:
            rows.append(("Total due today", money(checkout["total_amount"], currency)))
        body = join(
            [Markup(f"<tr><th scope='row'>{esc(k)}</th><td>{esc(v)}</td></tr>") for k, v in rows]
        )
        return Markup(f'<table class="totals" aria-label="Order summary">{body}</table>')

    def _checkout_url(self, checkout: dict[str, Any], request: Request, suffix: str = "") -> str:
        url = f"/checkout/{checkout['client_secret']}{suffix}"
        keep = {
            k: request.query[k] for k in ("embed", "embed_origin", "theme") if request.query.get(k)
        }
        return with_query(url, **keep) if keep else url

    def pay(self, request: Request, secret: str) -> Response:
        """The Pay button: the same confirm logic as POST /v1/checkouts/client/{secret}/confirm."""
        checkout = self._load_checkout(secret)
        if checkout is None:
            return message_page(404, "Checkout not found", "This checkout link is not valid.")
        if checkout["status"] != "open":
            return self._checkout_page(request, checkout, {}, {}, 409)
        form = request.form
        body: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for key in ("customer_email", "customer_name", "product_id", "discount_code"):
            value = form.get(key, "").strip()
            if value:
                body[key] = value
        price = checkout.get("product_price") or {}
        if form.get("amount", "").strip() and (
            price.get("amount_type") == "custom" or "product_id" in body
        ):
            try:
                body["amount"] = parse_money(form["amount"], checkout["currency"])
            except ValueError as exc:
                errors["amount"] = str(exc)
        if form.get("seats", "").strip():
            if form["seats"].strip().isdigit():
                body["seats"] = int(form["seats"])
            else:
                errors["seats"] = "Enter a whole number of seats."
        if "customer_email" not in body and not checkout.get("customer_id"):
            errors["customer_email"] = "Enter your email address."
        if errors:
            return self._checkout_page(request, checkout, errors, form, 422)
        with self.emu.action():
            try:
                record = self.emu.checkouts.by_secret(secret)
                self.emu.checkouts.confirm(record, body)
                session = self.emu.customers.create_session({"customer_id": record["customer_id"]})
            except APIError as err:
                return self._confirm_failed(request, secret, err, form)
        with self._lock:
            self._session_tokens[record["id"]] = session["token"]
        embed, _ = self._embed(request)
        if embed or self._default_success(record):
            return redirect(self._checkout_url(record, request, "/confirmation"))
        return redirect(self._success_url(record))

    def _confirm_failed(
        self, request: Request, secret: str, err: APIError, form: dict[str, str]
    ) -> Response:
        checkout = self._load_checkout(secret)
        if checkout is None:
            return message_page(404, "Checkout not found", "This checkout link is not valid.")
        errors: dict[str, str] = {}
        detail = err.body.get("detail")
        if isinstance(detail, list):
            for item in detail:
                loc = item.get("loc") or []
                name = str(loc[-1]) if loc else "__all__"
                if name not in (
                    "customer_email",
                    "customer_name",
                    "amount",
                    "seats",
                    "discount_code",
                    "product_id",
                ):
                    name = "__all__"
                errors[name] = str(item.get("msg", "Invalid value."))
        else:
            errors["__all__"] = str(detail or "The payment could not be completed.")
        status = err.status if 400 <= err.status < 500 else 422
        return self._checkout_page(request, checkout, errors, form, status)

    def _success_url(self, checkout: dict[str, Any]) -> str:
        token = self._session_tokens.get(checkout["id"], "")
        return with_query(checkout["success_url"], customer_session_token=token)

    def confirmation(self, request: Request, secret: str) -> Response:
        checkout = self._load_checkout(secret)
        if checkout is None:
            return message_page(404, "Checkout not found", "This checkout link is not valid.")
        if checkout["status"] == "open" or checkout["status"] == "expired":
            return self._checkout_page(
                request, checkout, {}, {}, 200 if checkout["status"] == "open" else 410
            )
        embed, theme = self._embed(request)
        product = checkout.get("product") or {}
        lines = [
            Markup(
                f"<p class='ok'>Payment successful: {esc(product.get('name', ''))} for "
                f"{esc(checkout.get('customer_email') or '')}.</p>"
            )
        ]
        if checkout.get("subscription_id") and checkout.get("active_trial_interval"):
            lines.append(
                Markup(f"<p>Your trial ends on {esc(date(checkout.get('trial_end')))}.</p>")
            )
        custom_success = not self._default_success(checkout)
        success_url = self._success_url(checkout) if custom_success else ""
        if custom_success and not embed:
            lines.append(Markup(f'<p><a class="button" href="{esc(success_url)}">Continue</a></p>'))
        if embed:
            lines.append(Markup('<p><button type="button" data-embed-close>Close</button></p>'))
        body = self._card(
            "Thank you!",
            join(lines),
            embed=embed,
            back=None if custom_success else checkout.get("return_url"),
        )
        page = layout(
            "Payment successful",
            body,
            theme=theme,
            embed=embed,
            embed_origin=checkout.get("embed_origin") if embed else None,
            events="loaded confirmed success",
            success_url=success_url or checkout["success_url"],
            redirect_parent=custom_success,
        )
        return html_response(200, page, frame_ancestors=self._frame_ancestors(checkout))

    def checkout_link(self, request: Request, secret: str) -> Response:
        """A checkout link opens a fresh checkout session (embed_origin from the embed script)."""
        origin = request.query.get("embed_origin", "")
        try:
            checkout = self.emu.open_checkout_link(
                secret, embed_origin=origin if ORIGIN_RE.match(origin) else None
            )
        except APIError:
            return message_page(404, "Checkout link not found", "This checkout link is not valid.")
        return redirect(self._checkout_url(checkout, request))

    # -- customer portal -------------------------------------------------------------------

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
                self.emu.cancel_subscription(sub, reason=reason)
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

    def invoice(self, request: Request, order: str, number: str) -> Response:
        with self.emu.action():
            record = self.emu.store.orders.get(order)
            if (
                record is None
                or not record["is_invoice_generated"]
                or record["invoice_number"] != number
            ):
                return message_page(404, "Invoice not found", "No invoice at this address.")
            data = self.emu.ser.order(order)
        org = self.emu.store.organization.get("name") or "Polar"
        currency = data["currency"]
        lines = [
            f"Seller: {org} (merchant of record: Polar, emulated)",
            f"Date: {date(data['created_at'])}",
            f"Billed to: {data.get('billing_name') or ''} <{data['customer'].get('email') or ''}>",
            "",
        ]
        lines += [
            f"{item['label']}: {money(item['amount'], currency)}" for item in data.get("items", [])
        ]
        lines += ["", f"Subtotal: {money(data['subtotal_amount'], currency)}"]
        if data.get("discount_amount"):
            lines.append(f"Discount: -{money(data['discount_amount'], currency)}")
        lines += [
            f"Tax: {money(data['tax_amount'], currency)}",
            f"Total: {money(data['total_amount'], currency)}",
            f"Status: {data['status']}",
        ]
        pdf = render_pdf(f"Invoice {number}", lines)
        return Response(
            200,
            pdf,
            [
                ("Content-Type", "application/pdf"),
                ("Content-Disposition", f'inline; filename="{number}.pdf"'),
            ],
        )

    # -- dashboard -------------------------------------------------------------------------

    def dashboard(self, request: Request) -> Response:
        """What the emulated organization holds, and where its webhooks went."""
        emu = self.emu
        with emu.action():
            products = [emu.ser.product(p["id"]) for p in emu.store.products.values()]
            subs = [emu.ser.subscription(s["id"]) for s in emu.store.subscriptions.values()]
            customers = len(emu.customers.live())
            orders = len(emu.store.orders)
            endpoints = list(emu.webhooks.endpoints)
            log = list(emu.webhooks.delivery_log[-20:])
        org = emu.store.organization.get("name") or "Polar"
        rows = join(
            [
                Markup(
                    f"<tr><td>{esc(p['name'])}</td><td><code>{esc(p['id'])}</code></td>"
                    f"<td>{esc((p.get('metadata') or {}).get('slug', ''))}</td>"
                    f"<td>{esc('; '.join(price_label(x, p) for x in p['prices']))}</td>"
                    f"<td>{'archived' if p['is_archived'] else 'active'}</td></tr>"
                )
                for p in products
            ]
        )
        sub_rows = join(
            [
                Markup(
                    f"<tr><td>{esc(s['customer'].get('email') or '')}</td><td>{esc(s['product']['name'])}</td>"
                    f"<td>{esc(s['status'])}{' (cancels)' if s.get('cancel_at_period_end') else ''}</td>"
                    f"<td>{esc(date(s['current_period_end']))}</td></tr>"
                )
                for s in subs
            ]
        )
        hooks = join(
            [
                Markup(
                    f"<li>{esc(e.target if isinstance(e.target, str) else 'in-process receiver')} &middot; "
                    f"{'enabled' if e.enabled else 'DISABLED after repeated failures'} &middot; "
                    f"{len(e.queue)} pending</li>"
                )
                for e in endpoints
            ]
        ) or Markup("<li class='muted'>none</li>")
        log_rows = join(
            [
                Markup(
                    f"<tr><td>{esc(d['type'])}</td><td>{esc(d['attempt'])}</td>"
                    f"<td>{esc(d['status'] if d['status'] is not None else d.get('error') or '')}</td>"
                    f"<td>{'ok' if d['ok'] else 'failed'}</td></tr>"
                )
                for d in reversed(log)
            ]
        )
        content = Markup(
            f'<section class="card"><p class="test-mode">Polar emulator &middot; API {esc(emu.api_version)}</p>'
            f"<h1>{esc(org)}</h1><p>API base URL: <code>{esc(emu.base_url)}</code> &middot; "
            f"emulator clock: {esc(emu.clock.now().strftime('%Y-%m-%d %H:%M UTC'))} &middot; "
            f"{customers} customers &middot; {orders} orders</p></section>"
            f'<section class="card"><h2>Products</h2><table><tr><th>Name</th><th>Id</th><th>Slug</th>'
            f"<th>Prices</th><th>State</th></tr>{rows}</table></section>"
            f'<section class="card"><h2>Subscriptions</h2><table><tr><th>Customer</th><th>Plan</th>'
            f"<th>Status</th><th>Period end</th></tr>{sub_rows}</table></section>"
            f'<section class="card"><h2>Webhook endpoints</h2><ul>{hooks}</ul>'
            f"<table><tr><th>Event</th><th>Attempt</th><th>Answer</th><th></th></tr>{log_rows}</table></section>"
        )
        return html_response(200, layout(f"{org} - Polar emulator", content))
