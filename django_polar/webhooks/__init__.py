"""Polar webhooks: ``verify`` (signatures), ``views`` (the inbox), ``dispatch`` (apply)."""
