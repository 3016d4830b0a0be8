"""The retry schedule shared by the webhook inbox and the usage outbox."""

from __future__ import annotations

from datetime import timedelta


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: 1, 2, 4 ... minutes, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))
