"""Create Jotter's catalog in a real Polar organization (the sandbox), once.

The emulator is seeded from ``catalog_seed.JOTTER_SEED``; against Polar's sandbox
``manage.py demo`` creates the same meters, benefits and products through the API, so
three environment variables are all a newcomer sets. Every object carries its seed key in
``metadata["slug"]`` and is looked up by it first: running the command again creates
nothing twice.
"""

from __future__ import annotations

from typing import Any

from django_polar.client import PolarClient
from polar_emulator.seed import _price as price_body  # the seed's price format

from .catalog_seed import JOTTER_SEED

SLUG = "slug"


def _by_slug(items: Any) -> dict[str, str]:
    """{metadata slug: id} of listed objects that carry one."""
    return {
        item["metadata"][SLUG]: item["id"]
        for item in items
        if isinstance(item.get("metadata"), dict) and item["metadata"].get(SLUG)
    }


def ensure_remote_catalog(client: PolarClient, seed: dict[str, Any] = JOTTER_SEED) -> list[str]:
    """Create the seed's meters, benefits and products that Polar does not have yet (matched
    by ``metadata["slug"]``); returns the keys created, in order."""
    products = _by_slug(client.list_products(is_archived=False))
    if all(product["key"] in products for product in seed.get("products", [])):
        return []  # the catalog is there (made by us or by hand): touch nothing
    created: list[str] = []
    ids: dict[str, str] = {}

    meters = _by_slug(client.list_meters())
    for meter in seed.get("meters", []):
        key = meter["key"]
        if key not in meters:
            body = {
                "name": meter["name"],
                "filter": {
                    "conjunction": "and",
                    "clauses": [{"property": "name", "operator": "eq", "value": meter["event"]}],
                },
                "aggregation": {"func": meter.get("aggregation", "count")},
                "metadata": {SLUG: key},
            }
            meters[key] = client.request("POST", "/v1/meters/", json=body)["id"]
            created.append(key)
        ids[key] = meters[key]

    benefits = _by_slug(client.list_benefits())
    for benefit in seed.get("benefits", []):
        key = benefit["key"]
        if key not in benefits:
            props = dict(benefit.get("properties") or {})
            if "meter" in props:
                props["meter_id"] = ids[props.pop("meter")]
            body = {
                "type": benefit["type"],
                "description": benefit["description"],
                "properties": props,
                "metadata": {SLUG: key},
            }
            benefits[key] = client.create_benefit(body)["id"]
            created.append(key)
        ids[key] = benefits[key]

    for product in seed.get("products", []):
        key = product["key"]
        if key in products:
            continue
        body = {
            "name": product["name"],
            "description": product.get("description"),
            "prices": [price_body(p, ids) for p in product["prices"]],
            "metadata": {SLUG: key},
        }
        for field in ("recurring_interval", "trial_interval", "trial_interval_count"):
            if product.get(field) is not None:
                body[field] = product[field]
        product_id = client.create_product(body)["id"]
        if product.get("benefits"):
            client.request(
                "POST",
                f"/v1/products/{product_id}/benefits",
                json={"benefits": [ids[b] for b in product["benefits"]]},
            )
        products[key] = product_id
        created.append(key)
    return created
