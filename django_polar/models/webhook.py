"""The webhook inbox: every authentic delivery is stored once before it is applied."""

from django.db import models


class WebhookEventStatus(models.TextChoices):
    PENDING = "pending"  # stored, not applied yet
    PROCESSED = "processed"  # applied to the mirror, signals sent
    IGNORED = "ignored"  # a type the mirror does not use; kept for the record
    FAILED = "failed"  # applying raised; see last_error, replayable


class WebhookEventQuerySet(models.QuerySet):
    def failed(self) -> "WebhookEventQuerySet":
        return self.filter(status=WebhookEventStatus.FAILED)

    def pending(self) -> "WebhookEventQuerySet":
        return self.filter(status=WebhookEventStatus.PENDING)


class WebhookEvent(models.Model):
    webhook_id = models.CharField(
        max_length=255, unique=True, help_text="The webhook-id header, stable across retries."
    )
    type = models.CharField(max_length=64, db_index=True)
    timestamp = models.DateTimeField(null=True, blank=True, help_text="The event's timestamp.")
    api_version = models.CharField(max_length=16, blank=True)
    object_id = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="id of the object in data."
    )
    payload = models.JSONField()
    status = models.CharField(
        max_length=16,
        choices=WebhookEventStatus,
        default=WebhookEventStatus.PENDING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="Traceback of the last failed attempt.")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookEventQuerySet.as_manager()

    class Meta:
        db_table = "polar_webhook_event"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} ({self.webhook_id})"

    @property
    def data(self) -> dict:
        return self.payload.get("data") or {}
