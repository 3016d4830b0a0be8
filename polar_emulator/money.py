"""Currencies without minor units, as Polar (and Stripe behind it) counts them.

The emulator keeps its own copy so it imports nothing from Django or django_polar;
``tests/test_money.py`` pins it equal to ``django_polar.money.ZERO_DECIMAL``.
"""

from __future__ import annotations

ZERO_DECIMAL = frozenset(
    "bif clp djf gnf isk jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
