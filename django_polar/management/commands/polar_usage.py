"""Operate usage metering: the events recorded locally that Polar has not acknowledged.

manage.py polar_usage                      # how many are pending, the oldest ones
manage.py polar_usage pending [--limit N]  # list unsent events and why they wait
manage.py polar_usage flush [--batch-size N]
    # send them, up to 1,000 per POST /v1/events/ingest; Polar de-duplicates on external_id,
    # so resending is safe, and concurrent flushes never send a row twice. Exits non-zero
    # when some could not be sent. The cron entry (every minute):
    #   * * * * *  cd /srv/app && ./manage.py polar_usage flush --quiet-when-empty
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from ...usage import MAX_INGEST_BATCH, flush, pending_events
from ..base import MAX_LIST_LIMIT, PolarCommand, whole_number


class Command(PolarCommand):
    help = "List and send the usage events Polar has not acknowledged yet."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action")
        listing = sub.add_parser("pending", help="List unsent usage events (oldest first).")
        listing.add_argument("--limit", type=whole_number("--limit", 1, MAX_LIST_LIMIT), default=50)
        flushing = sub.add_parser("flush", help="Send every unsent usage event to Polar.")
        flushing.add_argument(
            "--batch-size",
            type=int,
            default=MAX_INGEST_BATCH,
            help=f"Events per request, 1 to {MAX_INGEST_BATCH} (default {MAX_INGEST_BATCH}).",
        )
        flushing.add_argument(
            "--quiet-when-empty",
            action="store_true",
            help="Print nothing when there was nothing to send (for cron mail).",
        )

    def handle(self, *args: Any, action: str | None = None, **options: Any) -> None:
        if action == "flush":
            self._flush(options["batch_size"], options["quiet_when_empty"])
        elif action == "pending":
            self._pending(options["limit"])
        else:
            self._pending(10)

    def _pending(self, limit: int) -> None:
        pending = pending_events()
        self.stdout.write(f"{pending.count()} usage event(s) not sent to Polar.")
        for event in pending[: max(limit, 0)]:
            error = event.last_error.strip().splitlines()[-1] if event.last_error else ""
            retry = (
                f" next_attempt={event.next_attempt_at:%Y-%m-%d %H:%M:%S}"
                if event.next_attempt_at
                else ""
            )
            self.stdout.write(
                f"{event.external_id} {event.name} customer={event.external_customer_id} "
                f"at={event.timestamp:%Y-%m-%d %H:%M:%S} attempts={event.attempts}{retry} "
                f"{error}".rstrip()
            )

    def _flush(self, batch_size: int, quiet: bool) -> None:
        if not 1 <= batch_size <= MAX_INGEST_BATCH:
            raise CommandError(f"--batch-size must be between 1 and {MAX_INGEST_BATCH}.")
        report = flush(batch_size=batch_size)
        left = pending_events().count()
        if quiet and not report.sent and not left:
            return
        self.stdout.write(
            f"Sent {report.sent} usage event(s) to Polar in {report.calls} request(s) "
            f"({report.inserted} inserted, {report.duplicates} duplicates); {left} still pending."
        )
        if left:
            raise CommandError(
                f"{left} usage event(s) could not be sent; `polar_usage pending` shows why."
            )
