"""Webhook events as Polar sends them: Standard Webhooks signatures (both key schemes),
per-endpoint ordered queues, retries with backoff, and the endpoint disabled once its 10
latest finished events all failed (webhook/tasks.py, webhook/service.py ``on_event_failed``).

Where the emulator is stricter than Polar: a failing event holds the later ones of its
endpoint back until it succeeds or runs out of attempts; Polar's FIFO guard
(``count_earlier_pending_events``) only waits until each earlier event had one attempt,
and for at most a minute."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from standardwebhooks.webhooks import Webhook

from .store import iso, parse_iso

if TYPE_CHECKING:
    from .core import Emulator

# config.py WEBHOOK_MAX_RETRIES: deliveries of one event before it is failed for good.
MAX_ATTEMPTS = 10
# config.py WEBHOOK_FAILURE_THRESHOLD: that many latest finished events all failed
# disables the endpoint (webhook/service.py ``on_event_failed``).
DISABLE_AFTER = 10
TIMEOUT = 10.0
Target = str | Callable[[bytes, dict[str, str]], int]


def signing_key(secret: str, scheme: str) -> str:
    """The key standardwebhooks needs: the whsec_ secret as is, or (legacy, before
    2026-09-08) the base64 of the secret's UTF-8 bytes so the HMAC key is the whole string."""
    if scheme == "standard":
        return secret
    if scheme == "legacy":
        return base64.b64encode(secret.encode()).decode()
    raise ValueError("scheme must be 'standard' or 'legacy'")


def backoff(attempt: int) -> timedelta:
    """Wait after failed delivery n (1-based): webhook/tasks.py computes dramatiq's
    ``compute_backoff(n, factor=2000 ms, max_backoff=20 min)``, 2 s x 2^n with jitter
    below that; the emulator waits the upper bound (4 s, 8 s, 16 s ... 20 minutes)."""
    return timedelta(seconds=min(2 * 2**attempt, 20 * 60))


@dataclass
class Delivery:
    webhook_id: str
    type: str
    body: bytes
    attempts: int = 0
    next_attempt_at: str | None = None
    redeliver: bool = False


@dataclass
class Endpoint:
    id: str
    target: Target
    secret: str
    scheme: str = "standard"
    events: frozenset[str] | None = None
    enabled: bool = True
    queue: list[Delivery] = field(default_factory=list)
    # Set for endpoints made through POST /v1/webhooks/endpoints (webhook_endpoints.py).
    url: str | None = None
    name: str | None = None
    format: str = "raw"
    created_at: str | None = None
    modified_at: str | None = None

    def wants(self, event_type: str) -> bool:
        return self.enabled and (self.events is None or event_type in self.events)


class Webhooks:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.endpoints: list[Endpoint] = []
        self.sent_events: list[dict[str, Any]] = []
        self.delivery_log: list[dict[str, Any]] = []
        # Per endpoint, per event: Polar's WebhookEvent (the webhook-id header is its id)
        # and every attempt as a WebhookDelivery, for GET /v1/webhooks/deliveries.
        self.webhook_events: dict[str, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        # Where an API-made endpoint's https URL really leads (see ``route``): the
        # emulator never sends a webhook off this machine by itself.
        self.routes: dict[str, Target] = {}
        self._deliver_lock = threading.RLock()
        self._http: httpx.Client | None = None
        self._quiet = 0

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Emit nothing inside (no record, no delivery): for bulk loads nobody listens to."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    @property
    def http(self) -> httpx.Client:
        """The HTTP client for URL endpoints, opened on first use (and again after ``close``)."""
        with self._deliver_lock:
            if self._http is None:
                self._http = httpx.Client(timeout=TIMEOUT, follow_redirects=False)
            return self._http

    def close(self) -> None:
        """Close the HTTP client and its keep-alive connections (the receiver's server
        would otherwise keep a thread per open connection). Safe to call twice."""
        with self._deliver_lock:
            http, self._http = self._http, None
        if http is not None:
            http.close()

    def add_endpoint(
        self,
        target: Target,
        *,
        secret: str,
        scheme: str = "standard",
        events: list[str] | None = None,
    ) -> Endpoint:
        Webhook(signing_key(secret, scheme))  # fail fast on an unusable secret
        endpoint = Endpoint(
            id=self.emu.store.new_id(),
            target=target,
            secret=secret,
            scheme=scheme,
            events=frozenset(events) if events else None,
        )
        self.endpoints.append(endpoint)
        return endpoint

    def emit(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        event = {
            "type": event_type,
            "timestamp": iso(self.emu.clock.now()),
            "api_version": self.emu.api_version,
            "data": data,
        }
        if self._quiet:
            return event
        self.sent_events.append(event)
        body = json.dumps(event, separators=(",", ":")).encode()
        for endpoint in self.endpoints:
            if endpoint.wants(event_type):
                delivery = Delivery(webhook_id=self.emu.store.new_id(), type=event_type, body=body)
                endpoint.queue.append(delivery)
                self.webhook_events[delivery.webhook_id] = {
                    "created_at": event["timestamp"],
                    "modified_at": None,
                    "id": delivery.webhook_id,
                    "last_http_code": None,
                    "succeeded": None,
                    "skipped": False,
                    "api_version": self.emu.api_version,
                    "payload": body.decode(),
                    "type": event_type,
                    "is_archived": False,
                    "_endpoint_id": endpoint.id,
                }
        return event

    def route(self, url: str, target: Target) -> None:
        """Deliver what an API-made endpoint at ``url`` receives to ``target`` (a local
        URL or a callable): Polar only accepts public https URLs for endpoints, which the
        emulator does not reach; an endpoint whose URL is not routed fails every attempt."""
        self.routes[url] = target

    def redeliver(self, webhook_event_id: str) -> None:
        """POST /v1/webhooks/events/{id}/redeliver: the same event (same webhook-id and
        body) is sent again (webhook/service.py ``redeliver_event``). webhook/tasks.py
        ``_webhook_event_send``: on a disabled endpoint it is only marked ``skipped``;
        attempts count every earlier delivery of the event, so redelivering an event that
        already failed 10 times gets one attempt, and its failure is final at once."""
        record = self.webhook_events[webhook_event_id]
        endpoint = next((e for e in self.endpoints if e.id == record["_endpoint_id"]), None)
        if endpoint is None:
            return
        if not endpoint.enabled:
            record["skipped"] = True
            return
        # Its own job, sent at once: the FIFO guard only waits for earlier events that had
        # no delivery yet, and this one had (that is how it can need redelivering).
        endpoint.queue.insert(
            0,
            Delivery(
                webhook_id=webhook_event_id,
                type=record["type"],
                body=record["payload"].encode(),
                attempts=sum(
                    1 for d in self.deliveries if d["_webhook_event_id"] == webhook_event_id
                ),
                redeliver=True,
            ),
        )

    def headers(self, endpoint: Endpoint, delivery: Delivery) -> dict[str, str]:
        # The header timestamp is the real send time: receivers check it against their
        # own clock (5 minutes tolerance), whatever the emulator's clock says.
        sent_at = datetime.now(UTC)
        signature = Webhook(signing_key(endpoint.secret, endpoint.scheme)).sign(
            delivery.webhook_id, sent_at, delivery.body.decode()
        )
        return {
            "content-type": "application/json",
            "user-agent": "polar.sh webhooks (django-polar emulator)",
            "webhook-id": delivery.webhook_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }

    def _send(
        self, endpoint: Endpoint, delivery: Delivery
    ) -> tuple[int | None, str | None, str | None]:
        """(HTTP status or None, error name or None, response body or error message)."""
        headers = self.headers(endpoint, delivery)
        target = endpoint.target
        if endpoint.url is not None:
            routed = self.routes.get(endpoint.url)
            if routed is None:
                message = "Not delivered: the emulator sends nothing off this machine."
                return None, "NotRouted", message
            target = routed
        try:
            if callable(target):
                return int(target(delivery.body, headers)), None, None
            response = self.http.post(target, content=delivery.body, headers=headers)
            return response.status_code, None, response.text[:2048]
        except httpx.HTTPError as exc:
            return None, type(exc).__name__, str(exc) or type(exc).__name__

    def _record(
        self, endpoint: Endpoint, delivery: Delivery, status: int | None, ok: bool, text: str | None
    ) -> None:
        now = iso(self.emu.clock.now())
        self.deliveries.append(
            {
                "created_at": now,
                "modified_at": None,
                "id": self.emu.store.new_id(),
                "succeeded": ok,
                "http_code": status,
                "response": text,
                "_webhook_event_id": delivery.webhook_id,
                "_endpoint_id": endpoint.id,
            }
        )
        record = self.webhook_events.get(delivery.webhook_id)
        if record is not None:
            # The event's ``succeeded`` stays null while retries remain (webhook/tasks.py).
            record.update(last_http_code=status, skipped=False, modified_at=now)
            if ok:
                record["succeeded"] = True

    def _failed_for_good(self, endpoint: Endpoint, delivery: Delivery) -> None:
        """webhook/tasks.py marks the event failed; webhook/service.py ``on_event_failed``
        disables the endpoint when its DISABLE_AFTER latest finished events (succeeded not
        null, newest first) all failed, and marks its pending events ``skipped``: they
        are never sent, even once the endpoint is enabled again."""
        record = self.webhook_events.get(delivery.webhook_id)
        if record is not None and record["succeeded"] is not True:
            record["succeeded"] = False
        if not endpoint.enabled:
            return
        finished = [
            e
            for e in reversed(self.webhook_events.values())  # newest first among equal times
            if e["_endpoint_id"] == endpoint.id and e["succeeded"] is not None
        ]
        finished.sort(key=lambda e: e["created_at"], reverse=True)
        recent = finished[:DISABLE_AFTER]
        if len(recent) >= DISABLE_AFTER and all(e["succeeded"] is False for e in recent):
            endpoint.enabled = False
            endpoint.modified_at = iso(self.emu.clock.now())
            for pending in endpoint.queue:
                skipped = self.webhook_events.get(pending.webhook_id)
                if skipped is not None and skipped["succeeded"] is None:
                    skipped["skipped"] = True
            endpoint.queue.clear()

    def pending(self) -> int:
        return sum(len(e.queue) for e in self.endpoints if e.enabled)

    def deliver(self, *, force: bool = False) -> int:
        """Send every delivery that is due; later events wait behind a failing one.

        ``force`` ignores retry backoff (tests call it to retry at once). Returns the
        number of successful deliveries.
        """
        delivered = 0
        with self._deliver_lock:
            for endpoint in self.endpoints:
                if endpoint.queue and self.emu.faults.shuffle:
                    self.emu.faults.rng.shuffle(endpoint.queue)
                while endpoint.enabled and endpoint.queue:
                    delivery = endpoint.queue[0]
                    now = self.emu.clock.now()
                    if (
                        not force
                        and delivery.next_attempt_at
                        and parse_iso(delivery.next_attempt_at) > now
                    ):
                        break
                    record = self.webhook_events.get(delivery.webhook_id)
                    if not delivery.redeliver and record and record["succeeded"] is True:
                        endpoint.queue.pop(0)  # tasks.py: "Event already succeeded, skipping"
                        continue
                    delivery.attempts += 1
                    status, error, text = self._send(endpoint, delivery)
                    ok = status is not None and 200 <= status < 300
                    self._record(endpoint, delivery, status, ok, text)
                    self.delivery_log.append(
                        {
                            "endpoint_id": endpoint.id,
                            "webhook_id": delivery.webhook_id,
                            "type": delivery.type,
                            "attempt": delivery.attempts,
                            "status": status,
                            "error": error,
                            "ok": ok,
                        }
                    )
                    if ok:
                        endpoint.queue.pop(0)
                        delivered += 1
                        if self.emu.faults.duplicate():
                            self._send(endpoint, delivery)
                            self.delivery_log.append(
                                {
                                    "endpoint_id": endpoint.id,
                                    "webhook_id": delivery.webhook_id,
                                    "type": delivery.type,
                                    "attempt": delivery.attempts,
                                    "status": None,
                                    "error": None,
                                    "ok": True,
                                    "duplicate": True,
                                }
                            )
                        continue
                    if delivery.attempts >= MAX_ATTEMPTS:
                        endpoint.queue.pop(0)
                        self._failed_for_good(endpoint, delivery)
                        continue
                    delivery.next_attempt_at = iso(now + backoff(delivery.attempts))
                    break
        return delivered
