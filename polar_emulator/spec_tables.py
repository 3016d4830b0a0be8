"""Value lists Polar validates against, read from the 2026-10 OpenAPI document.

``spec_tables.json`` (next to this file) holds, derived from the spec and never written
by hand:

- ``sorting``: ``"GET /v1/path/"`` -> the sorting criteria that list accepts (Polar's
  ``kit/sorting.py`` ``SortingGetter`` types the query as a list of that enum, so anything
  else is FastAPI's 422);
- ``countries``: ``CountryAlpha2Input``, the billing countries Polar accepts
  (``kit/address.py`` ``SUPPORTED_COUNTRIES``: every ISO country but the embargoed ones);
- ``currencies``: ``PresentmentCurrency`` (``kit/currency.py``);
- ``webhook_event_types``: ``WebhookEventType``, what an endpoint may subscribe to;
- ``minimum_amounts`` / ``maximum_amounts``: per currency, in minor units, from the
  ``price_amount`` and ``maximum_amount`` descriptions (``kit/currency.py``
  ``MINIMUM_PRICE_PER_CURRENCY`` / ``MAXIMUM_PRICE_PER_CURRENCY``, which the spec prints).

Regenerate after a spec update with ``python -m polar_emulator.spec_tables openapi.json``.
"""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("spec_tables.json")
DEFAULT_KEY = "*"  # "Other currencies: N minor units"

# Currencies without minor units (Polar's kit/currency.py _ZERO_DECIMAL_CURRENCIES, the
# Stripe list): the spec prints their amounts as whole units, like every other currency.
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf vnd vuv xaf xof xpf".split())


def _amounts(description: str) -> dict[str, int]:
    """``- USD: 0.5`` lines -> {"usd": 50}; ``Other currencies: 50 minor units`` -> "*"."""
    out: dict[str, int] = {}
    for code, value in re.findall(r"^- ([A-Z]{3}): ([\d,.]+)$", description, re.M):
        factor = 1 if code.lower() in ZERO_DECIMAL else 100
        out[code.lower()] = int(Decimal(value.replace(",", "")) * factor)
    other = re.search(r"Other currencies: ([\d,]+) minor units", description)
    if other:
        out[DEFAULT_KEY] = int(other.group(1).replace(",", ""))
    return out


def derive(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    sorting: dict[str, list[str]] = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters") or []:
                if parameter.get("name") != "sorting":
                    continue
                for option in parameter["schema"].get("anyOf", []):
                    ref = (option.get("items") or {}).get("$ref")
                    if ref:
                        sorting[f"{method.upper()} {path}"] = schemas[ref.rsplit("/", 1)[1]]["enum"]
    fixed = schemas["ProductPriceFixedCreate"]["properties"]["price_amount"]["description"]
    custom = schemas["ProductPriceCustomCreate"]["properties"]["maximum_amount"]["description"]
    return {
        "sorting": dict(sorted(sorting.items())),
        "countries": schemas["CountryAlpha2Input"]["enum"],
        "currencies": schemas["PresentmentCurrency"]["enum"],
        "webhook_event_types": schemas["WebhookEventType"]["enum"],
        "minimum_amounts": _amounts(fixed),
        "maximum_amounts": _amounts(custom),
    }


@cache
def tables() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))
    return loaded


def sorting(method: str, pattern: str) -> list[str] | None:
    """The sorting criteria ``method pattern`` accepts (None: it takes no ``sorting``)."""
    table: dict[str, list[str]] = tables()["sorting"]
    return table.get(f"{method} {pattern}")


def minimum_amount(currency: str) -> int:
    amounts: dict[str, int] = tables()["minimum_amounts"]
    return amounts.get(currency, amounts[DEFAULT_KEY])


def maximum_amount(currency: str) -> int:
    amounts: dict[str, int] = tables()["maximum_amounts"]
    return amounts.get(currency, amounts[DEFAULT_KEY])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m polar_emulator.spec_tables OPENAPI.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    TABLE.write_text(json.dumps(derive(spec), indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
