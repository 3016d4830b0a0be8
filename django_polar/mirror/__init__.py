"""The mirror: the one door through which Polar objects become rows.

Webhooks, ``polar_sync`` and the responses of actions all call these functions. Each
takes a Polar dict (plus the event's time when there is one), returns the row, never
calls Polar, and is idempotent. An older snapshot changes nothing (see ``guard``);
an update for an object not yet mirrored creates it; nested objects in the payload
(customer, product, prices, benefits) are mirrored from the payload itself.

    from django_polar import mirror
    sub = mirror.upsert_subscription(payload["data"], event_time=event.timestamp)
    counts = mirror.upsert_many("subscription", items)   # bulk, for sync
    mirror.archive_missing("product", seen_ids)          # polar_sync --prune
"""

from .archive import archive_missing
from .billing import (
    subscription_type,
    upsert_benefit_grant,
    upsert_order,
    upsert_refund,
    upsert_subscription,
)
from .bulk import KINDS, UpsertCounts, upsert_many
from .catalog import upsert_benefit, upsert_meter, upsert_price, upsert_product
from .customers import apply_customer_state, billable_of, resolve_billable, upsert_customer
from .guard import Outcome, is_older, version_of

__all__ = [
    "KINDS",
    "Outcome",
    "UpsertCounts",
    "apply_customer_state",
    "archive_missing",
    "billable_of",
    "is_older",
    "resolve_billable",
    "subscription_type",
    "upsert_benefit",
    "upsert_benefit_grant",
    "upsert_customer",
    "upsert_many",
    "upsert_meter",
    "upsert_order",
    "upsert_price",
    "upsert_product",
    "upsert_refund",
    "upsert_subscription",
    "version_of",
]
