"""Declarative catalog seeding.

Format (a dict, or the same as JSON)::

    {
      "organization": {"name": "Acme", "slug": "acme",             # optional
                       "subscription_settings": {"allow_multiple_subscriptions": True},
                       "feature_settings": {"reset_proration_behavior_enabled": True}},
      "meters": [{"key": "api-calls", "name": "API calls",
                  "event": "api_call",                              # or "filter": {...Polar Filter...}
                  "aggregation": "count"}],                         # or {"func": "sum", "property": "tokens"}
      "benefits": [{"key": "pro-license", "type": "license_keys", "description": "Pro license key",
                    "properties": {"prefix": "PRO", "activations": {"limit": 3}}},
                   {"key": "pro-features", "type": "feature_flag", "description": "Pro features"}],
      "products": [{"key": "pro-monthly", "name": "Pro", "description": "...",
                    "recurring_interval": "month",                  # omit for one-time
                    "trial_interval": "day", "trial_interval_count": 14,   # optional
                    "prices": [{"amount": 1000, "currency": "usd"}],   # fixed
                    # or {"type": "custom", "minimum": 100, "maximum": 10000, "preset": 500}
                    # or {"type": "free"}
                    # or {"type": "seat_based", "tiers": [{"min_seats": 1, "price_per_seat": 800}]}
                    # or {"type": "metered_unit", "meter": "api-calls", "unit_amount": "0.5", "cap_amount": null}
                    "benefits": ["pro-license", "pro-features"],
                    "archived": false, "visibility": "public", "metadata": {}}],
      "discounts": [{"key": "launch", "name": "Launch", "type": "percentage", "basis_points": 2000,
                     "duration": "once", "code": "LAUNCH"}]
    }

"key" (or "slug" for products) names an object inside the seed; ``emu.ids[key]`` gives its
Polar id, and a product's key is also stored in its metadata as ``slug``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Emulator

DEFAULT_SEED: dict[str, Any] = {
    "organization": {"name": "Acme Demo", "slug": "acme-demo"},
    "meters": [
        {"key": "api-calls", "name": "API calls", "event": "api_call", "aggregation": "count"}
    ],
    "benefits": [
        {
            "key": "pro-license",
            "type": "license_keys",
            "description": "Pro license key",
            "properties": {
                "prefix": "ACME",
                "activations": {"limit": 3, "enable_customer_admin": True},
            },
        },
        {"key": "pro-features", "type": "feature_flag", "description": "Pro features"},
        {
            "key": "api-credits",
            "type": "meter_credit",
            "description": "1000 API calls included",
            "properties": {"meter": "api-calls", "units": 1000, "rollover": False},
        },
    ],
    "products": [
        {
            "key": "pro-monthly",
            "name": "Pro Monthly",
            "description": "Everything, billed monthly.",
            "recurring_interval": "month",
            "trial_interval": "day",
            "trial_interval_count": 14,
            "prices": [{"amount": 1200, "currency": "usd"}],
            "benefits": ["pro-license", "pro-features"],
        },
        {
            "key": "pro-yearly",
            "name": "Pro Yearly",
            "description": "Everything, billed yearly.",
            "recurring_interval": "year",
            "prices": [{"amount": 12000, "currency": "usd"}],
            "benefits": ["pro-license", "pro-features"],
        },
        {
            "key": "lifetime",
            "name": "Lifetime Pro",
            "description": "Pay once, keep Pro forever.",
            "prices": [{"amount": 29900, "currency": "usd"}],
            "benefits": ["pro-license", "pro-features"],
        },
        {
            "key": "team",
            "name": "Team",
            "description": "Per-seat plan for teams.",
            "recurring_interval": "month",
            "prices": [
                {
                    "type": "seat_based",
                    "tiers": [
                        {"min_seats": 1, "max_seats": 9, "price_per_seat": 1000},
                        {"min_seats": 10, "price_per_seat": 800},
                    ],
                }
            ],
            "benefits": ["pro-features"],
        },
        {
            "key": "api-metered",
            "name": "API Metered",
            "description": "Pay for what you use.",
            "recurring_interval": "month",
            "prices": [
                {"amount": 500, "currency": "usd"},
                {"type": "metered_unit", "meter": "api-calls", "unit_amount": "0.5"},
            ],
            "benefits": ["api-credits"],
        },
        {
            "key": "donation",
            "name": "Donation",
            "description": "Support us: pay what you want.",
            "prices": [{"type": "custom", "minimum": 100, "maximum": 100000, "preset": 500}],
        },
    ],
}


def _price(spec: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    kind = spec.get("type", "fixed")
    currency = spec.get("currency", "usd")
    if kind == "fixed":
        return {"amount_type": "fixed", "price_amount": spec["amount"], "price_currency": currency}
    if kind == "free":
        return {"amount_type": "fixed", "price_amount": 0, "price_currency": currency}
    if kind == "custom":
        out = {
            "amount_type": "custom",
            "price_currency": currency,
            "minimum_amount": spec.get("minimum", 50),
        }
        if spec.get("maximum") is not None:
            out["maximum_amount"] = spec["maximum"]
        if spec.get("preset") is not None:
            out["preset_amount"] = spec["preset"]
        return out
    if kind == "seat_based":
        return {
            "amount_type": "seat_based",
            "price_currency": currency,
            "seat_tiers": {
                "seat_tier_type": spec.get("tier_type", "volume"),
                "tiers": spec["tiers"],
            },
        }
    if kind == "metered_unit":
        return {
            "amount_type": "metered_unit",
            "price_currency": currency,
            "meter_id": ids[spec["meter"]],
            "unit_amount": spec["unit_amount"],
            "cap_amount": spec.get("cap_amount"),
        }
    raise ValueError(f"unknown price type {kind!r}")


def apply_seed(emu: Emulator, seed: dict[str, Any]) -> dict[str, str]:
    """Create everything the seed describes; returns {key: polar id}."""
    ids = emu.ids
    org = seed.get("organization") or {}
    if org:
        emu.store.organization.update(
            # "id": a fixed organization id, so a project's settings can name it
            # (POLAR["ORGANIZATION_ID"], which license key calls need) before it starts.
            {k: v for k, v in org.items() if k in ("id", "name", "slug", "email", "website")}
        )
        if org.get("subscription_settings") or org.get("feature_settings"):
            emu.organizations.configure(
                subscription_settings=org.get("subscription_settings"),
                feature_settings=org.get("feature_settings"),
                announce=False,
            )
    for meter in seed.get("meters", []):
        aggregation = meter.get("aggregation", "count")
        if isinstance(aggregation, str):
            aggregation = {"func": aggregation}
        filt = meter.get("filter") or {
            "conjunction": "and",
            "clauses": [{"property": "name", "operator": "eq", "value": meter["event"]}],
        }
        record = emu.catalog.create_meter(
            {"name": meter["name"], "filter": filt, "aggregation": aggregation}
        )
        ids[meter.get("key", meter["name"])] = record["id"]
    for benefit in seed.get("benefits", []):
        props = dict(benefit.get("properties") or {})
        if "meter" in props:
            props["meter_id"] = ids[props.pop("meter")]
        record = emu.catalog.create_benefit(
            {
                "type": benefit["type"],
                "description": benefit["description"],
                "properties": props,
                "metadata": benefit.get("metadata", {}),
            }
        )
        ids[benefit.get("key", benefit["description"])] = record["id"]
    for product in seed.get("products", []):
        key = product.get("key") or product.get("slug") or product["name"]
        body: dict[str, Any] = {
            "name": product["name"],
            "description": product.get("description"),
            "visibility": product.get("visibility", "public"),
            "prices": [_price(p, ids) for p in product["prices"]],
            "metadata": {"slug": key, **product.get("metadata", {})},
        }
        for field in (
            "recurring_interval",
            "recurring_interval_count",
            "trial_interval",
            "trial_interval_count",
        ):
            if product.get(field) is not None:
                body[field] = product[field]
        record = emu.catalog.create_product(
            body, benefit_ids=[ids[b] for b in product.get("benefits", [])]
        )
        if product.get("archived"):
            emu.catalog.update_product(record["id"], {"is_archived": True})
        ids[key] = record["id"]
    for discount in seed.get("discounts", []):
        spec = {k: v for k, v in discount.items() if k != "key"}
        spec["products"] = [ids[p] for p in spec.get("products", [])]
        record = emu.catalog.create_discount(spec)
        ids[discount.get("key", discount["name"])] = record["id"]
    return ids
