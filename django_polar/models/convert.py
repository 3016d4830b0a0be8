"""Polar JSON values as column values: datetimes, bounded strings, ints, UUIDs.

Polar's payloads are trusted for shape only; junk becomes None (or a default), never an
exception in the middle of a webhook. ``pick`` applies a table of these converters.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

logger = logging.getLogger("django_polar.mirror")


def to_datetime(value: Any) -> datetime | None:
    """Polar's ISO 8601 strings (or datetimes) as aware datetimes; junk becomes None."""
    if value is None or value == "":
        return None
    dt: datetime | None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = parse_datetime(str(value).replace("Z", "+00:00"))
        except ValueError:
            dt = None
    if dt is None:
        logger.warning("Unparseable datetime from Polar: %r", value)
        return None
    if timezone.is_naive(dt):
        dt = timezone.make_aware(dt, UTC)  # Polar means UTC
    return dt


def text(value: Any, limit: int | None = None) -> str:
    """A CharField-safe string: None becomes "", long values are cut (the JSON keeps all)."""
    if value is None:
        return ""
    string = str(value)
    return string[:limit] if limit else string


def as_int(value: Any, default: int | None = 0) -> int | None:
    if value is None or isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def as_uuid(value: Any) -> uuid.UUID | None:
    """A Polar id as a UUID (what the columns hold), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


#: Column -> (Polar key, converter), for ``pick``.
Fields = dict[str, tuple[str, Callable[[Any], Any]]]


def pick(data: dict[str, Any], fields: Fields) -> dict[str, Any]:
    """Column values for the keys present in ``data`` (abridged copies leave others alone).

    ``fields`` maps a column to (Polar key, converter).
    """
    return {column: convert(data[key]) for column, (key, convert) in fields.items() if key in data}
