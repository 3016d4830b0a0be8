"""The webhook doctor: is this site's endpoint enabled, and which events did Polar fail
to deliver that the inbox never stored?

Polar's rules it works from (server/polar/webhook/tasks.py and service.py):

- an event is delivered up to 10 times with backoff; its ``succeeded`` is null while
  retries remain and false once they are used up;
- when the endpoint's 10 latest finished events all failed, Polar disables the endpoint,
  marks its pending events ``skipped`` and emails the organization. It never enables it
  again by itself, makes no event for it while disabled, and a redelivery to a disabled
  endpoint is only marked skipped. So repairing means enabling first, then redelivering;
- events older than 90 days are archived (no payload) and cannot be redelivered.

What the doctor cannot see: events that happened while the endpoint was disabled were
never made, and pending events skipped before their first attempt have no delivery, so
Polar's API (which lists deliveries, not events) names neither; ``polar_sync`` brings
their objects in instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ..client import get_client
from ..models import WebhookEvent
from .endpoints import find_endpoint

#: How far back the doctor looks by default; Polar archives events after 90 days.
DEFAULT_DAYS = 30
RETENTION_DAYS = 90


@dataclass
class MissedEvent:
    """A Polar event with failed deliveries and no row in the local inbox."""

    id: str
    type: str
    created_at: str
    attempts: int
    last_http_code: int | None
    last_response: str
    archived: bool

    @property
    def redeliverable(self) -> bool:
        return not self.archived


@dataclass
class Diagnosis:
    url: str
    endpoint: dict[str, Any] | None
    missed: list[MissedEvent] = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint and self.endpoint.get("enabled"))

    @property
    def healthy(self) -> bool:
        return self.enabled and not self.missed


@dataclass
class Repair:
    enabled: bool = False
    redelivered: list[str] = field(default_factory=list)
    not_redeliverable: list[str] = field(default_factory=list)


def diagnose(url: str, *, days: int = DEFAULT_DAYS) -> Diagnosis:
    """Find the endpoint for ``url`` and the events Polar failed to deliver to it in the
    last ``days`` days whose ``webhook-id`` the inbox (``WebhookEvent``) never stored."""
    since = timezone.now() - timedelta(days=days)
    endpoint = find_endpoint(url)
    diagnosis = Diagnosis(url=url, endpoint=endpoint)
    if endpoint is None:
        return diagnosis
    deliveries = get_client().list_webhook_deliveries(
        endpoint_id=endpoint["id"], succeeded=False, start_timestamp=since.isoformat()
    )
    diagnosis.missed = missed_events(deliveries)
    return diagnosis


def missed_events(deliveries: Iterable[dict[str, Any]]) -> list[MissedEvent]:
    """Group failed deliveries by event; keep the events the inbox lacks and Polar never
    delivered after all (an event that finally succeeded was stored: the view answers 2xx
    only once the row is written)."""
    by_event: dict[str, list[dict[str, Any]]] = {}
    events: dict[str, dict[str, Any]] = {}
    for delivery in deliveries:
        event = delivery.get("webhook_event") or {}
        event_id = str(event.get("id") or "")
        if not event_id or event.get("succeeded") is True:
            continue
        by_event.setdefault(event_id, []).append(delivery)
        events[event_id] = event
    stored = set(
        WebhookEvent.objects.filter(webhook_id__in=list(by_event)).values_list(
            "webhook_id", flat=True
        )
    )
    missed = []
    for event_id, attempts in by_event.items():
        if event_id in stored:
            continue
        event = events[event_id]
        last = max(attempts, key=lambda d: str(d.get("created_at") or ""))
        missed.append(
            MissedEvent(
                id=event_id,
                type=str(event.get("type") or ""),
                created_at=str(event.get("created_at") or ""),
                attempts=len(attempts),
                last_http_code=last.get("http_code"),
                last_response=str(last.get("response") or "")[:200],
                archived=bool(event.get("is_archived")) or event.get("payload") is None,
            )
        )
    missed.sort(key=lambda m: m.created_at)
    return missed


def repair(diagnosis: Diagnosis) -> Repair:
    """Enable a disabled endpoint, then redeliver every missed event that Polar still
    holds: Polar marks a redelivery to a disabled endpoint skipped, so enabling comes first."""
    done = Repair()
    if diagnosis.endpoint is None:
        return done
    client = get_client()
    if not diagnosis.enabled:
        diagnosis.endpoint = client.update_webhook_endpoint(
            str(diagnosis.endpoint["id"]), {"enabled": True}
        )
        done.enabled = True
    for event in diagnosis.missed:
        if not event.redeliverable:
            done.not_redeliverable.append(event.id)
            continue
        client.redeliver_webhook_event(event.id)
        done.redelivered.append(event.id)
    return done
