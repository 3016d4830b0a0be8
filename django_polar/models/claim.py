"""Guest checkouts waiting to be linked to the account their buyer creates afterwards.

Not a mirror of a Polar object: the app's own record that this site started checkout
``checkout_id`` for a visitor who was not signed in, with the hash of the claim token
only that visitor's browser holds (in its session). Redeeming it is the one way a guest
purchase becomes a billable's (``django_polar.claims``); the email typed at checkout
never is.
"""

from django.db import models


class CheckoutClaim(models.Model):
    checkout_id = models.UUIDField(primary_key=True)
    #: sha256 of the claim token (the token itself lives only in the buyer's session).
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    #: The external id of the billable that redeemed it.
    claimed_by = models.CharField(max_length=255, blank=True, default="")
    #: The Polar customer the purchase was made by (known once redeemed).
    customer_id = models.UUIDField(null=True, blank=True)

    class Meta:
        db_table = "polar_checkout_claim"

    def __str__(self) -> str:
        state = f"claimed by {self.claimed_by}" if self.claimed_at else "unclaimed"
        return f"Guest checkout {self.checkout_id} ({state})"
