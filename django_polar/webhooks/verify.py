"""Signature verification of Polar webhooks (Standard Webhooks, both of Polar's key schemes).

Polar signs ``"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256. Secrets made
before 2026-09-08 key the HMAC with the UTF-8 bytes of the whole secret ("legacy");
``whsec_`` secrets key it with the base64-decoded part after the prefix ("standard").
Both keys are tried, against every ``v1`` signature in the header. Errors carry a short
reason for logs and never the secret or the expected signature.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks import Webhook

from ..errors import MalformedRequest, VerificationError

MAX_WEBHOOK_ID_LENGTH = 255
logger = logging.getLogger("django_polar.webhooks")


@dataclass(frozen=True)
class Verified:
    webhook_id: str
    timestamp: datetime
    body: str


@functools.lru_cache(maxsize=8)
def signing_keys(secret: str) -> tuple[Webhook, ...]:
    """Verifiers for both key schemes of ``secret`` (cached: derivation per request is waste)."""
    keys: list[Webhook] = []
    try:
        keys.append(Webhook(secret))  # standard: base64 part after "whsec_"
    except Exception:  # binascii.Error, EmptyWebhookSecretError: only the legacy scheme applies
        logger.debug("The webhook secret is not base64; only the legacy key scheme applies")
    keys.append(Webhook(base64.b64encode(secret.encode()).decode()))  # legacy: the raw bytes
    return tuple(keys)


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.title()) or ""
    return value.strip()


#: Standard Webhooks: ``webhook-timestamp`` is integer seconds since the epoch.
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


def _timestamp(raw: str) -> int:
    if not TIMESTAMP_RE.fullmatch(raw):
        raise MalformedRequest("webhook-timestamp is not an integer number of seconds")
    return int(raw)


def _signatures(header: str) -> list[bytes]:
    found = []
    for item in header.split():
        version, sep, encoded = item.partition(",")
        if version != "v1" or not sep:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> Verified:
    """Check a webhook's signature and freshness; return its id, time and decoded body.

    Raises MalformedRequest (missing/garbled headers, non-UTF-8 body) or
    VerificationError (no secret, stale timestamp, no matching signature).
    """
    if not secret:
        raise VerificationError("POLAR['WEBHOOK_SECRET'] is not set")
    webhook_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    raw_signature = _header(headers, "webhook-signature")
    if not (webhook_id and raw_timestamp and raw_signature):
        raise MalformedRequest("missing webhook-id, webhook-timestamp or webhook-signature")
    if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH:
        raise MalformedRequest("webhook-id is too long")
    timestamp = _timestamp(raw_timestamp)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise VerificationError("webhook-timestamp outside the tolerance")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("body is not UTF-8") from None
    signatures = _signatures(raw_signature)
    if not signatures:
        raise VerificationError("no v1 signature in webhook-signature")
    signed_at = datetime.fromtimestamp(timestamp, tz=UTC)
    for key in signing_keys(secret):
        expected = base64.b64decode(key.sign(webhook_id, signed_at, text).partition(",")[2])
        if any(hmac.compare_digest(expected, sig) for sig in signatures):
            return Verified(webhook_id=webhook_id, timestamp=signed_at, body=text)
    raise VerificationError("no matching signature")
