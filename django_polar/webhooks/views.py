"""The webhook inbox: verify, store once, acknowledge, then apply.

Acknowledge first: Polar times out after 10 s (its docs ask for 2 s) and counts a slow
answer as a failure, so the mirror work is kept out of the answer. The event is committed
before the 200 is built; in the default ``inline`` mode the 200 is an ``AckResponse``
whose ``close()`` applies the event. Every WSGI server (PEP 3333) and Django's ASGI
handler call ``close()`` after the last byte of the body has been sent, and Django's test
``Client`` calls it before ``post()`` returns, so tests see the mirror updated. A crash
while applying leaves the event ``failed`` with its traceback (``polar_webhooks
retry-failed`` retries it) and cannot change the answer, which is already sent. A
process that dies before ``close()`` runs leaves the event ``pending``; ``retry-failed``
applies it once it is older than ``--stale-after`` (5 minutes). In ``task`` mode the
event is handed to a worker on commit instead.

Answers (Polar disables an endpoint after 10 consecutive non-2xx, so only requests that
are not authentic, or that could not be stored, get one):

* 200 ``{"status": "stored"}`` for every authentic event once it is stored, including types
  the mirror ignores, events that fail to apply (kept ``failed``, replayable) and
  authentic bodies that are not a valid event or that the database cannot hold as JSON
  (``NaN``, ``1e999``, ``\\u0000``, lone surrogates, absurd nesting: stored ``failed`` as
  malformed with the raw text escaped; nothing Polar signed is ever dropped, and a 4xx
  or 5xx would only make Polar resend it for days);
* 200 ``{"status": "duplicate"}`` for a webhook-id already stored (not applied again);
* 400 malformed request (headers missing or garbled, body not UTF-8), 403 not authentic
  (bad or missing signature, wrong secret, stale timestamp), 405 not POST, 413 too large,
  503 the event could not be stored (Polar will retry). No detail is ever returned.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import signals
from ..conf import polar_settings
from ..errors import UnstorableWebhookBody
from ..models import WebhookEvent, WebhookEventStatus
from ..models.convert import text, to_datetime
from ..tasks import enqueue_event
from . import dispatch
from .verify import VerificationError, verify

logger = logging.getLogger("django_polar.webhooks")


def _answer(status: int, message: str) -> JsonResponse:
    return JsonResponse({"status": message}, status=status)


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body, or None when it is larger than ``limit`` (read at most limit + 1)."""
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


#: Deeper JSON is not a Polar event; parsing or storing it could exhaust the stack.
MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> Any:
    raise UnstorableWebhookBody(f"the body contains {name}, which is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnstorableWebhookBody(f"the number {text[:20]} does not fit a float")
    return value


def _check_storable(payload: Any) -> None:
    """Raise UnstorableWebhookBody for what PostgreSQL's jsonb or SQLite's JSON_VALID refuse: NUL
    characters, lone surrogates, nesting deeper than MAX_JSON_DEPTH (walked without
    recursion, so a deep body cannot overflow the stack here either)."""
    stack: list[tuple[Any, int]] = [(payload, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise UnstorableWebhookBody(f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((key, depth + 1) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise UnstorableWebhookBody("the body contains a NUL character")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise UnstorableWebhookBody("the body contains a lone surrogate") from None


def parse_body(body: str) -> Any:
    """The body as JSON the database can store; UnstorableWebhookBody or ValueError otherwise."""
    try:
        payload = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise UnstorableWebhookBody("the body is nested too deeply to parse") from None
    _check_storable(payload)
    return payload


def escaped(body: str) -> str:
    """The raw body with every character a database could refuse escaped as in JSON
    (``\\u0000``...): ``json.loads('"' + escaped(body) + '"') == body``."""
    return json.dumps(body, ensure_ascii=False)[1:-1]


def malformed_fields(
    body: str, webhook_id: str, signed_at: datetime, reason: str
) -> dict[str, Any]:
    """The inbox row for an authentic body that is not an event we can store as JSON:
    ``failed`` (never retried), the raw text kept, escaped."""
    return {
        "webhook_id": webhook_id,
        "timestamp": signed_at,
        "type": "",
        "payload": {"raw_body": escaped(body)},
        "status": WebhookEventStatus.FAILED,
        "last_error": f"Malformed event: {reason}.",
    }


def event_fields(body: str, webhook_id: str, signed_at: datetime) -> dict[str, Any]:
    """The inbox row for an authentic body; malformed bodies are kept as ``failed``."""
    try:
        payload = parse_body(body)
    except UnstorableWebhookBody as exc:
        return malformed_fields(body, webhook_id, signed_at, str(exc))
    except ValueError:
        return malformed_fields(body, webhook_id, signed_at, "the body is not JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        fields = malformed_fields(
            body, webhook_id, signed_at, "the body is not a JSON object with a string 'type'"
        )
        if isinstance(payload, dict):
            fields["payload"] = payload
        return fields
    data: dict[str, Any] = payload["data"] if isinstance(payload.get("data"), dict) else {}
    return {
        "webhook_id": webhook_id,
        "type": text(payload["type"], 64),
        "payload": payload,
        "api_version": text(payload.get("api_version"), 16),
        "object_id": text(data.get("id"), 64),
        "timestamp": to_datetime(payload.get("timestamp")) or signed_at,
    }


def store(fields: dict[str, Any]) -> WebhookEvent | None:
    """Insert the event; None when its webhook-id is already stored (a duplicate).

    The view runs in autocommit (``non_atomic_requests``), where the INSERT commits on its
    own: one round trip, the floor of "store, then acknowledge". Inside a caller's
    transaction a savepoint keeps that transaction usable after a duplicate.
    """
    try:
        if not transaction.get_connection().in_atomic_block:
            return WebhookEvent.objects.create(**fields)
        with transaction.atomic():
            return WebhookEvent.objects.create(**fields)
    except IntegrityError:
        if WebhookEvent.objects.filter(webhook_id=fields["webhook_id"]).exists():
            return None
        raise


def apply_stored(event_pk: int) -> None:
    """Apply a stored event; never raises (a failure is recorded on the event)."""
    try:
        dispatch.process_event(event_pk)
    except Exception:
        # The event is stored; applying is retried later (retry-failed / replay).
        logger.exception("Processing webhook event %s crashed", event_pk)


class AckResponse(JsonResponse):
    """The 200 for a stored event, applying it in ``close()``: after the answer is sent.

    ``HttpResponse.close()`` is the documented hook a WSGI/ASGI server calls once the
    response has been delivered; the event is applied before Django's own ``close()``
    (which sends ``request_finished`` and so releases the database connection).
    """

    def __init__(self, event_pk: int | None) -> None:
        super().__init__({"status": "stored"}, status=200)
        self.apply_event_pk = event_pk

    def close(self) -> None:
        event_pk, self.apply_event_pk = self.apply_event_pk, None  # once, even if closed twice
        try:
            if event_pk is not None:
                apply_stored(event_pk)
        finally:
            super().close()


def schedule(event: WebhookEvent) -> JsonResponse:
    """The answer for a stored event: apply it after the answer (inline, the default),
    or hand it to a task worker once the transaction commits."""
    if event.status != WebhookEventStatus.PENDING:
        return AckResponse(None)  # stored as malformed: nothing to apply
    if polar_settings.WEBHOOK_PROCESSING == "task":
        enqueue_event(event.pk)
        return AckResponse(None)
    return AckResponse(event.pk)


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
    except (DataError, IntegrityError) as exc:
        # The database refused this content (a value our checks did not foresee): keep the
        # raw text as a malformed row rather than refusing what Polar signed.
        logger.warning("Webhook event %s stored as malformed: %s", verified.webhook_id, exc)
        reason = "the database refused the body as JSON"
        malformed = malformed_fields(verified.body, verified.webhook_id, verified.timestamp, reason)
        try:
            event = store(malformed)
        except DatabaseError:
            logger.exception("Could not store webhook event %s", verified.webhook_id)
            return _answer(503, "not stored")
    except DatabaseError:
        logger.exception("Could not store webhook event %s", verified.webhook_id)
        return _answer(503, "not stored")
    if event is None:
        return _answer(200, "duplicate")
    dispatch.send_signal(signals.webhook_received, event, sender=WebhookEvent)
    return schedule(event)
