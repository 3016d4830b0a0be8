"""Money for people to read: integer minor units plus a currency code -> display text.

Money stays integer minor units everywhere else; formatting is a display concern shared by
the admin and the management commands. No Django here: the emulator's pages
(``polar_emulator``) keep their own copy of ``ZERO_DECIMAL``, pinned equal by a test.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

#: Currencies without minor units (Polar amounts are then whole units). The emulator
#: keeps a copy (``polar_emulator.money``), pinned equal by a test.
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf isk jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)


def format_amount(amount: int | None, currency: str | None) -> str:
    """``1999, "usd"`` -> ``"USD 19.99"`` (minor units to a display string)."""
    if amount is None:
        return "-"
    code = (currency or "").lower()
    if code in ZERO_DECIMAL:
        return f"{code.upper()} {amount:,}"
    return f"{code.upper()} {amount / 100:,.2f}".strip()


def format_unit_amount(value: Any, currency: str | None) -> str:
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
