"""Polar failures as answers a buyer can act on, shared by the views and the DRF API.

A customer conflict is a 409 ("contact support"); a Polar state conflict (the object is not
in the state the action needs any more, e.g. already canceled by a change our mirror had
not seen yet) a 409 ("reload"); a Polar failure that says when to try again (rate limit,
outage, timeout: ``retry_after``) a 503 with ``Retry-After``; any other Polar failure a
502 ("try again"). Never a 500. The details go to the log (already redacted by the
client), never to the page.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from .errors import CustomerConflictError, PolarAPIError, PolarError

logger = logging.getLogger("django_polar")

CONFLICT_MESSAGE = "Your billing account conflicts with an existing one; please contact support."
STATE_CONFLICT_MESSAGE = (
    "This changed on the payment provider in the meantime; reload and try again."
)
UNAVAILABLE_MESSAGE = "The payment provider could not be reached; please try again."

#: Polar's errors for an object in the wrong state for the action. Polar answers 403 for
#: some of them (server/polar/subscription/service.py: AlreadyCanceledSubscription,
#: InactiveSubscription, NotBillableSubscription) and 409 for the others
#: (SubscriptionLocked, CannotPauseSubscription, NotPausedSubscription ...).
STATE_CONFLICT_ERRORS = frozenset(
    {"AlreadyCanceledSubscription", "InactiveSubscription", "NotBillableSubscription"}
)


@dataclass(frozen=True)
class FailureAnswer:
    """What to answer: an HTTP status and a message safe to show."""

    status: int
    message: str
    retry_after: int | None = None  # whole seconds, for the Retry-After header


def is_state_conflict(exc: BaseException) -> bool:
    """Whether Polar refused because the object's state forbids the action (a 409 to the
    user), rather than because it failed or was misconfigured (a 502)."""
    if not isinstance(exc, PolarAPIError):
        return False
    return exc.status == 409 or (exc.status == 403 and exc.error in STATE_CONFLICT_ERRORS)


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
    if is_state_conflict(exc):
        logger.warning("%s refused by Polar: %s", action, exc)
        return FailureAnswer(409, STATE_CONFLICT_MESSAGE)
    logger.error("%s failed: %s", action, exc)
    if exc.retry_after is not None:
        return FailureAnswer(503, unavailable, max(1, math.ceil(exc.retry_after)))
    return FailureAnswer(502, unavailable)
