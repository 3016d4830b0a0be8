"""The fidelity oracle: the official polar-sdk types every emulator output must load into."""

from __future__ import annotations

import json
import typing
from typing import Any

import polar
from polar.v2026_10 import outputs, webhooks

WEBHOOK_PAYLOADS: dict[str, Any] = {
    typing.get_args(typing.get_type_hints(cls)["type"])[0]: cls
    for cls in typing.get_args(webhooks.WebhookPayload)
}
ALL_EVENT_TYPES = frozenset(WEBHOOK_PAYLOADS)


def explain(exc: BaseException, depth: int = 0) -> str:
    """adaptix nests its errors; flatten them so a failing test says which field broke."""
    lines = [
        "  " * depth + f"{type(exc).__name__}: {str(exc)[:200]} {getattr(exc, '__notes__', '')}"
    ]
    for sub in getattr(exc, "exceptions", None) or []:
        lines.append(explain(sub, depth + 1))
    return "\n".join(lines)


def _load(data: Any, model: Any) -> Any:
    try:
        return polar.deserialize(data, model)
    except polar.PolarDeserializationError as exc:
        raise AssertionError(
            f"{model} rejected the emulator's output:\n{explain(exc.error)}"
        ) from None


def load(data: Any, name: str) -> Any:
    """Deserialize ``data`` as polar.v2026_10.outputs.<name>; raises on any mismatch."""
    return _load(data, getattr(outputs, name))


def load_event(event: dict[str, Any]) -> Any:
    """Deserialize one webhook body with the SDK class for its type (precise errors)."""
    return _load(event, WEBHOOK_PAYLOADS[event["type"]])


def check_signed(body: bytes, headers: dict[str, str], secret: str) -> Any:
    """The SDK's own verification + parsing of a delivered webhook."""
    try:
        payload = webhooks.validate_event(body, headers, secret)
    except webhooks.PolarWebhookError as exc:
        if isinstance(exc, webhooks.PolarWebhookVerificationError):
            raise
        load_event(json.loads(body))  # re-load alone for a precise message
        raise
    assert payload.type == json.loads(body)["type"]
    return payload
