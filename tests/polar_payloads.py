"""Polar 2026-10 objects and signed deliveries for the webhook and mirror tests.

Shapes follow polar-sdk 1.0.2 (`polar.v2026_10`), which tests/test_polar_payloads.py checks
every builder here against; the emulator-driven tests use the emulator's own objects instead.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

ORG = "11111111-1111-4111-8111-111111111111"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def new_id() -> str:
    return str(uuid.uuid4())


def customer(
    cid: str, external_id: str | None = None, *, modified: datetime | None = None, **kw
) -> dict:
    return {
        "id": cid,
        "created_at": iso(T0),
        "modified_at": iso(modified),
        "metadata": {},
        "external_id": external_id,
        "email": "ada@example.com",
        "email_verified": True,
        "type": "individual",
        "name": "Ada",
        "billing_name": None,
        "billing_address": None,
        "tax_id": None,
        "locale": None,
        "organization_id": ORG,
        "default_payment_method_id": None,
        "deleted_at": None,
        "first_user_event_at": None,
        "avatar_url": None,
        **kw,
    }


def benefit(bid: str, **kw) -> dict:
    return {
        "id": bid,
        "created_at": iso(T0),
        "modified_at": None,
        "type": "custom",
        "description": "Priority support",
        "selectable": True,
        "deletable": True,
        "is_deleted": False,
        "organization_id": ORG,
        "metadata": {},
        "visibility": "public",
        "properties": {"note": None},
        "visibility_configurable": True,
        **kw,
    }


def price(pid: str, product_id: str, amount: int = 1500, **kw) -> dict:
    return {
        "id": pid,
        "created_at": iso(T0),
        "modified_at": None,
        "source": "catalog",
        "amount_type": "fixed",
        "price_currency": "usd",
        "tax_behavior": None,
        "is_archived": False,
        "product_id": product_id,
        "price_amount": amount,
        **kw,
    }


def product(pid: str, prices: list[dict], benefits: list[dict], **kw) -> dict:
    return {
        "id": pid,
        "created_at": iso(T0),
        "modified_at": None,
        "trial_interval": None,
        "trial_interval_count": None,
        "name": "Pro",
        "description": "The pro plan",
        "visibility": "public",
        "recurring_interval": "month",
        "recurring_interval_count": 1,
        "meter_interval": None,
        "meter_interval_count": None,
        "is_recurring": True,
        "is_archived": False,
        "is_deletable": True,
        "organization_id": ORG,
        "metadata": {},
        "prices": prices,
        "benefits": benefits,
        "medias": [],
        "attached_custom_fields": [],
        **kw,
    }


def subscription(sid: str, cust: dict, prod: dict, *, modified: datetime | None, **kw) -> dict:
    return {
        "created_at": iso(T0),
        "modified_at": iso(modified),
        "id": sid,
        "amount": 1500,
        "currency": "usd",
        "recurring_interval": "month",
        "recurring_interval_count": 1,
        "status": "active",
        "current_period_start": iso(T0),
        "current_period_end": iso(T0 + timedelta(days=30)),
        "current_meter_period_start": None,
        "current_meter_period_end": None,
        "trial_start": None,
        "trial_end": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "started_at": iso(T0),
        "ends_at": None,
        "ended_at": None,
        "past_due_at": None,
        "pause_at_period_end": False,
        "paused_at": None,
        "resumes_at": None,
        "customer_id": cust["id"],
        "product_id": prod["id"],
        "discount_id": None,
        "checkout_id": None,
        "seats": None,
        "units": None,
        "customer_cancellation_reason": None,
        "customer_cancellation_comment": None,
        "metadata": {},
        "custom_field_data": {},
        "customer": cust,
        "product": prod,
        "discount": None,
        "prices": prod["prices"],
        "meters": [],
        "pending_update": None,
        **kw,
    }


def envelope(event_type: str, data: dict, *, timestamp: datetime | None = None) -> dict:
    return {
        "type": event_type,
        "timestamp": iso(timestamp or datetime.now(UTC)),
        "api_version": "2026-10",
        "data": data,
    }


def standard_secret(raw: bytes = b"test-webhook-secret-0123456789") -> str:
    return "whsec_" + base64.b64encode(raw).decode()


def sign(
    body: bytes | str,
    secret: str,
    *,
    scheme: str = "standard",
    webhook_id: str | None = None,
    timestamp: float | None = None,
) -> dict[str, str]:
    """Headers Polar would send for ``body`` under the given key scheme."""
    text = body.decode() if isinstance(body, bytes) else body
    key = secret if scheme == "standard" else base64.b64encode(secret.encode()).decode()
    ts = int(time.time() if timestamp is None else timestamp)
    webhook_id = webhook_id or "msg_" + uuid.uuid4().hex
    signature = Webhook(key).sign(webhook_id, datetime.fromtimestamp(ts, tz=UTC), text)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def as_meta(headers: dict[str, str]) -> dict[str, str]:
    """Test-client kwargs for HTTP headers."""
    return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()
