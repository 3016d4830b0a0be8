"""The base of django-polar's commands (their Polar calls get the background budget), and
the option types that turn bad input into a clear error naming the bound.

Nobody waits on a command the way a visitor waits on a page, so a 429's Retry-After or a
slow Polar is worth waiting out (BACKGROUND_DEADLINE, BACKGROUND_RETRY_BUDGET) instead of
failing after the web request's few seconds.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand

from ..client import background


class PolarCommand(BaseCommand):
    """A ``BaseCommand`` whose whole run is inside ``client.background()``."""

    def execute(self, *args: Any, **options: Any) -> Any:
        with background():
            return super().execute(*args, **options)


#: Bounds of the options every command shares (a typo must not become 100,000 threads).
MAX_RATE_PER_MINUTE = 1_000_000
MAX_CONCURRENCY = 32
MAX_LIST_LIMIT = 10_000


def whole_number(name: str, low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer from ``low`` to ``high``, or an error naming them."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number from {low} to {high}; got {raw[:20]!r}"
            )
        return value

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def positive_number(name: str, high: float) -> Callable[[str], float]:
    """An argparse ``type``: a finite number above 0 and at most ``high``."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 < value <= high):
            raise argparse.ArgumentTypeError(
                f"{name} must be a number above 0 and at most {high:g}; got {raw[:20]!r}"
            )
        return value

    parse.__name__ = name
    return parse


def rate_and_concurrency(parser: Any, default_rate: float, default_concurrency: int) -> None:
    """``--rate`` and ``--concurrency`` as the sync, customers and reconcile commands take them."""
    parser.add_argument(
        "--rate",
        type=positive_number("--rate", MAX_RATE_PER_MINUTE),
        default=default_rate,
        help="Requests per minute to stay under (Polar allows 300 per organization; "
        "lower it to leave room for live traffic).",
    )
    parser.add_argument(
        "--concurrency",
        type=whole_number("--concurrency", 1, MAX_CONCURRENCY),
        default=default_concurrency,
        help=f"Pages fetched in parallel, 1 to {MAX_CONCURRENCY}.",
    )
