"""State, ids and the clock of the emulator: the one place time and identity come from."""

from __future__ import annotations

import calendar
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, overload

COLLECTIONS = (
    "products",
    "benefits",
    "meters",
    "customers",
    "checkouts",
    "checkout_links",
    "subscriptions",
    "orders",
    "refunds",
    "discounts",
    "grants",
    "license_keys",
    "activations",
    "events",
    "customer_sessions",
    "customer_meters",
    "customer_seats",
    "members",
    "payments",
    "payment_methods",
    "jobs",
    "custom_fields",
)


@overload
def iso(dt: datetime) -> str: ...
@overload
def iso(dt: None) -> None: ...
@overload
def iso(dt: datetime | None) -> str | None: ...
def iso(dt: datetime | None) -> str | None:
    """Polar's timestamp format: ISO-8601, microseconds, UTC, trailing Z."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def add_interval(start: datetime, interval: str, count: int = 1) -> datetime:
    """``start`` plus ``count`` intervals; a month keeps the day, clamped to the month's end."""
    if interval == "day":
        return start + timedelta(days=count)
    if interval == "week":
        return start + timedelta(weeks=count)
    months = count * (12 if interval == "year" else 1)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


class Clock:
    """The emulator's time source.

    Running (default): real UTC time plus an offset that ``advance`` grows, so a demo
    feels live. Frozen (``frozen=True``): time moves only through ``advance``/``set``,
    so tests are deterministic. Listeners run after every jump (the emulator ticks).
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self.frozen = frozen
        base = start.astimezone(UTC) if start else datetime.now(UTC)
        self._frozen_at = base
        self._offset = base - datetime.now(UTC) if start else timedelta(0)
        self.listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        if self.frozen:
            return self._frozen_at
        return datetime.now(UTC) + self._offset

    def freeze(self) -> datetime:
        """Stop the running clock where it is: from now on only ``advance`` moves it."""
        self._frozen_at = self.now()
        self.frozen = True
        return self._frozen_at

    def advance(self, **delta: float) -> datetime:
        """Jump forward (``days=31``, ``hours=2``...) and let the emulator catch up."""
        step = timedelta(**delta)
        if step < timedelta(0):
            raise ValueError("the clock only moves forward")
        self._frozen_at += step
        self._offset += step
        for listener in list(self.listeners):
            listener()
        return self.now()

    def set(self, when: datetime) -> datetime:
        """Jump to an absolute moment (never backwards)."""
        delta = when.astimezone(UTC) - self.now()
        return self.advance(seconds=max(delta.total_seconds(), 0))

    def dump(self) -> dict[str, Any]:
        return {"frozen": self.frozen, "now": iso(self.now())}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Clock:
        return cls(parse_iso(data["now"]), frozen=data["frozen"])


class Store:
    """Every Polar object the emulator holds, as plain JSON-able dicts keyed by id."""

    def __init__(self, rng_seed: int | None = None) -> None:
        self.rng = random.Random(rng_seed)
        self.data: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in COLLECTIONS}
        self.counters: dict[str, int] = {}
        self.organization: dict[str, Any] = {}

    def __getattr__(self, name: str) -> dict[str, dict[str, Any]]:
        data = self.__dict__.get("data", {})
        if name in data:
            return data[name]
        raise AttributeError(name)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def token(self, prefix: str) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(43))

    def next_number(self, name: str) -> int:
        self.counters[name] = self.counters.get(name, 0) + 1
        return self.counters[name]

    def dump(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "collections": self.data,
            "counters": self.counters,
        }

    @classmethod
    def restore(cls, blob: dict[str, Any]) -> Store:
        store = cls()
        store.organization = blob["organization"]
        for name in COLLECTIONS:
            store.data[name] = blob["collections"].get(name, {})
        store.counters = blob.get("counters", {})
        # A fresh random state after load is fine: ids only need to be unique.
        store.rng = random.Random()
        return store
