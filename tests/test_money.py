"""The zero-decimal currencies: the app and the Django-free emulator keep equal tables."""

from __future__ import annotations

import subprocess
import sys

from django_polar import money
from polar_emulator.web import rendering


def test_the_emulator_and_the_app_format_amounts_with_the_same_exponents():
    assert rendering.ZERO_DECIMAL == money.ZERO_DECIMAL  # polar_emulator keeps its own copy
    for code in ("bif", "xpf", "jpy"):  # bif and xpf were missing from the app's list
        assert money.format_amount(500, code) == f"{code.upper()} 500"
        assert rendering.major(500, code) == "500"
    assert money.format_amount(1999, "usd") == "USD 19.99"
    assert money.format_unit_amount("5", "bif") == "BIF 5.00"


def test_money_imports_without_django():
    code = (
        "import sys; import django_polar.money, polar_emulator.web.rendering; "
        "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
