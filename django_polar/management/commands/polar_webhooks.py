"""Operate the webhook inbox.

manage.py polar_webhooks                       # counts by status, latest events
manage.py polar_webhooks list --status failed  # events with that status
manage.py polar_webhooks replay <webhook-id or pk>
manage.py polar_webhooks retry-failed [--all] [--stale-after SECONDS]
    # failed events whose retry time came, and pending events older than --stale-after
    # (default 300 s): stranded when a process died between answering Polar and applying.
    # Run it from cron. Each event is applied on its own: one that fails never stops the
    # rest, and the exit status is the number that failed (capped at 255; 0: all applied).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db.models import Count, Q

from ...models import WebhookEvent, WebhookEventStatus
from ...tasks import release_abandoned_tasks
from ...webhooks.dispatch import STALE_PENDING_AFTER, next_due, process_event, replay
from ..base import MAX_LIST_LIMIT, PolarCommand, whole_number

logger = logging.getLogger("django_polar.webhooks")


class Command(PolarCommand):
    help = "List, replay and retry stored Polar webhook events."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action")
        listing = sub.add_parser("list", help="List events (newest first).")
        listing.add_argument("--status", choices=WebhookEventStatus.values)
        listing.add_argument("--type", dest="event_type")
        listing.add_argument(
            "--limit",
            type=whole_number("--limit", 1, MAX_LIST_LIMIT),
            default=50,
            help=f"How many, 1 to {MAX_LIST_LIMIT} (default 50).",
        )
        one = sub.add_parser("replay", help="Apply one event again, whatever its status.")
        one.add_argument("event", help="webhook-id or primary key")
        retry = sub.add_parser(
            "retry-failed",
            help=(
                "Retry failed events that are due, and apply pending events stranded for "
                "longer than --stale-after (the process died after answering Polar)."
            ),
        )
        retry.add_argument(
            "--all", action="store_true", help="Also failed events not due yet or out of attempts."
        )
        retry.add_argument(
            "--stale-after",
            type=whole_number("--stale-after", 0, 10 * 365 * 86400),
            default=int(STALE_PENDING_AFTER.total_seconds()),
            metavar="SECONDS",
            help="Apply pending events received at least this long ago (default: %(default)s).",
        )

    def handle(self, *args: Any, action: str | None = None, **options: Any) -> None:
        if action == "replay":
            self._replay(options["event"])
        elif action == "retry-failed":
            self._retry(options["all"], options["stale_after"])
        elif action == "list":
            self._list(options["status"], options["event_type"], options["limit"])
        else:
            self._summary()

    def _summary(self) -> None:
        counts = dict(WebhookEvent.objects.values_list("status").annotate(n=Count("pk")).order_by())
        for status in WebhookEventStatus.values:
            self.stdout.write(f"{status:<10} {counts.get(status, 0)}")
        self._list(None, None, 10)

    def _list(self, status: str | None, event_type: str | None, limit: int) -> None:
        events = WebhookEvent.objects.all()
        if status:
            events = events.filter(status=status)
        if event_type:
            events = events.filter(type=event_type)
        for event in events[:limit]:
            error = event.last_error.strip().splitlines()[-1] if event.last_error else ""
            self.stdout.write(
                f"{event.pk:>6} {event.webhook_id} {event.type or '(malformed)'} "
                f"{event.status} attempts={event.attempts} "
                f"received={event.received_at:%Y-%m-%d %H:%M:%S} {error}".rstrip()
            )

    def _replay(self, key: str) -> None:
        lookup = Q(webhook_id=key)
        if key.isdigit():
            lookup |= Q(pk=int(key))
        event = WebhookEvent.objects.filter(lookup).first()
        if event is None:
            raise CommandError(f"No stored webhook event with webhook-id or pk {key!r}.")
        try:
            event = replay(event)
        except Exception as exc:
            raise CommandError(f"Replaying event {event.webhook_id} crashed: {exc!r}") from exc
        self._report(event)
        if event.status == WebhookEventStatus.FAILED:
            raise CommandError(f"Event {event.webhook_id} failed again; see its last error.")

    def _retry(self, everything: bool, stale_after: int) -> None:
        released = release_abandoned_tasks(timedelta(seconds=stale_after))
        if released:
            self.stdout.write(f"Released {released} task(s) a dead worker left running.")
        events = next_due(stale_after=timedelta(seconds=stale_after))
        if everything:
            events = events | WebhookEvent.objects.failed()
        done = failed = 0
        for pk in list(events.order_by("timestamp", "pk").values_list("pk", flat=True)):
            try:
                event = process_event(pk)
            except Exception as exc:  # e.g. the database went away: the next ones may work
                logger.exception("Retrying webhook event %s crashed", pk)
                self.stdout.write(self.style.ERROR(f"event {pk}: crashed ({exc!r})"))
                failed += 1
                continue
            self._report(event)
            failed += event.status == WebhookEventStatus.FAILED
            done += event.status != WebhookEventStatus.FAILED
        self.stdout.write(f"Retried {done + failed}: {done} applied, {failed} failed again.")
        if failed:
            raise CommandError(
                f"{failed} event(s) failed; see `polar_webhooks list --status failed`.",
                returncode=min(failed, 255),
            )

    def _report(self, event: WebhookEvent) -> None:
        line = f"{event.webhook_id} {event.type}: {event.status}"
        if event.status == WebhookEventStatus.FAILED:
            self.stdout.write(self.style.ERROR(line))
        else:
            self.stdout.write(self.style.SUCCESS(line))
