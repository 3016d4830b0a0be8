"""Guest checkouts: a visitor buys before having an account, and the purchase becomes the
account's once they sign up, by the app's rules and never by the email alone.

1. ``start_guest_checkout(request, products)`` creates a Polar checkout that names no
   customer, records a ``CheckoutClaim`` (the checkout id and the sha256 of a random
   token) and keeps the token in the visitor's session. Only that browser can claim.
2. Polar sends the buyer back to the claim view (``polar/checkout/claim/``); a visitor
   still signed out is sent on to sign up (``POLAR["GUEST_SIGNUP_URL"]``) and back. Django
   keeps session data across ``login()``, so the token survives signing up.
3. ``redeem(request, billable, checkout_id)`` (the claim view calls it for
   ``billable_for_request``, so ``BILLABLE_RESOLVER`` decides who the buyer becomes: a
   user, a team) checks the token, asks Polar that the checkout succeeded, and gives the
   Polar customer that bought the billable's external id (``PATCH /v1/customers/{id}``,
   settable once). The webhooks already mirrored the order and subscription; from then
   on they are the billable's.

A claim is refused (``ClaimError``) when the checkout's customer existed before the
checkout (the buyer typed the email of an existing customer: Polar attached the purchase
to them, and that customer, with its earlier purchases, is not the claimant's to take,
whether or not it has an external id yet), or when the billable already has a different
Polar customer (one billable, one customer).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from . import mirror
from .checkout import CHECKOUT_ID_PLACEHOLDER, CheckoutBuilder
from .client import get_client
from .errors import ClaimError
from .models import CheckoutClaim, Customer
from .models.convert import to_datetime

if TYPE_CHECKING:
    from .billable import Billable

#: ``request.session[SESSION_KEY]``: ``{checkout_id: token}`` of this browser's guest checkouts.
SESSION_KEY = "polar_checkout_claims"
#: At most this many unredeemed guest checkouts are remembered per session.
MAX_PENDING = 10

__all__ = [
    "MAX_PENDING",
    "SESSION_KEY",
    "ClaimError",
    "guest_checkout_builder",
    "link_customer",
    "pending_checkout_ids",
    "redeem",
    "start_guest_checkout",
]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pending(request: HttpRequest) -> dict[str, str]:
    value = request.session.get(SESSION_KEY)
    return dict(value) if isinstance(value, dict) else {}


def pending_checkout_ids(request: HttpRequest) -> list[str]:
    """The guest checkouts this browser started and has not redeemed yet."""
    return list(_pending(request))


def guest_checkout_builder(request: HttpRequest, products: Any, **options: Any) -> CheckoutBuilder:
    """A guest builder whose success URL is the claim view (``options`` as for
    ``billable.checkout``); ``start_guest_checkout`` creates it and records the claim."""
    builder = CheckoutBuilder.for_guest(products, request=request, **options)
    claim_url = reverse("django_polar:guest-claim")
    return builder.with_success_url(f"{claim_url}?checkout_id={CHECKOUT_ID_PLACEHOLDER}")


def start_guest_checkout(
    request: HttpRequest, products: Any, *, builder: CheckoutBuilder | None = None, **options: Any
) -> CheckoutBuilder:
    """Create the guest checkout in Polar and remember it for this browser.

    ``builder`` (from ``guest_checkout_builder``, further configured) or ``products`` and
    ``options``. Needs Django's session middleware.
    """
    if builder is None:
        builder = guest_checkout_builder(request, products, **options)
    if builder.billable is not None:
        raise ClaimError(
            "start_guest_checkout() needs a guest builder (CheckoutBuilder.for_guest)."
        )
    token = secrets.token_urlsafe(32)
    checkout_id = builder.id  # creates the checkout in Polar
    CheckoutClaim.objects.create(checkout_id=checkout_id, token_hash=_hash(token))
    pending = _pending(request)
    pending[checkout_id] = token
    # The newest MAX_PENDING only: a session is not a store of every visit's checkouts.
    request.session[SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING:])
    return builder


def redeem(request: HttpRequest, billable: Billable, checkout_id: str) -> CheckoutClaim:
    """Link the guest purchase of ``checkout_id`` to ``billable``.

    The token must be in this browser's session and match the stored claim, the claim
    must be unredeemed (or redeemed by this same billable: a reload is harmless), and
    Polar must say the checkout succeeded. Raises ``ClaimError`` otherwise (Polar errors
    propagate as ``PolarError``).
    """
    token = _pending(request).get(checkout_id)
    claim = CheckoutClaim.objects.filter(pk=checkout_id).first()
    external_id = billable.get_polar_external_id()
    if claim is not None and claim.claimed_at is not None:
        if claim.claimed_by == external_id:
            return claim
        raise ClaimError("This purchase was already linked to another account.")
    if claim is None or token is None or not hmac.compare_digest(claim.token_hash, _hash(token)):
        raise ClaimError("This browser did not start that checkout, so it cannot claim it.")
    checkout = get_client().get_checkout(checkout_id)
    if checkout.get("status") != "succeeded" or not checkout.get("customer_id"):
        raise ClaimError("The payment is not complete yet; try again in a moment.")
    link_customer(
        billable, str(checkout["customer_id"]), new_since=to_datetime(checkout.get("created_at"))
    )
    with transaction.atomic():
        updated = CheckoutClaim.objects.filter(pk=claim.pk, claimed_at__isnull=True).update(
            claimed_at=timezone.now(), claimed_by=external_id, customer_id=checkout["customer_id"]
        )
    if not updated:  # a concurrent redemption won; it linked the same customer or failed
        claim.refresh_from_db()
        if claim.claimed_by != external_id:
            raise ClaimError("This purchase was already linked to another account.")
    pending = _pending(request)
    pending.pop(checkout_id, None)
    request.session[SESSION_KEY] = pending
    claim.refresh_from_db()
    return claim


def link_customer(
    billable: Billable, customer_id: str, *, new_since: datetime | None = None
) -> Customer:
    """Give Polar customer ``customer_id`` the billable's external id, then mirror it.

    A customer with our external id already is fine (nothing to do); one with another
    external id, or a billable already linked to another customer, is a ``ClaimError``.
    With ``new_since`` (Polar's creation time of the guest's checkout), a customer Polar
    created before it is one too: it existed before the guest paid, so only its email
    ties it to the claimant, and the email alone proves nothing.
    """
    external_id = billable.get_polar_external_id()
    own = billable.polar_customer
    if own is not None and str(own.pk) != customer_id:
        raise ClaimError(
            "This account already has its own Polar customer; a purchase made as a guest "
            "with another customer cannot be merged into it (ask support to move it)."
        )
    client = get_client()
    data = client.get_customer(customer_id)
    current = data.get("external_id")
    created = to_datetime(data.get("created_at"))
    existed = new_since is not None and (created is None or created < new_since)
    if current not in (None, "", external_id):
        raise ClaimError(
            "The purchase was made by a Polar customer that belongs to another account "
            "(the email used at checkout is theirs); it is not linked to this one."
        )
    if current != external_id and existed:
        raise ClaimError(
            "The purchase was made by a Polar customer that existed before this checkout "
            "(the email used at checkout is theirs); it is not linked to this account: ask "
            "support if it is yours."
        )
    if current != external_id:
        data = client.update_customer(customer_id, {"external_id": external_id})
    return mirror.upsert_customer(data)
