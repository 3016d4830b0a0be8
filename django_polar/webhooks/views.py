"""The webhook inbox: verify, store once, acknowledge, then apply.

Answers (Polar disables an endpoint after 10 consecutive non-2xx, so only requests that
are not authentic, or that could not be stored, get one):

* 200 ``{"status": "stored"}`` for every authentic event once it is stored, including types
  the mirror ignores, events that fail to apply (kept ``failed``, replayable) and
  authentic bodies that are not a valid event (stored ``failed`` as malformed: nothing
  Polar signed is ever dropped, and a 4xx would only make Polar resend it for days);
* 200 ``{"status": "duplicate"}`` for a webhook-id already stored (not applied again);
* 400 malformed request (headers missing or garbled, body not UTF-8), 403 not authentic
  (bad or missing signature, wrong secret, stale timestamp), 405 not POST, 413 too large,
  503 the event could not be stored (Polar will retry). No detail is ever returned.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import signals
from ..conf import polar_settings
from ..mirror.guard import text, to_datetime
from ..models import WebhookEvent, WebhookEventStatus
from . import dispatch
from .verify import VerificationError, verify

try:  # Django >= 5.1
    from django.contrib.auth.decorators import login_not_required
except ImportError:  # pragma: no cover - Django < 5.1 has no LoginRequiredMiddleware

    def login_not_required(view):  # type: ignore[no-redef]
        return view


logger = logging.getLogger("django_polar.webhooks")


def _answer(status: int, message: str) -> JsonResponse:
    return JsonResponse({"status": message}, status=status)


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body, or None when it is larger than ``limit`` (read at most limit + 1)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def event_fields(body: str, webhook_id: str, signed_at: datetime) -> dict[str, Any]:
    """The inbox row for an authentic body; malformed bodies are kept as ``failed``."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    fields: dict[str, Any] = {"webhook_id": webhook_id, "timestamp": signed_at}
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        fields.update(
            type="",
            payload=payload if isinstance(payload, dict) else {"raw_body": body},
            status=WebhookEventStatus.FAILED,
            last_error="Malformed event: the body is not a JSON object with a string 'type'.",
        )
        return fields
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    fields.update(
        type=text(payload["type"], 64),
        payload=payload,
        api_version=text(payload.get("api_version"), 16),
        object_id=text(data.get("id"), 64),
        timestamp=to_datetime(payload.get("timestamp")) or signed_at,
    )
    return fields


def store(fields: dict[str, Any]) -> WebhookEvent | None:
    """Insert the event; None when its webhook-id is already stored (a duplicate)."""
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(**fields)
    except IntegrityError:
        if WebhookEvent.objects.filter(webhook_id=fields["webhook_id"]).exists():
            return None
        raise


def schedule(event: WebhookEvent) -> None:
    """Apply now (inline, the default) or hand the event to a task worker."""
    if event.status != WebhookEventStatus.PENDING:
        return
    if polar_settings.WEBHOOK_PROCESSING == "task":
        from ..tasks import enqueue_event

        enqueue_event(event.pk)
        return
    try:
        dispatch.process_event(event.pk)
    except Exception:
        # The event is stored; applying is retried later (retry-failed / replay).
        logger.exception("Processing webhook event %s crashed", event.webhook_id)


@csrf_exempt
@login_not_required
@require_POST
@transaction.non_atomic_requests
def webhook(request: HttpRequest) -> JsonResponse:
    """``POST polar/webhook/``: Polar's signed events enter the app here."""
    body = _read_body(request, polar_settings.WEBHOOK_MAX_BODY_BYTES)
    if body is None:
        return _answer(413, "too large")
    try:
        verified = verify(
            body,
            request.headers,
            polar_settings.WEBHOOK_SECRET,
            tolerance=polar_settings.WEBHOOK_TOLERANCE,
        )
    except VerificationError as exc:
        logger.warning("Refused webhook from %s: %s", request.META.get("REMOTE_ADDR"), exc)
        return _answer(exc.status, "refused")
    fields = event_fields(verified.body, verified.webhook_id, verified.timestamp)
    try:
        event = store(fields)
    except DatabaseError:
        logger.exception("Could not store webhook event %s", verified.webhook_id)
        return _answer(503, "not stored")
    if event is None:
        return _answer(200, "duplicate")
    dispatch._send(signals.webhook_received, event, sender=WebhookEvent)
    schedule(event)
    return _answer(200, "stored")
