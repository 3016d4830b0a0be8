"""Polar failures as answers a buyer can act on, shared by the views and the DRF API.

A customer conflict is a 409 ("contact support"), any other Polar failure a 502 ("try
again"). The details go to the log (already redacted by the client), never to the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .errors import CustomerConflictError, PolarError

logger = logging.getLogger("django_polar")

CONFLICT_MESSAGE = "Your billing account conflicts with an existing one; please contact support."
UNAVAILABLE_MESSAGE = "The payment provider could not be reached; please try again."


@dataclass(frozen=True)
class FailureAnswer:
    """What to answer: an HTTP status and a message safe to show."""

    status: int
    message: str


def answer_for_failure(
    exc: CustomerConflictError | PolarError, *, action: str, unavailable: str = UNAVAILABLE_MESSAGE
) -> FailureAnswer:
    """Log ``exc`` and say how to answer it.

    ``action`` names what failed in the log ("Creating a Polar checkout"); ``unavailable``
    is the message for a Polar outage.
    """
    if isinstance(exc, CustomerConflictError):
        logger.warning("%s refused: %s", action, exc)
        return FailureAnswer(409, CONFLICT_MESSAGE)
    logger.error("%s failed: %s", action, exc)
    return FailureAnswer(502, unavailable)
