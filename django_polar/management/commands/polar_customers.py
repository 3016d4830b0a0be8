"""``manage.py polar_customers link``: link existing billables to existing Polar customers.

For projects that already sold through Polar before installing the app: every Polar
customer whose ``external_id`` names a billable (``"<app_label>.<model_name>:<pk>"``, or
the plain pk on the model with ``polar_external_id_is_pk = True``) is mirrored and linked
to it. Email is never used to match. Run with ``--dry-run`` first to see the plan.

    manage.py polar_customers link --dry-run
    manage.py polar_customers link

``manage.py polar_customers push [--dry-run]`` sends what the background sync has not
(run it from cron): every customer whose billable's email or name differ from the mirror
(``POLAR["CUSTOMER_SYNC"]`` not "off"), and, with ``POLAR["CUSTOMER_ON_DELETE"]``
"delete" or "anonymize", every customer whose billable row is gone (also billables
deleted before the setting was turned on: see ``--dry-run`` first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import CommandError, CommandParser

from ... import customer_sync
from ...errors import PolarError
from ...identity import billable_from_external_id
from ...models import Customer
from ...pacing import DEFAULT_CONCURRENCY, DEFAULT_RATE_PER_MINUTE
from ...sync import Kind, Syncer
from ..base import PolarCommand, rate_and_concurrency

MAX_LISTED = 50


@dataclass
class LinkReport:
    """Counts per outcome, with the first few examples of each (memory stays flat)."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, outcome: str, example: str | None = None) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if example is not None:
            kept = self.examples.setdefault(outcome, [])
            if len(kept) < MAX_LISTED:
                kept.append(example)

    def merge(self, other: LinkReport) -> None:
        for outcome, count in other.counts.items():
            self.counts[outcome] = self.counts.get(outcome, 0) + count
        for outcome, examples in other.examples.items():
            kept = self.examples.setdefault(outcome, [])
            kept.extend(examples[: MAX_LISTED - len(kept)])

    def __getitem__(self, outcome: str) -> int:
        return self.counts.get(outcome, 0)


class LinkingSyncer(Syncer):
    """Mirrors customers page by page and classifies what happened to each link."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report = LinkReport()

    def write_page(self, kind: Kind, items: list[dict[str, Any]]) -> Any:
        ids = [item["id"] for item in items if item.get("id")]
        linked_before = set(
            Customer.objects.filter(pk__in=ids, billable_id__isnull=False).values_list(
                "pk", flat=True
            )
        )
        counts = super().write_page(kind, items)
        page = LinkReport()
        rows = Customer.objects.filter(pk__in=ids).select_related("billable_type")
        for customer in rows.order_by("created_at"):
            label = f"{customer.email or customer.pk} ({customer.external_id})"
            if customer.deleted_at is not None:
                page.add("deleted")
            elif not customer.external_id:
                page.add("no_external_id")
            elif customer.billable_id and customer.pk in linked_before:
                page.add("already_linked")
            elif customer.billable_id:
                ct = customer.billable_type  # set with billable_id (select_related above)
                target = f"{ct.app_label}.{ct.model}" if ct is not None else "?"
                page.add("linked", f"{label} -> {target}:{customer.billable_id}")
            elif billable_from_external_id(customer.external_id) is None:
                page.add("no_billable", label)
            else:
                page.add("conflict", f"{label}: the billable is linked to another customer")
        # Only a fully written page counts (a failed bulk write is replayed one by one).
        self.report.merge(page)
        return counts


class Command(PolarCommand):
    help = "Link billables to the Polar customers whose external id names them."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="action")
        link = sub.add_parser("link", help="Mirror Polar customers and link them to billables.")
        link.add_argument("--dry-run", action="store_true", help="Report the links; write nothing.")
        rate_and_concurrency(link, DEFAULT_RATE_PER_MINUTE, DEFAULT_CONCURRENCY)
        push = sub.add_parser(
            "push",
            help="Send changed emails/names and deleted billables to Polar (cron).",
        )
        push.add_argument("--dry-run", action="store_true", help="List what would be sent.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "push":
            self._push(options["dry_run"])
            return
        if options["action"] != "link":  # argparse already refuses others
            raise CommandError(f"unknown action {options['action']!r}")
        syncer = LinkingSyncer(
            rate_per_minute=options["rate"],
            concurrency=options["concurrency"],
            dry_run=options["dry_run"],
        )
        try:
            result = syncer.sync_kind("customers")
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted: pages already linked are committed.", returncode=130
            ) from None
        except PolarError as exc:
            raise CommandError(str(exc)) from None
        report = syncer.report
        verb = "Would link" if options["dry_run"] else "Linked"
        for line in report.examples.get("linked", []):
            self.stdout.write(f"{verb}: {line}")
        for line in report.examples.get("no_billable", []):
            self.stdout.write(f"No billable for external id: {line}")
        for line in report.examples.get("conflict", []):
            self.stderr.write(f"Conflict: {line}")
        self.stdout.write(
            f"{result.fetched:,} Polar customer(s): {report['linked']:,} "
            f"{verb.lower()}, {report['already_linked']:,} already linked, "
            f"{report['no_billable']:,} with an external id naming no billable, "
            f"{report['no_external_id']:,} without external id, "
            f"{report['deleted']:,} deleted, {report['conflict']:,} conflict(s)."
        )
        if report["no_external_id"]:
            self.stdout.write(
                "Customers without an external id are not matched (email is never an identity "
                "key); they are linked at their owner's next checkout."
            )
        for error in result.errors:
            self.stderr.write(error)
        if result.failed or result.errors:
            raise CommandError(f"{result.failed:,} customer(s) failed; see the errors above.")

    def _push(self, dry_run: bool) -> None:
        if dry_run:
            for action, pk in customer_sync.pending():
                self.stdout.write(f"Would {action}: customer {pk}")
            return
        report = customer_sync.push_pending()
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(report.counts.items()))
        self.stdout.write(f"Customers sent to Polar: {counts or 'none pending'}.")
        failed = report.counts.get("failed", 0)
        if failed:
            raise CommandError(f"{failed} customer(s) failed; they stay pending for the next run.")
