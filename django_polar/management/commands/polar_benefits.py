"""Operate the benefit hooks (``@on_benefit_granted`` / ``@on_benefit_revoked``).

manage.py polar_benefits                 # transitions whose hooks have not all finished
manage.py polar_benefits run             # run the due ones (cron: retries failed hooks)
manage.py polar_benefits replay ID [ID]  # run every hook of these transitions again
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...entitlements import replay, run_due
from ...models import BenefitTransition


class Command(BaseCommand):
    help = "List, run and replay the hooks of benefit grants and revocations."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action")
        sub.add_parser("run", help="Run the hooks of every due transition.")
        again = sub.add_parser("replay", help="Run every hook of these transitions again.")
        again.add_argument("ids", nargs="+", type=int)

    def handle(self, *args: Any, action: str | None = None, **options: Any) -> None:
        if action == "run":
            finished = run_due()
            left = BenefitTransition.objects.filter(finished_at__isnull=True).count()
            self.stdout.write(f"{finished} transition(s) finished; {left} not finished.")
            if left:
                raise CommandError(f"{left} transition(s) have hooks that failed; see the list.")
        elif action == "replay":
            for pk in options["ids"]:
                if not BenefitTransition.objects.filter(pk=pk).exists():
                    raise CommandError(f"No benefit transition {pk}.")
                ok = replay(pk)
                self.stdout.write(f"{pk}: {'finished' if ok else 'failed again'}")
        else:
            open_ = BenefitTransition.objects.filter(finished_at__isnull=True)
            self.stdout.write(f"{open_.count()} transition(s) not finished.")
            for t in open_[:50]:
                error = t.last_error.strip().splitlines()[-1] if t.last_error else ""
                self.stdout.write(
                    f"{t.pk} {t.kind} benefit={t.benefit_id} customer={t.customer_id} "
                    f"attempts={t.attempts} {error}".rstrip()
                )
