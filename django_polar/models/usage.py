"""The usage outbox: what was metered, kept until Polar acknowledges it."""

import uuid

from django.db import models

from .customer import Customer


def new_external_id() -> str:
    """A fresh event id; Polar de-duplicates on it, so resending a row is safe."""
    return str(uuid.uuid4())


class UsageEvent(models.Model):
    """One metered event. ``external_id`` is sent to Polar, which de-duplicates on it.

    A flusher claims a row (``claim`` + ``claimed_until``) before sending it, so concurrent
    flushers never send it twice; a claim that outlives its lease (a crashed flusher) is
    taken again, and Polar counts the resent row as a duplicate.
    """

    external_id = models.CharField(
        max_length=255, default=new_external_id, unique=True, editable=False
    )
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
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim = models.UUIDField(null=True, blank=True, db_index=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True)
    inserted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "polar_usage_event"
        ordering = ["timestamp"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class UsageIngest(models.Model):
    """One ``POST /v1/events/ingest`` and Polar's answer: how many it inserted and how
    many it skipped as duplicates (a resend after a lost answer or a crashed flusher)."""

    sent_at = models.DateTimeField(auto_now_add=True, db_index=True)
    events = models.PositiveIntegerField()
    inserted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "polar_usage_ingest"
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"{self.events} events: {self.inserted} inserted, {self.duplicates} duplicates"
