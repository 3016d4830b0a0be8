"""Polar's hosted checkout page (also inside the ``@polar-sh/checkout`` embed iframe), its
confirmation page and checkout links. Paying calls the same confirm logic as the API."""

from __future__ import annotations

import re
import threading
from typing import Any

from ..core import Emulator
from ..errors import APIError
from .base import (
    ORIGIN_RE,
    SECRET_RE,
    Request,
    Response,
    Route,
    html_response,
    layout,
    message_page,
    redirect,
    safe_link,
    with_query,
)
from .rendering import Markup, date, esc, interval, join, major, money, parse_money, price_label


class CheckoutPages:
    """The checkout a client secret opens, paying it, and its confirmation."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._session_tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
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
        ]

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
    def _custom_fields(checkout: dict[str, Any], values: dict[str, str]) -> list[Markup]:
        """The product's custom fields, prefilled with the checkout's custom_field_data
        (Polar's page shows them above the payment form)."""
        out: list[Markup] = []
        data = checkout.get("custom_field_data") or {}
        for attached in checkout.get("attached_custom_fields") or []:
            field = attached["custom_field"]
            slug, kind = field["slug"], field["type"]
            name = f"custom_field_data.{slug}"
            label = field["properties"].get("form_label") or field["name"]
            required = " required" if attached["required"] else ""
            current = values.get(name, "" if data.get(slug) is None else str(data[slug]))
            control: Markup
            if kind == "checkbox":
                checked = " checked" if data.get(slug) is True or values.get(name) else ""
                control = Markup(
                    f'<label class="option"><input type="checkbox" id="{esc(name)}" '
                    f'name="{esc(name)}"{checked}{required}> {esc(label)}</label>'
                )
                out.append(control)
                continue
            if kind == "select":
                options = [Markup('<option value=""></option>')] + [
                    Markup(
                        f'<option value="{esc(o["value"])}"'
                        f"{' selected' if o['value'] == current else ''}>{esc(o['label'])}</option>"
                    )
                    for o in field["properties"]["options"]
                ]
                control = Markup(
                    f'<select id="{esc(name)}" name="{esc(name)}"{required}>{join(options)}</select>'
                )
            else:
                kinds = {"number": "number", "date": "date"}
                control = Markup(
                    f'<input type="{kinds.get(kind, "text")}" id="{esc(name)}" name="{esc(name)}" '
                    f'value="{esc(current[:10] if kind == "date" else current)}"{required}>'
                )
            out.append(Markup(f'<label for="{esc(name)}">{esc(label)}</label>{control}'))
        return out

    @staticmethod
    def _form_custom_field_data(checkout: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
        """The custom field values the form posts, typed the way Polar's page sends them."""
        data: dict[str, Any] = {}
        for attached in checkout.get("attached_custom_fields") or []:
            field = attached["custom_field"]
            name = f"custom_field_data.{field['slug']}"
            raw = form.get(name, "").strip()
            if field["type"] == "checkbox":
                data[field["slug"]] = bool(raw)
            elif raw:
                data[field["slug"]] = (
                    int(raw) if field["type"] == "number" and raw.lstrip("-").isdigit() else raw
                )
        return data

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
        # The seat count belongs to the set's seat price, which for "fixed + per seat" is
        # not ``product_price`` (product/price_set.py ``get_seat_price``).
        seat = next(
            (
                p
                for p in (checkout.get("prices") or {}).get(checkout.get("product_id"), [])
                if p.get("amount_type") == "seat_based"
            ),
            None,
        )
        if seat is not None:
            tiers = seat.get("seat_tiers") or {}
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
        if checkout.get("is_business_customer"):
            billing_name = values.get(
                "customer_billing_name", checkout.get("customer_billing_name") or ""
            )
            fields.append(
                Markup(
                    '<label for="customer_billing_name">Business name</label><input type="text" '
                    f'id="customer_billing_name" name="customer_billing_name" '
                    f'value="{esc(billing_name)}" required>'
                    f"{self._field_error(errors, 'customer_billing_name')}"
                )
            )
        fields.extend(self._custom_fields(checkout, values))
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
        for key in (
            "customer_email",
            "customer_name",
            "customer_billing_name",
            "product_id",
            "discount_code",
        ):
            value = form.get(key, "").strip()
            if value:
                body[key] = value
        body["custom_field_data"] = self._form_custom_field_data(checkout, form)
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
                session = self.emu.customers.new_session(
                    self.emu.store.customers[record["customer_id"]], None
                )
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
                    "customer_billing_name",
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
