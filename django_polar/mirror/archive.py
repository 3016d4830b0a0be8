"""Marking catalog rows that Polar no longer lists (``polar_sync --prune``).

Nothing is ever deleted: orders and subscriptions keep pointing at their product. A
product becomes archived, a benefit deleted, in the column and in the stored JSON, so
every reader (``Product.objects.active()``, the admin, the API) sees what Polar shows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from ..models import Benefit, Product
from ..models.base import PolarObject

logger = logging.getLogger("django_polar.mirror")

#: Mirror kind -> (model, the flag Polar uses for "gone").
ARCHIVABLE: dict[str, tuple[type[PolarObject], str]] = {
    "product": (Product, "is_archived"),
    "benefit": (Benefit, "is_deleted"),
}


def archive_missing(
    kind: str,
    seen_ids: Iterable[str],
    *,
    dry_run: bool = False,
    unchanged_since: datetime | None = None,
) -> int:
    """Flag every live ``kind`` row whose id is not in ``seen_ids``; returns how many.

    ``seen_ids`` must be the complete listing from Polar (the caller skips pruning when a
    page was lost). Rows written after ``unchanged_since`` (e.g. a ``product.created``
    webhook that arrived while the listing ran) are left alone: the listing could not
    have seen them. ``dry_run`` counts without writing.
    """
    try:
        model, flag = ARCHIVABLE[kind]
    except KeyError:
        raise ValueError(
            f"only {', '.join(ARCHIVABLE)} rows can be archived, not {kind!r}"
        ) from None
    seen = {str(pk) for pk in seen_ids}
    queryset = model._default_manager.filter(**{flag: False})
    if unchanged_since is not None:
        queryset = queryset.filter(updated_at__lte=unchanged_since)
    with transaction.atomic():
        missing = [row for row in queryset.select_for_update() if str(row.pk) not in seen]
        if dry_run:
            return len(missing)
        for row in missing:
            setattr(row, flag, True)
            row.data = {**(row.data or {}), flag: True}
            row.save(update_fields=[flag, "data", "updated_at"])
    if missing:
        logger.info("Marked %d %s row(s) %s: Polar no longer lists them.", len(missing), kind, flag)
    return len(missing)
