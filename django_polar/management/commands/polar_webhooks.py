"""Operate the webhook inbox.

manage.py polar_webhooks                       # counts by status, latest events
manage.py polar_webhooks list --status failed  # events with that status
manage.py polar_webhooks replay <webhook-id or pk>
manage.py polar_webhooks retry-failed [--all] [--stale-after SECONDS]
    # failed events whose retry time came, and pending events older than --stale-after
    # (default 300 s): stranded when a process died between answering Polar and applying.
    # Run it from cron. Each event is applied on its own: one that fails never stops the
    # rest, and the exit status is the number that failed (capped at 255; 0: all applied).
manage.py polar_webhooks register [--url https://example.com] [--name NAME]
    # creates this site's endpoint in Polar (every event type, raw format) and prints its
    # secret, once: put it in POLAR["WEBHOOK_SECRET"]. Refuses a second endpoint for a URL.
manage.py polar_webhooks doctor [--url ...] [--days 30] [--fix | --noinput]
    # is the endpoint enabled? which events did Polar fail to deliver that the inbox never
    # stored? offers to enable it and redeliver them; --fix does so without asking. Exit
    # status 1 while something is wrong and not repaired. (django_polar/webhooks/doctor.py)
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db.models import Count, Q

from ...errors import PolarError, WebhookEndpointError
from ...models import WebhookEvent, WebhookEventStatus
from ...tasks import release_abandoned_tasks
from ...webhooks import doctor
from ...webhooks.dispatch import STALE_PENDING_AFTER, next_due, process_event, replay
from ...webhooks.endpoints import register, webhook_url
from ..base import MAX_LIST_LIMIT, PolarCommand, whole_number

logger = logging.getLogger("django_polar.webhooks")


class Command(PolarCommand):
    help = (
        "List, replay and retry stored Polar webhook events; register this site's endpoint "
        "in Polar and check it (doctor)."
    )
    stealth_options = (*PolarCommand.stealth_options, "stdin")

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

        url_help = (
            "The site's public origin, e.g. https://example.com (default: POLAR['SITE_URL']); "
            "the webhook view's path is added."
        )
        reg = sub.add_parser("register", help="Create this site's webhook endpoint in Polar.")
        reg.add_argument("--url", help=url_help)
        reg.add_argument("--name", help="A name for the endpoint in Polar's dashboard.")
        doc = sub.add_parser(
            "doctor",
            help="Check the endpoint in Polar and redeliver what the inbox never stored.",
        )
        doc.add_argument("--url", help=url_help)
        doc.add_argument(
            "--days",
            type=whole_number("--days", 1, doctor.RETENTION_DAYS),
            default=doctor.DEFAULT_DAYS,
            help="How far back to look (default %(default)s; Polar keeps events 90 days).",
        )
        doc.add_argument(
            "--fix",
            action="store_true",
            help="Enable a disabled endpoint and redeliver the missed events without asking.",
        )
        doc.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Only report; ask nothing (the default when stdin is not a terminal).",
        )

    def handle(self, *args: Any, action: str | None = None, **options: Any) -> None:
        if action in ("register", "doctor"):
            try:
                url = webhook_url(options["url"])
                if action == "register":
                    self._register(url, options["name"])
                else:
                    self._doctor(url, options)
            except (WebhookEndpointError, PolarError) as exc:
                raise CommandError(str(exc)) from exc
        elif action == "replay":
            self._replay(options["event"])
        elif action == "retry-failed":
            self._retry(options["all"], options["stale_after"])
        elif action == "list":
            self._list(options["status"], options["event_type"], options["limit"])
        else:
            self._summary()

    def _register(self, url: str, name: str | None) -> None:
        endpoint = register(url, name=name)
        self.stdout.write(
            self.style.SUCCESS(f"Created webhook endpoint {endpoint['id']} for {url}") + "\n"
            f"  format {endpoint.get('format')}, {len(endpoint.get('events') or [])} event types"
        )
        self.stdout.write(
            "Its secret, shown this once (Polar's dashboard can reset it, not show it again):\n\n"
            f"    {endpoint['secret']}\n\n"
            'Put it in POLAR["WEBHOOK_SECRET"] (e.g. the POLAR_WEBHOOK_SECRET environment '
            "variable your settings read) and deploy; until then every delivery is refused "
            "with 403 and Polar retries it."
        )

    def _doctor(self, url: str, options: dict[str, Any]) -> None:
        diagnosis = doctor.diagnose(url, days=options["days"])
        out = self.stdout
        if diagnosis.endpoint is None:
            out.write(self.style.ERROR(f"Polar has no webhook endpoint for {url}."))
            raise CommandError("Create it with `manage.py polar_webhooks register`.")
        endpoint = diagnosis.endpoint
        if diagnosis.enabled:
            out.write(self.style.SUCCESS(f"Endpoint {endpoint['id']} for {url}: enabled."))
        else:
            out.write(
                self.style.ERROR(
                    f"Endpoint {endpoint['id']} for {url}: DISABLED (since about "
                    f"{endpoint.get('modified_at') or '?'}). Polar disables an endpoint when "
                    "its 10 latest events all failed every retry and sends it nothing until "
                    "it is enabled again. Events made since were never made for it, and "
                    "events still waiting for a first attempt were skipped: Polar's API "
                    "lists neither, so run `manage.py polar_sync all` after enabling it."
                )
            )
        missed = diagnosis.missed
        out.write(
            f"{len(missed)} event(s) Polar failed to deliver in the last {options['days']} days "
            "that the inbox never stored."
        )
        for event in missed:
            code = event.last_http_code if event.last_http_code is not None else "no answer"
            archived = " (archived: cannot be redelivered)" if event.archived else ""
            out.write(
                f"  {event.id} {event.type} created {event.created_at} attempts={event.attempts} "
                f"last={code} {event.last_response}".rstrip()
                + archived
            )
        if diagnosis.healthy:
            return
        if not options["fix"] and not self._confirm(options, diagnosis):
            raise CommandError("Not repaired; run `polar_webhooks doctor --fix` to repair.")
        done = doctor.repair(diagnosis)
        if done.enabled:
            out.write(self.style.SUCCESS(f"Enabled endpoint {endpoint['id']}."))
        out.write(self.style.SUCCESS(f"Asked Polar to redeliver {len(done.redelivered)} event(s)."))
        if done.not_redeliverable:
            raise CommandError(
                f"{len(done.not_redeliverable)} archived event(s) cannot be redelivered; "
                "`manage.py polar_sync all` brings their objects in."
            )

    def _confirm(self, options: dict[str, Any], diagnosis: doctor.Diagnosis) -> bool:
        stdin = options.get("stdin") or sys.stdin
        if not options["interactive"] or not (options.get("stdin") or stdin.isatty()):
            return False
        steps = [] if diagnosis.enabled else ["enable the endpoint"]
        if diagnosis.missed:
            steps.append(f"redeliver {len(diagnosis.missed)} event(s)")
        self.stdout.write(f"{' and '.join(steps).capitalize()}? [y/N] ", ending="")
        self.stdout.flush()
        return stdin.readline().strip().lower() in ("y", "yes")

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
