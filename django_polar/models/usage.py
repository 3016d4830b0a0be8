"""Usage events: the local record of what was metered, sent to Polar at least once."""

import uuid

from django.db import models

from .customer import Customer


class UsageEvent(models.Model):
    """``external_id`` is sent to Polar, which de-duplicates on it, so resending is safe."""

    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=128)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="usage_events"
    )
    external_customer_id = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField()
    ingested_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    inserted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "polar_usage_event"
        ordering = ["timestamp"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"
