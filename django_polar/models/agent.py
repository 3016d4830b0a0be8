"""Agent tokens and the audit log of every agent tool call.

A token is shown once, when created; only its SHA-256 is stored (tokens are 256 random
bits, so a plain hash is as strong as a slow one and keeps every call to one indexed
lookup). Tokens are revoked, never deleted, so the audit log keeps who did what.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.db import models
from django.utils import timezone

#: Every agent token starts with this, so leaked ones are easy to recognise and redact.
TOKEN_PREFIX = "polar_agt_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class AgentToken(models.Model):
    """Who an assistant is: what it may do (write, tags) and for whom (one customer or all)."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    #: The first characters of the token, so people can tell tokens apart.
    hint = models.CharField(max_length=24, editable=False)
    can_write = models.BooleanField(
        default=False, help_text="Allow tools that change billing (refunds, plan changes...)."
    )
    tags = models.JSONField(
        default=list,
        blank=True,
        help_text='Only tools with these tags, e.g. ["customers", "orders"]; empty: all.',
    )
    customer_external_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="Bind the token to the customer with this external id (a billable's "
        "customer): every tool then acts on that customer only.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "polar_agent_token"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_customer_scoped(self) -> bool:
        return bool(self.customer_external_id)

    def problem(self, now: datetime | None = None) -> str | None:
        """Why this token may not be used now (None when it may)."""
        now = now or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return "This agent token was revoked."
        if self.expires_at is not None and self.expires_at <= now:
            return "This agent token has expired."
        return None


class AgentCallOutcome(models.TextChoices):
    OK = "ok"
    ERROR = "error"  # the tool ran and failed (bad input, Polar refused)
    REFUSED = "refused"  # the token may not use this tool


class AgentCall(models.Model):
    """One tool call: the token, the tool, its arguments, and what came of it."""

    token = models.ForeignKey(
        AgentToken, null=True, on_delete=models.SET_NULL, related_name="calls"
    )
    token_name = models.CharField(max_length=100)
    tool = models.CharField(max_length=64, db_index=True)
    arguments = models.JSONField(default=dict, blank=True)
    is_write = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=AgentCallOutcome.choices, db_index=True)
    error = models.TextField(blank=True)
    #: For writes: Polar's answer (the refund, the subscription, the checkout...).
    polar_response = models.JSONField(null=True, blank=True)
    transport = models.CharField(max_length=16, blank=True, help_text="python, stdio or http")
    duration_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "polar_agent_call"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.token_name}: {self.tool} ({self.outcome})"
