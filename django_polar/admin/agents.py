"""Agent tokens (created here or with ``manage.py polar_agent_token``) and the audit log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from ..agents.registry import TAGS
from ..agents.tokens import new_secret
from ..models import AgentCall, AgentToken
from .display import pretty_json
from .readonly import ReadOnlyAdminMixin


class AgentTokenForm(forms.ModelForm[AgentToken]):
    tags = forms.MultipleChoiceField(
        choices=[(t, t) for t in TAGS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only tools with these tags; none checked: all tools.",
    )

    class Meta:
        model = AgentToken
        fields = ("name", "can_write", "tags", "customer_external_id", "expires_at")


@admin.register(AgentToken)
class AgentTokenAdmin(admin.ModelAdmin[AgentToken]):
    form = AgentTokenForm
    list_display = (
        "name",
        "hint",
        "can_write",
        "tag_list",
        "customer_external_id",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("can_write",)
    search_fields = ("name", "customer_external_id")
    readonly_fields = ("hint", "revoked_at", "last_used_at", "created_at")
    actions = ["revoke"]

    @admin.display(description="Tags")
    def tag_list(self, obj: AgentToken) -> str:
        return ", ".join(obj.tags) or "all"

    def save_model(self, request: HttpRequest, obj: AgentToken, form: Any, change: bool) -> None:
        if not change:
            raw, obj.token_hash, obj.hint = new_secret()
            request._polar_agent_token = raw  # type: ignore[attr-defined]  # shown once, never stored
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: AgentToken, post_url_continue: Any = None
    ) -> HttpResponse:
        """Show the new token on its own page (not in a message: messages may sit in a cookie)."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "token": obj,
            "raw_token": getattr(request, "_polar_agent_token", ""),
            "title": f"Agent token {obj.name} created",
        }
        return TemplateResponse(request, "admin/django_polar/agenttoken/created.html", context)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[AgentToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the audit log keeps naming the token


@admin.register(AgentCall)
class AgentCallAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[AgentCall]):
    """The audit log: written by the tools only, never by hand."""

    list_display = (
        "created_at",
        "token_name",
        "tool",
        "outcome",
        "is_write",
        "transport",
        "duration_ms",
    )
    list_filter = ("outcome", "is_write", "transport", "tool")
    search_fields = ("token_name", "tool", "error")
    date_hierarchy = "created_at"
    readonly_fields = (
        "created_at",
        "token",
        "token_name",
        "tool",
        "is_write",
        "outcome",
        "error",
        "transport",
        "duration_ms",
        "pretty_arguments",
        "pretty_polar_response",
    )
    exclude = ("arguments", "polar_response")

    @admin.display(description="Arguments")
    def pretty_arguments(self, obj: AgentCall) -> str:
        return pretty_json(obj.arguments)

    @admin.display(description="Polar's answer")
    def pretty_polar_response(self, obj: AgentCall) -> str:
        return pretty_json(obj.polar_response) if obj.polar_response is not None else "-"
