"""Human-readable prices and plain-text tables for commands (and the admin's price column).

Money stays integer minor units everywhere else; formatting is only a display concern.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

#: ISO 4217 currencies without minor units (Polar amounts are then whole units).
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk", "ugx", "xaf", "xof", "pyg", "rwf"})


def format_amount(amount: int | None, currency: str | None) -> str:
    """``1999, "usd"`` -> ``"USD 19.99"`` (minor units to a display string)."""
    if amount is None:
        return "-"
    code = (currency or "").lower()
    if code in ZERO_DECIMAL:
        return f"{code.upper()} {amount:,}"
    return f"{code.upper()} {amount / 100:,.2f}".strip()


def describe_price(price: dict[str, Any], interval: str | None = None) -> str:
    """One Polar price (any ``amount_type``) as a short phrase such as ``USD 10.00/month``."""
    currency = price.get("price_currency") or price.get("currency")
    per = f"/{interval}" if interval else ""
    kind = price.get("amount_type")
    if kind == "fixed":
        text = format_amount(price.get("price_amount"), currency) + per
    elif kind == "custom":
        minimum = price.get("minimum_amount")
        text = "pay what you want"
        if minimum:
            text += f" (min {format_amount(minimum, currency)})"
    elif kind == "free":
        text = "free"
    elif kind == "seat_based":
        tiers = (price.get("seat_tiers") or {}).get("tiers") or []
        cheapest = min((tier.get("price_per_seat", 0) for tier in tiers), default=None)
        text = f"from {format_amount(cheapest, currency)}/seat{per}" if tiers else f"per seat{per}"
    elif kind == "metered_unit":
        meter = (price.get("meter") or {}).get("name") or "unit"
        text = f"{_format_unit_amount(price.get('unit_amount'), currency)}/{meter}"
    else:
        text = str(kind or "?")
    if price.get("is_archived"):
        text += " [archived]"
    return text


def _format_unit_amount(value: Any, currency: str | None) -> str:
    """Metered unit prices are decimal strings of minor units ("0.05" = 0.0005 USD)."""
    try:
        minor = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "-"
    code = (currency or "").upper()
    major = minor if code.lower() in ZERO_DECIMAL else minor / 100
    text = format(major.normalize(), "f")
    if "." not in text or len(text.split(".")[1]) < 2:
        text = f"{major:.2f}"
    return f"{code} {text}".strip()


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Left-aligned columns separated by two spaces, widths from the content."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
    return lines
