"""HTML for the emulator's pages without Django: escaped-by-default string.Template
rendering plus the display formats (money, dates, intervals) Polar's pages use.

Every value put into a template is escaped unless it is a ``Markup`` (HTML this
module or ``pages`` built from escaped parts), so a product name or email address
can never inject markup.
"""

from __future__ import annotations

import html
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from ..money import ZERO_DECIMAL

TEMPLATES = Path(__file__).with_name("templates")
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "brl": "R$"}


class Markup(str):
    """A string already safe to put into HTML as is."""


def esc(value: Any) -> Markup:
    """Escape ``value`` for HTML text and attribute values (Markup passes through)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(parts: list[Markup] | tuple[Markup, ...], sep: str = "") -> Markup:
    return Markup(sep.join(esc(p) for p in parts))


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def render(name: str, **context: Any) -> Markup:
    """Fill ``templates/<name>`` with escaped values (a missing key is a bug: KeyError)."""
    return Markup(_template(name).substitute({k: esc(v) for k, v in context.items()}))


# -- formats ------------------------------------------------------------------------------


def exponent(currency: str) -> int:
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def money(amount: int | float | Decimal | str | None, currency: str | None) -> str:
    """Minor units -> "$12.00", "€1,234.50", "12.00 SEK", "¥500"."""
    if amount is None or currency is None:
        return ""
    places = exponent(currency)
    value = Decimal(str(amount)) / (Decimal(10) ** places)
    text = (
        f"{value:,.{places}f}"
        if value == value.quantize(Decimal(1).scaleb(-places))
        else f"{value:,f}"
    )
    symbol = SYMBOLS.get(currency.lower())
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def parse_money(text: str, currency: str) -> int:
    """ "12.50" (major units, as a person types it) -> 1250 minor units; ValueError if not."""
    cleaned = text.strip().replace(",", "").lstrip("$€£¥")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter an amount like 12.50.") from None
    if not value.is_finite() or value < 0:
        raise ValueError("Enter an amount like 12.50.")
    minor = value * (Decimal(10) ** exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError("Too many decimal places.")
    return int(minor)


def major(amount: int | None, currency: str) -> str:
    """Minor units -> "12.50" for an input field's value."""
    if amount is None:
        return ""
    places = exponent(currency)
    return f"{Decimal(amount) / (Decimal(10) ** places):.{places}f}"


def interval(name: str | None, count: int | None = 1) -> str:
    """("month", 1) -> "month"; ("month", 3) -> "3 months"."""
    if not name:
        return ""
    count = count or 1
    return name if count == 1 else f"{count} {name}s"


def date(value: str | None) -> str:
    """Polar's ISO timestamp -> "21 Nov 2026"."""
    if not value:
        return ""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return f"{dt.day} {dt:%b %Y}"


def price_label(price: dict[str, Any], product: dict[str, Any]) -> str:
    """One price as a buyer reads it: "$12.00 / month", "Pay what you want (min $1.00)"."""
    currency = price.get("price_currency") or "usd"
    every = interval(product.get("recurring_interval"), product.get("recurring_interval_count"))
    suffix = f" / {every}" if every else ""
    kind = price.get("amount_type")
    if kind == "fixed":
        amount = price.get("price_amount") or 0
        return ("Free" if amount == 0 else money(amount, currency)) + suffix
    if kind == "free":
        return "Free"
    if kind == "custom":
        bounds = [f"min {money(price.get('minimum_amount') or 0, currency)}"]
        if price.get("maximum_amount") is not None:
            bounds.append(f"max {money(price['maximum_amount'], currency)}")
        return f"Pay what you want ({', '.join(bounds)}){suffix}"
    if kind == "seat_based":
        tiers = (price.get("seat_tiers") or {}).get("tiers") or []
        if tiers:
            cheapest = min(t.get("price_per_seat", 0) for t in tiers)
            first = tiers[0].get("price_per_seat", 0)
            label = f"{money(first, currency)} per seat"
            if cheapest != first:
                label += f" (down to {money(cheapest, currency)} in volume)"
            return label + suffix
        return "Per seat" + suffix
    if kind in ("metered_unit", "metered_tiers"):
        meter = (price.get("meter") or {}).get("name") or "usage"
        unit = price.get("unit_amount")
        return (
            f"{money(unit, currency)} per unit of {meter}"
            if unit is not None
            else f"Metered ({meter})"
        )
    return str(kind or "")
