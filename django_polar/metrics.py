"""The billing figures of the admin dashboard and of ``polar_metrics``, from the mirror only.

One module computes them so the page and the command never disagree. Active subscriptions
and MRR follow Polar's own rule (server/polar/metrics/queries.py
get_active_subscriptions_cte, metrics.py), so ``polar_metrics --compare`` can set them
beside ``/v1/metrics/`` and any difference means the mirror drifted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from .models import Order, Subscription, UsageEvent, WebhookEvent
from .models.subscription import SubscriptionStatus

WINDOWS = (30, 90)
REVENUE_MONTHS = 12


@dataclass
class WindowFigures:
    days: int
    new: int
    canceled: int
    past_due: int


@dataclass
class Figures:
    """What the dashboard shows; amounts in minor units, per currency."""

    at: datetime
    mrr: dict[str, int]
    active: int
    active_by_plan: list[tuple[str, int]]
    windows: list[WindowFigures]
    revenue_by_month: list[tuple[date, dict[str, int]]]
    failed_webhooks: int
    pending_usage: int
    currencies: list[str] = field(default_factory=list)


def monthly_amount(sub: Subscription) -> int:
    """queries.py ``monthly_amount``: the price spread over one month. The mirror keeps no
    interval count, so a subscription bills every one interval (Polar's default)."""
    if sub.recurring_interval == "year":
        return round(sub.amount / 12)
    if sub.recurring_interval == "week":
        return round(sub.amount * 52 / 12)
    if sub.recurring_interval == "day":
        return round(sub.amount * 365 / 12)
    return sub.amount


def active_on(day: date) -> list[Subscription]:
    """queries.py: a subscription is active on a day when it started that day or before and
    its end (``ended_at``, else ``ends_at``) falls on a later day, whatever its status."""
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()), zone)
    next_day = start + timedelta(days=1)
    return list(
        Subscription.objects.filter(Q(started_at__isnull=True) | Q(started_at__lt=next_day))
        .filter(
            Q(ended_at__gte=next_day)
            | Q(ended_at__isnull=True, ends_at__gte=next_day)
            | Q(ended_at__isnull=True, ends_at__isnull=True)
        )
        .select_related("product")
    )


def in_mrr(sub: Subscription, day: date) -> bool:
    """metrics.py ``_not_in_trial``: a trial still running a day later brings no revenue."""
    if sub.trial_end is None:
        return True
    zone = timezone.get_current_timezone()
    later = timezone.make_aware(datetime.combine(day, datetime.min.time()), zone)
    return sub.trial_end < later + timedelta(days=1)


def compute(now: datetime | None = None) -> Figures:
    now = now or timezone.now()
    today = timezone.localdate(now)
    active = active_on(today)
    mrr: dict[str, int] = defaultdict(int)
    for sub in active:
        if in_mrr(sub, today):
            mrr[sub.currency or "usd"] += monthly_amount(sub)
    by_plan = Counter(sub.product.name for sub in active)
    windows = []
    for days in WINDOWS:
        since = now - timedelta(days=days)
        subs = Subscription.objects.all()
        windows.append(
            WindowFigures(
                days=days,
                new=subs.filter(started_at__gte=since).count(),
                canceled=subs.filter(canceled_at__gte=since).count(),
                # A failed renewal opens the new period and leaves the subscription past
                # due: its period start is when it fell due.
                past_due=subs.filter(
                    status=SubscriptionStatus.PAST_DUE, current_period_start__gte=since
                ).count(),
            )
        )
    revenue = revenue_by_month(today)
    return Figures(
        at=now,
        mrr=dict(sorted(mrr.items())),
        active=len(active),
        active_by_plan=sorted(by_plan.items(), key=lambda item: (-item[1], item[0])),
        windows=windows,
        revenue_by_month=revenue,
        failed_webhooks=WebhookEvent.objects.failed().count(),
        pending_usage=UsageEvent.objects.filter(ingested_at__isnull=True).count(),
        currencies=sorted(set(mrr) | {c for _, row in revenue for c in row}),
    )


def months_back(today: date, count: int) -> list[date]:
    first = today.replace(day=1)
    months = []
    for _ in range(count):
        months.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    return months[::-1]


def revenue_by_month(today: date) -> list[tuple[date, dict[str, int]]]:
    """Paid orders' net amount (before tax) less what was refunded, by the order's month."""
    months = months_back(today, REVENUE_MONTHS)
    zone = timezone.get_current_timezone()
    since = timezone.make_aware(datetime.combine(months[0], datetime.min.time()), zone)
    totals: dict[date, dict[str, int]] = {month: defaultdict(int) for month in months}
    orders = Order.objects.filter(paid=True, created_at__gte=since)
    for created, currency, net, refunded in orders.values_list(
        "created_at", "currency", "net_amount", "refunded_amount"
    ):
        month = timezone.localtime(created, zone).date().replace(day=1)
        if month in totals:
            totals[month][currency or "usd"] += net - refunded
    return [(month, dict(totals[month])) for month in months]


def compare_with_polar(figures: Figures, polar: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(figure, mirror, Polar) for what both compute: today's active subscriptions and the
    MRR (Polar sums in USD, so the mirror's USD MRR is set beside it)."""
    totals = polar.get("totals") or {}
    return [
        ("active_subscriptions", figures.active, totals.get("active_subscriptions")),
        (
            "monthly_recurring_revenue",
            figures.mrr.get("usd", 0),
            totals.get("monthly_recurring_revenue"),
        ),
    ]
