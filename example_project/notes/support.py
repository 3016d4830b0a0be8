"""Jotter's billing support bot: a model that answers with django-polar's agent tools.

The bot talks to billing only through a token bound to the signed-in user's customer
(read-only, support tags), so whatever the model asks, it can see and do no more than the
user could. ``ScriptedModel`` is a deterministic stand-in for a language model (no LLM
call, so the demo and CI run offline): it picks tools by keywords and writes the answer
from their results only. A real model plugs in with the same two steps: choose tool calls
from ``toolbox.specs()``, then answer from the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from django_polar.agents import AgentToolError, Toolbox, create_token
from django_polar.models import AgentToken

#: What a support conversation may touch: no refunds, discounts or plan changes.
SUPPORT_TAGS = ["customers", "subscriptions", "orders", "benefits", "usage", "portal"]


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class Reply:
    text: str
    calls: list[ToolCall]


class Model(Protocol):
    def plan(self, question: str, tools: list[dict[str, Any]]) -> list[ToolCall]: ...

    def answer(self, question: str, calls: list[ToolCall]) -> str: ...


def support_token(user: Any) -> AgentToken:
    """The user's own support token (created on first use; its secret is never needed, the
    bot runs in-process with the row)."""
    name = f"jotter-support-{user.pk}"
    token = AgentToken.objects.filter(name=name).first()
    if token is None:
        token, _ = create_token(
            name, tags=SUPPORT_TAGS, customer_external_id=user.get_polar_external_id()
        )
    return token


class SupportBot:
    def __init__(self, user: Any, model: Model | None = None) -> None:
        self.toolbox = Toolbox(support_token(user))
        self.model = model or ScriptedModel()

    def ask(self, question: str) -> Reply:
        calls = self.model.plan(question, self.toolbox.specs())
        for call in calls:
            try:
                call.result = self.toolbox.call(call.name, call.arguments)
            except AgentToolError as exc:
                call.error = exc.message
        return Reply(self.model.answer(question, calls), calls)


class ScriptedModel:
    """Keywords -> tools, results -> sentences. Deterministic, offline, never inventive."""

    RULES: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
        (("cancel", "change plan", "upgrade", "downgrade", "card", "payment method"),
         "create_portal_link", {}),
        (("license", "key"), "list_benefits", {"reveal_license_keys": True}),
        (("invoice", "receipt", "paid", "charge", "order", "bill"), "list_orders", {"limit": 5}),
        (("usage", "summar", "credit", "quota"), "get_usage", {}),
        (("plan", "subscription", "renew", "next payment", "trial"), "get_subscription_status", {}),
    ]  # fmt: skip

    def plan(self, question: str, tools: list[dict[str, Any]]) -> list[ToolCall]:
        text = question.lower()
        available = {t["name"] for t in tools}
        chosen = [
            ToolCall(name, dict(args))
            for words, name, args in self.RULES
            if name in available and any(word in text for word in words)
        ]
        return chosen or [ToolCall("get_subscription_status")]

    def answer(self, question: str, calls: list[ToolCall]) -> str:
        parts = [self._say(call) for call in calls]
        return " ".join(part for part in parts if part)

    def _say(self, call: ToolCall) -> str:
        if call.error:
            return f"I could not look that up: {call.error}"
        result = call.result or {}
        if call.name == "get_subscription_status":
            return result["summary"]
        if call.name == "list_orders":
            orders = result["orders"]
            if not orders:
                return "You have no orders yet."
            lines = [
                f"{o['invoice_number'] or o['order_id']}: {o['product']} {o['total']['display']} "
                f"on {o['created_at'][:10]} ({o['status'].replace('_', ' ')})"
                for o in orders
            ]
            return "Your latest orders: " + "; ".join(lines) + "."
        if call.name == "list_benefits":
            keys = [
                b["properties"].get("key") or b["properties"].get("display_key")
                for b in result["benefits"]
                if b["type"] == "license_keys"
            ]
            if not keys:
                return "You have no license key yet; it comes with Jotter Desktop."
            return "Your license key" + ("s: " if len(keys) > 1 else ": ") + ", ".join(keys) + "."
        if call.name == "get_usage":
            meters = result["meters"]
            if not meters:
                return "No usage is metered on your account."
            return " ".join(
                f"{m['name'] or 'Usage'}: {m['consumed_units']:g} used of "
                f"{m['credited_units']:g} included, {m['balance']:g} left."
                for m in meters
            )
        if call.name == "create_portal_link":
            return (
                "You can cancel, change plan or update your card yourself in the billing "
                f"portal (the link works for one hour): {result['portal_url']} . A "
                "cancellation takes effect at the end of the period you paid for."
            )
        return ""
