"""The version guard every mirror write goes through.

A Polar snapshot carries ``modified_at`` (null until the object is first modified, so
``created_at`` stands in for it); when neither is known the event's timestamp is the
version. A snapshot older than the stored one changes nothing. Rows are locked with
``SELECT ... FOR UPDATE`` (PostgreSQL) inside a transaction, so two workers applying
different snapshots of one object serialize and the newer one always wins.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.db import IntegrityError, transaction

from ..models.base import PolarObject
from ..models.convert import to_datetime

logger = logging.getLogger("django_polar.mirror")

M = TypeVar("M", bound=PolarObject)


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED_OLDER = "skipped_older"


def version_of(data: dict[str, Any], event_time: datetime | None = None) -> datetime | None:
    """The snapshot's version: modified_at, else created_at, else the event's time."""
    return to_datetime(data.get("modified_at")) or to_datetime(data.get("created_at")) or event_time


def is_older(incoming: datetime | None, stored: datetime | None) -> bool:
    """True when the incoming snapshot must not overwrite the stored one.

    Equal versions apply (re-applying a snapshot is idempotent). A row without a version
    (a stub created from an id in another payload) takes any snapshot.
    """
    return incoming is not None and stored is not None and incoming < stored


def ensure_stub(model: type[M], pk: Any, **defaults: Any) -> M:
    """The row for ``pk``, creating a placeholder without version when it is missing.

    Payloads name related objects by id (a grant's benefit, a state's product); the
    placeholder satisfies the foreign key and the first real snapshot fills it in.
    """
    obj, _ = model._default_manager.get_or_create(pk=pk, defaults=defaults)
    return obj


def save_snapshot(
    model: type[M],
    pk: Any,
    version: datetime | None,
    values: dict[str, Any],
    data: dict[str, Any],
    *,
    partial: bool = False,
    after_write: Callable[[M, Outcome], None] | None = None,
) -> tuple[M, Outcome]:
    """Create or update one row under the version guard.

    ``partial`` marks a nested, abridged copy of an object (the product inside an order):
    its keys are merged into the stored JSON rather than replacing it. ``after_write``
    runs inside the same transaction when the row was written (children, links).
    """
    with transaction.atomic():
        obj = model._default_manager.select_for_update().filter(pk=pk).first()
        if obj is None:
            obj = model(pk=pk, data=data, modified_at=version, **values)
            try:
                with transaction.atomic():
                    obj.save(force_insert=True)
            except IntegrityError:
                # Another worker created it first: lock theirs and apply the guard.
                obj = model._default_manager.select_for_update().filter(pk=pk).first()
                if obj is None:
                    raise
            else:
                if after_write:
                    after_write(obj, Outcome.CREATED)
                return obj, Outcome.CREATED
        if is_older(version, obj.modified_at):
            logger.debug("Skipping older snapshot of %s %s", model.__name__, pk)
            return obj, Outcome.SKIPPED_OLDER
        new_data = {**(obj.data or {}), **data} if partial else data
        changed = new_data != obj.data or (version is not None and version != obj.modified_at)
        for name, value in values.items():
            if getattr(obj, name) != value:
                setattr(obj, name, value)
                changed = True
        if not changed:
            return obj, Outcome.UNCHANGED
        obj.data = new_data
        obj.modified_at = version if version is not None else obj.modified_at
        obj.save()
        if after_write:
            after_write(obj, Outcome.UPDATED)
        return obj, Outcome.UPDATED
