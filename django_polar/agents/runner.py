"""Running one tool call for one token: rights, arguments, errors, the audit log.

Whatever happens, the call is recorded (token, tool, arguments, outcome, and for writes
Polar's answer). Errors come back as ``AgentToolError`` with a message the assistant can
act on: Polar's own words when Polar refused, ``retry_after`` on a rate limit. A failure
is never turned into a success.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..errors import (
    AgentTokenError,
    AgentToolError,
    CheckoutError,
    CustomerConflictError,
    PolarAPIError,
    PolarError,
    PolarNetworkError,
    PolarRateLimitError,
    redact_data,
)
from ..models import AgentCall, AgentCallOutcome, AgentToken
from .registry import check_arguments, get_tool
from .scope import Scope

logger = logging.getLogger("django_polar.agents")

#: How stale ``AgentToken.last_used_at`` may get (saves a write on most calls).
LAST_USED_EVERY = timedelta(minutes=1)


def call_tool(
    token: AgentToken,
    name: str,
    arguments: dict[str, Any] | None = None,
    *,
    transport: str = "python",
) -> dict[str, Any]:
    """Run the tool ``name`` for ``token``; returns its result or raises AgentToolError.

    Raises AgentTokenError when the token was revoked or expired since it was looked up
    (a long-lived stdio session notices at its next call).
    """
    token.refresh_from_db(fields=["revoked_at", "expires_at", "last_used_at"])
    problem = token.problem()
    if problem:
        raise AgentTokenError(problem)
    started = time.perf_counter()
    tool = get_tool(name)
    record = AgentCall(
        token=token,
        token_name=token.name,
        tool=name[:64],
        arguments=redact_data(arguments if isinstance(arguments, dict) else {}),
        is_write=bool(tool and tool.write),
        transport=transport,
    )
    try:
        if tool is None or not tool.allowed(token):
            record.outcome = AgentCallOutcome.REFUSED
            raise AgentToolError(f"No tool named {name!r} is available to this token.")
        checked = check_arguments(tool.schema(token), arguments)
        try:
            result = tool.func(Scope(token), **checked)
        except (CheckoutError, CustomerConflictError) as exc:
            raise AgentToolError(str(exc)) from None
        except PolarError as exc:
            raise polar_failure(exc) from None
        record.outcome = AgentCallOutcome.OK
        if tool.write:
            record.polar_response = redact_data(result.get("polar"))
        return result
    except AgentToolError as exc:
        record.outcome = record.outcome or AgentCallOutcome.ERROR
        record.error = exc.message
        raise
    finally:
        record.duration_ms = (time.perf_counter() - started) * 1000
        _save(record, token)


def polar_failure(exc: PolarError) -> AgentToolError:
    """Polar's refusal in words the assistant can act on (never a success)."""
    if isinstance(exc, PolarRateLimitError):
        wait = f" Retry after {exc.retry_after:g} seconds." if exc.retry_after is not None else ""
        return AgentToolError(
            f"Polar is rate limiting requests.{wait}", retry_after=exc.retry_after
        )
    if isinstance(exc, PolarAPIError):
        return AgentToolError(f"Polar refused ({exc.status}): {exc.message}")
    if isinstance(exc, PolarNetworkError):
        return AgentToolError(
            "Polar could not be reached; the action may or may not have happened. "
            "Check its state before trying again."
        )
    return AgentToolError(f"Polar failed: {exc}")


def _save(record: AgentCall, token: AgentToken) -> None:
    """Store the audit row and the token's last use in one transaction (one commit per
    call); last use is refreshed at most once a minute. A failure here is logged, not
    raised, so a full disk never hides what Polar did."""
    now = timezone.now()
    try:
        with transaction.atomic():
            record.save()
            if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
                AgentToken.objects.filter(pk=token.pk).update(last_used_at=now)
                token.last_used_at = now
    except Exception:
        logger.exception("Could not record the agent call %s of token %s", record.tool, token.name)
