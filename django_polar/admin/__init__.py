"""Admin for the mirror (read-mostly: Polar is the source of truth), the inbox and the
agent tokens with their audit log."""

from . import agents, mirror, webhooks  # noqa: F401  (importing registers the ModelAdmins)
