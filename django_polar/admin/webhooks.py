"""The webhook inbox in the admin: read-only, payload pretty-printed, replay action."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ..models import WebhookEvent, WebhookEventStatus
from ..webhooks.dispatch import replay
from .display import pretty_json, pretty_text
from .readonly import ReadOnlyAdminMixin

logger = logging.getLogger("django_polar.webhooks")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("webhook_id", "type", "status", "attempts", "timestamp", "received_at")
    list_filter = ("status", "type")
    search_fields = ("webhook_id", "object_id", "type")
    date_hierarchy = "received_at"
    actions = ["replay_events"]
    readonly_fields = (
        "webhook_id",
        "type",
        "status",
        "timestamp",
        "api_version",
        "object_id",
        "attempts",
        "received_at",
        "processed_at",
        "next_attempt_at",
        "pretty_last_error",
        "pretty_payload",
    )
    exclude = ("payload", "last_error")

    @admin.display(description="Payload")
    def pretty_payload(self, obj: WebhookEvent) -> str:
        return pretty_json(obj.payload)

    @admin.display(description="Last error")
    def pretty_last_error(self, obj: WebhookEvent) -> str:
        return pretty_text(obj.last_error)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        """Replaying writes the mirror: it needs the change permission on events."""
        return request.user.has_perm("django_polar.change_webhookevent")

    @admin.action(description="Replay selected events", permissions=["replay"])
    def replay_events(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        done = failed = 0
        for event in queryset.order_by("timestamp", "pk"):
            try:
                status = replay(event).status
            except Exception:  # one broken event never stops the others, nor answers 500
                logger.exception("Replaying webhook event %s crashed", event.webhook_id)
                status = WebhookEventStatus.FAILED
            if status == WebhookEventStatus.FAILED:
                failed += 1
            else:
                done += 1
        self.message_user(request, f"Replayed {done} event(s); {failed} failed again.")
        if failed:
            self.message_user(request, "See each failed event's last error.", messages.WARNING)
