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

import warnings
from typing import Any

from ..identity import billable_from_external_id
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
from .customers import billable_of, mark_customer_deleted, upsert_customer
from .guard import Outcome, is_older, version_of
from .seats import billable_of_member, delete_member, upsert_member, upsert_seat
from .state import apply_customer_state

__all__ = [
    "KINDS",
    "Outcome",
    "UpsertCounts",
    "apply_customer_state",
    "archive_missing",
    "billable_of",
    "billable_of_member",
    "delete_member",
    "is_older",
    "mark_customer_deleted",
    "subscription_type",
    "upsert_benefit",
    "upsert_benefit_grant",
    "upsert_customer",
    "upsert_many",
    "upsert_member",
    "upsert_meter",
    "upsert_order",
    "upsert_price",
    "upsert_product",
    "upsert_refund",
    "upsert_seat",
    "upsert_subscription",
    "version_of",
]


def __getattr__(name: str) -> Any:
    """``mirror.resolve_billable``, the old name of ``identity.billable_from_external_id``."""
    if name == "resolve_billable":
        warnings.warn(
            "django_polar.mirror.resolve_billable is deprecated; use "
            "django_polar.identity.billable_from_external_id.",
            DeprecationWarning,
            stacklevel=2,
        )
        return billable_from_external_id
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
