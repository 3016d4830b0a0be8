"""What every mirror model shares: the Polar id, the raw object and both clocks."""

from django.db import models


class PolarObject(models.Model):
    """A row that mirrors one Polar object.

    ``id`` is Polar's own id, so joins need no lookup table. ``data`` keeps the last
    Polar JSON whole (new fields from Polar are never lost); the other columns exist
    because code filters or joins on them. ``modified_at`` is Polar's clock and drives
    the version guard; ``inserted_at``/``updated_at`` are ours.
    """

    id = models.UUIDField(primary_key=True, editable=False, help_text="Polar's id.")
    data = models.JSONField(default=dict, blank=True, help_text="Last Polar object, as received.")
    created_at = models.DateTimeField(null=True, blank=True, help_text="Polar's creation time.")
    modified_at = models.DateTimeField(
        null=True, blank=True, help_text="Polar's modification time of the stored snapshot."
    )
    inserted_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.id}"
