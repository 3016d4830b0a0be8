"""JSON Schema pieces shared by the tools, each id named for what it is."""

from __future__ import annotations

from typing import Any


def polar_id(what: str) -> dict[str, Any]:
    return {"type": "string", "format": "uuid", "description": f"Polar's id of the {what}."}


CUSTOMER_ID = {
    "type": "string",
    "format": "uuid",
    "description": "Polar's id of the customer (customer_id from find_customers).",
}
SUBSCRIPTION_ID = polar_id("subscription")
ORDER_ID = polar_id("order")
PRODUCT_ID = polar_id("product (product_id from list_products)")


def date(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "description": description + " ISO 8601."}


def limit(default: int, maximum: int = 100) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": maximum,
        "default": default,
        "description": f"At most this many results (default {default}).",
    }
