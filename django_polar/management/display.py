"""Price phrases and plain-text tables for the management commands (money text: ``money``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..money import format_amount, format_unit_amount


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
        text = f"{format_unit_amount(price.get('unit_amount'), currency)}/{meter}"
    else:
        text = str(kind or "?")
    if price.get("is_archived"):
        text += " [archived]"
    return text


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
