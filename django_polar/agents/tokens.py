"""Agent tokens: create one (shown once), look one up from what a client sent, revoke.

The raw token never reaches the database, a log line or an error message.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..errors import AgentTokenError
from ..models import AgentToken
from ..models.agent import TOKEN_PREFIX, hash_token
from .registry import TAGS

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``"90m"``, ``"2h"``, ``"30d"``, ``"1w"`` -> a timedelta (ValueError otherwise)."""
    match = _DURATION_RE.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a duration; use a positive number and a unit: 90m, 2h, 30d, 1w."
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def new_secret() -> tuple[str, str, str]:
    """A fresh raw token with its stored hash and display hint: ``(raw, hash, hint)``."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return raw, hash_token(raw), raw[: len(TOKEN_PREFIX) + 4]


def create_token(
    name: str,
    *,
    can_write: bool = False,
    tags: Iterable[str] = (),
    customer_external_id: str = "",
    expires_in: timedelta | None = None,
) -> tuple[AgentToken, str]:
    """Create a token; returns the row and the raw token (the only time it is known)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValueError("A token name is 1 to 100 characters.")
    tags = sorted({t.strip() for t in tags if t.strip()})
    unknown = [t for t in tags if t not in TAGS]
    if unknown:
        raise ValueError(f"Unknown tag(s) {', '.join(unknown)}; known tags: {', '.join(TAGS)}.")
    raw, digest, hint = new_secret()
    token = AgentToken(
        name=name,
        token_hash=digest,
        hint=hint,
        can_write=can_write,
        tags=tags,
        customer_external_id=customer_external_id or "",
        expires_at=timezone.now() + expires_in if expires_in else None,
    )
    try:
        with transaction.atomic():
            token.save()
    except IntegrityError:
        raise ValueError(f"A token named {name!r} exists already.") from None
    return token, raw


def authenticate(raw: str | None) -> AgentToken:
    """The live token for ``raw``; AgentTokenError when unknown, expired or revoked."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        raise AgentTokenError("An agent token (polar_agt_...) is required.")
    token = AgentToken.objects.filter(token_hash=hash_token(raw)).first()
    if token is None:
        raise AgentTokenError("This agent token is not known.")
    problem = token.problem()
    if problem:
        raise AgentTokenError(problem)
    return token


def revoke_token(name: str) -> AgentToken:
    """Revoke by name (idempotent); LookupError when there is no such token."""
    token = AgentToken.objects.filter(name=name).first()
    if token is None:
        raise LookupError(f"No agent token is named {name!r}.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
