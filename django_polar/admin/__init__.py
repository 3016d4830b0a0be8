"""Admin for the mirror (read-mostly: Polar is the source of truth) and the inbox."""

from . import mirror, webhooks  # noqa: F401  (importing registers the ModelAdmins)
