"""``GET /v1/metrics/``: the subscription metrics Polar computes in SQL, from the
emulator's own subscriptions (server/polar/metrics/endpoints.py, metrics.py, queries.py).

Polar computes its order and event metrics (orders, revenue, new and canceled
subscriptions...) in Tinybird pipes that its server source does not hold; the emulator
answers the ones whose rule the source states: ``active_subscriptions``,
``committed_subscriptions`` and ``monthly_recurring_revenue``. Other valid slugs are left
out of the answer, as Polar leaves out a metric it did not compute
(``response_model_exclude_none``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import invalid
from .spec_tables import tables
from .store import iso, parse_iso
from .validation import expected_one_of

if TYPE_CHECKING:
    from .core import Emulator

INTERVALS = ("year", "month", "week", "day", "hour")
# kit/time_queries.py MAX_INTERVAL_DAYS: the widest date range each interval may cover.
MAX_INTERVAL_DAYS = {"hour": 7, "day": 366, "week": 7 * 53, "month": 365 * 4, "year": 365 * 10}
# metrics/metrics.py: slug, display name, type of the metrics computed here.
COMPUTED = {
    "active_subscriptions": ("Active Subscriptions", "scalar"),
    "committed_subscriptions": ("Committed Subscriptions", "scalar"),
    "monthly_recurring_revenue": ("Monthly Recurring Revenue", "currency"),
}


def truncate(moment: datetime, interval: str) -> datetime:
    """PostgreSQL ``date_trunc`` (kit/time_queries.py ``sql_date_trunc``); weeks start on
    Monday, as PostgreSQL's do."""
    if interval == "year":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if interval == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "day":
        return day
    return moment.replace(minute=0, second=0, microsecond=0)


def step(moment: datetime, interval: str) -> datetime:
    """One ``'1 <interval>'::interval`` further (generate_series in get_timestamp_series_cte)."""
    if interval == "year":
        return moment.replace(year=moment.year + 1)
    if interval == "month":
        year, month = divmod(moment.month, 12)
        return moment.replace(year=moment.year + year, month=month + 1)
    return moment + {"week": timedelta(weeks=1), "day": timedelta(days=1)}.get(
        interval, timedelta(hours=1)
    )


def monthly_amount(sub: dict[str, Any]) -> int:
    """queries.py ``monthly_amount``: the subscription's amount spread over a month (the
    emulator settles in the subscription's own currency, so no exchange rate applies)."""
    amount = sub.get("amount") or 0
    count = sub.get("recurring_interval_count") or 1
    interval = sub.get("recurring_interval")
    if interval == "year":
        return round(amount / (12 * count))
    if interval == "week":
        return round(amount * 52 / (12 * count))
    if interval == "day":
        return round(amount * 365 / (12 * count))
    return round(amount / count)


class Metrics:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def get(self, query: dict[str, list[str]]) -> dict[str, Any]:
        start_date = _date(query, "start_date")
        end_date = _date(query, "end_date")
        interval = _one(query, "interval")
        if interval is None:
            raise invalid(["query", "interval"], "Field required", "missing")
        if interval not in INTERVALS:
            raise invalid(["query", "interval"], expected_one_of(INTERVALS), "enum", interval)
        zone_name = _one(query, "timezone") or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid(["query", "timezone"], "Invalid timezone", "value_error") from None
        # endpoints.py: unknown slugs are a 422 naming them.
        valid = set(tables()["metric_slugs"])
        wanted = query.get("metrics")
        if wanted is not None:
            unknown = set(wanted) - valid
            if unknown:
                raise invalid(
                    ["query", "metrics"], f"Invalid metric slugs: {', '.join(sorted(unknown))}"
                )
        # endpoints.py is_under_limits: start before end, range within the interval's limit.
        if start_date > end_date or (end_date - start_date).days > MAX_INTERVAL_DAYS[interval]:
            raise invalid(
                ["query"],
                "The interval is too small for the given date range. "
                "Use a larger interval or reduce the date range.",
            )
        slugs = [s for s in COMPUTED if wanted is None or s in wanted]
        product_ids = query.get("product_id")
        customer_ids = query.get("customer_id")
        start = datetime.combine(start_date, datetime.min.time(), zone)
        end = datetime.combine(end_date, datetime.max.time(), zone)
        subs = [
            s
            for s in self.emu.store.subscriptions.values()
            if (product_ids is None or s["product_id"] in product_ids)
            and (customer_ids is None or s["customer_id"] in customer_ids)
        ]
        periods = []
        moment = truncate(start, interval)
        while moment <= end:
            periods.append(self._period(moment, interval, subs, slugs, start, end))
            moment = step(moment, interval)
        # metrics.py get_cumulative: these three are "cumulative_last".
        totals = {slug: (periods[-1][slug] if periods else 0) for slug in slugs}
        return {
            "periods": periods,
            "totals": totals,
            "metrics": {
                slug: {"slug": slug, "display_name": COMPUTED[slug][0], "type": COMPUTED[slug][1]}
                for slug in slugs
            },
        }

    def _period(
        self,
        moment: datetime,
        interval: str,
        subs: list[dict[str, Any]],
        slugs: list[str],
        start: datetime,
        end: datetime,
    ) -> dict[str, Any]:
        """queries.py get_active_subscriptions_cte: a subscription counts in a bucket when
        it started in or before it and ended (``ended_at`` or ``ends_at``) in a later one,
        and it overlaps the requested range. MRR leaves out subscriptions still on trial a
        bucket later (metrics.py ``_not_in_trial``); committed leaves out those ending
        (``_not_ended_as_of_bucket``)."""
        bucket = truncate(moment, interval)
        zone = moment.tzinfo or UTC
        active = committed = mrr = 0
        for sub in subs:
            started = _local(sub.get("started_at"), zone)
            stop = _local(sub.get("ended_at") or sub.get("ends_at"), zone)
            if started is not None and (truncate(started, interval) > bucket or started > end):
                continue
            if stop is not None and (truncate(stop, interval) <= bucket or stop < start):
                continue
            active += 1
            if stop is None or truncate(stop, interval) < bucket:
                committed += 1
            trial_end = _local(sub.get("trial_end"), zone)
            if trial_end is None or trial_end < step(moment, interval):
                mrr += monthly_amount(sub)
        values = {
            "active_subscriptions": active,
            "committed_subscriptions": committed,
            "monthly_recurring_revenue": mrr,
        }
        return {"timestamp": iso(moment.astimezone(UTC)), **{s: values[s] for s in slugs}}


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _date(query: dict[str, list[str]], name: str) -> date:
    raw = _one(query, name)
    if raw is None:
        raise invalid(["query", name], "Field required", "missing")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise invalid(
            ["query", name],
            "Input should be a valid date or datetime",
            "date_from_datetime_parsing",
        ) from None


def _local(value: str | None, zone: Any) -> datetime | None:
    return parse_iso(value).astimezone(zone) if value else None
