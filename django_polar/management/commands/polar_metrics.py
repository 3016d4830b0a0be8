"""``manage.py polar_metrics``: the admin dashboard's figures in the terminal, from the
mirror; ``--compare`` sets them beside Polar's ``/v1/metrics/`` for today."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from ... import metrics
from ...client import get_client
from ...errors import PolarError
from ...money import format_amount
from ..base import PolarCommand


class Command(PolarCommand):
    help = "Print the billing figures of the mirror (MRR, subscriptions, revenue, backlog)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--compare",
            action="store_true",
            help="Also ask Polar's /v1/metrics/ for today and show any difference.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        figures = metrics.compute()
        out = self.stdout.write
        out(f"Billing figures from the mirror, {figures.at:%Y-%m-%d %H:%M %Z}")
        for currency, amount in figures.mrr.items() or [("usd", 0)]:
            out(f"MRR ({currency.upper()}): {format_amount(amount, currency)}")
        out(f"Active subscriptions: {figures.active}")
        for plan, count in figures.active_by_plan:
            out(f"  {plan}: {count}")
        for window in figures.windows:
            out(
                f"Last {window.days} days: {window.new} new, {window.canceled} canceled, "
                f"{window.past_due} past due"
            )
        out("Revenue by month (net of tax and refunds):")
        for month, row in figures.revenue_by_month:
            amounts = ", ".join(format_amount(v, c) for c, v in sorted(row.items())) or "0"
            out(f"  {month:%Y-%m}: {amounts}")
        out(f"Failed webhooks: {figures.failed_webhooks}")
        out(f"Usage events not yet sent: {figures.pending_usage}")
        if options["compare"]:
            self._compare(figures)

    def _compare(self, figures: metrics.Figures) -> None:
        today = timezone.localdate(figures.at).isoformat()
        try:
            polar = get_client().get_metrics(
                start_date=today,
                end_date=today,
                interval="day",
                timezone=str(timezone.get_current_timezone()),
                metrics=["active_subscriptions", "monthly_recurring_revenue"],
            )
        except PolarError as exc:
            raise CommandError(f"Polar's metrics could not be read: {exc}") from exc
        differ = False
        self.stdout.write("Compared with Polar's /v1/metrics/ (today):")
        for name, mine, theirs in metrics.compare_with_polar(figures, polar):
            same = mine == theirs
            differ = differ or not same
            mark = "same" if same else "DIFFERENT"
            self.stdout.write(f"  {name}: mirror {mine}, Polar {theirs} ({mark})")
        if differ:
            raise CommandError(
                "The mirror disagrees with Polar: run `manage.py polar_sync` to refresh it."
            )
