"""``manage.py polar_reconcile``: repair customers' subscriptions and grants from Polar.

    manage.py polar_reconcile                           # every live mirrored customer
    manage.py polar_reconcile --billable testapp.user:42 --billable testapp.team:7
    manage.py polar_reconcile --customer <polar customer id> --dry-run

Each customer's state (``GET /v1/customers/{id}/state``) is applied through the mirror,
one customer per transaction; the command prints what changed. Exit code 1 when a
customer could not be reconciled.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django.core.management.base import CommandError, CommandParser

from ...identity import billable_from_external_id
from ...models import Customer
from ...pacing import DEFAULT_CONCURRENCY, DEFAULT_RATE_PER_MINUTE
from ...reconcile import Reconciler, Target, target_for_billable, targets_for_customers
from ..base import PolarCommand, rate_and_concurrency


class Command(PolarCommand):
    help = "Repair customers' subscriptions and benefit grants from Polar's customer state."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--billable",
            action="append",
            default=[],
            metavar="EXTERNAL_ID",
            help="A billable by its Polar external id, e.g. 'testapp.user:42' (repeatable).",
        )
        parser.add_argument(
            "--customer",
            action="append",
            default=[],
            metavar="POLAR_ID",
            help="A Polar customer id (repeatable).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report changes; write nothing.")
        rate_and_concurrency(parser, DEFAULT_RATE_PER_MINUTE, DEFAULT_CONCURRENCY)

    def handle(self, *args: Any, **options: Any) -> None:
        targets = list(self._targets(options["billable"], options["customer"]))
        if not targets:
            self.stdout.write("No customers to reconcile.")
            return
        reconciler = Reconciler(
            rate_per_minute=options["rate"],
            concurrency=options["concurrency"],
            dry_run=options["dry_run"],
        )
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing will be written.")
        changed = unchanged = missing = failed = 0
        try:
            for outcome in reconciler.run(targets):
                label = outcome.target.label
                if outcome.missing:
                    missing += 1
                    self.stdout.write(f"{label}: not found in Polar")
                    continue
                if outcome.error:
                    failed += 1
                    self.stderr.write(f"{label}: failed: {outcome.error}")
                if outcome.changes:
                    changed += 1
                    self.stdout.write(f"{label}:")
                    for line in outcome.changes:
                        self.stdout.write(f"  {line}")
                elif not outcome.error:
                    unchanged += 1
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted: customers already reconciled are committed.", returncode=130
            ) from None
        verb = "would change" if options["dry_run"] else "changed"
        self.stdout.write(
            f"{len(targets)} customer(s): {changed} {verb}, {unchanged} already right, "
            f"{missing} not found in Polar, {failed} failed."
        )
        if failed:
            raise CommandError(f"{failed} customer(s) could not be reconciled.")

    def _targets(self, billables: list[str], customers: list[str]) -> Iterator[Target]:
        for external_id in billables:
            billable = billable_from_external_id(external_id)
            if billable is None:
                raise CommandError(
                    f"--billable {external_id!r} names no billable; use the external id "
                    "'<app_label>.<model_name>:<pk>' (e.g. 'auth.user:42')."
                )
            yield target_for_billable(billable)
        for value in customers:
            try:
                customer_id = uuid.UUID(value)
            except ValueError:
                raise CommandError(
                    f"--customer {value!r} is not a Polar customer id (a UUID)."
                ) from None
            yield Target(label=f"customer {customer_id}", customer_id=str(customer_id))
        if not billables and not customers:
            yield from targets_for_customers(
                Customer.objects.live().order_by("created_at").iterator()
            )
