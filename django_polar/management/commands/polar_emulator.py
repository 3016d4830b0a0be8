"""``manage.py polar_emulator``: a local Polar (API 2026-10, hosted checkout, customer
portal, signed webhooks) for development and demos, no Polar account needed.

    manage.py polar_emulator                          # http://127.0.0.1:8765, default catalog
    manage.py polar_emulator --state .polar.json      # keep state across restarts
    manage.py polar_emulator --webhook-url http://127.0.0.1:8000/polar/webhook/

The ``polar-emulator`` command (``polar_emulator.cli``) with the project's settings as
defaults: the port of POLAR["EMULATOR_URL"] and POLAR["WEBHOOK_SECRET"]. Point the app at
it with POLAR = {"SERVER": "emulator", "EMULATOR_URL": "http://127.0.0.1:8765"}.
Ctrl-C stops (and saves --state).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import CommandError, CommandParser

from polar_emulator import cli

from ...conf import polar_settings
from ..base import PolarCommand


def _default_port() -> int:
    try:
        return urlsplit(polar_settings.EMULATOR_URL).port or cli.DEFAULT_PORT
    except Exception:  # a malformed setting is reported by the system checks
        return cli.DEFAULT_PORT


class Command(PolarCommand):
    help = (
        "Run the Polar emulator: the Polar API, hosted checkout and customer portal, on localhost."
    )
    # The emulator needs nothing from the project (no models, no settings but defaults),
    # and E004 (SERVER="emulator" with DEBUG off) is about the app, not about this server.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_arguments(
            parser,
            port_help="Port (default: the port of POLAR['EMULATOR_URL'], else 8765; "
            "0 = any free port).",
            secret_help="Signing secret (default: POLAR['WEBHOOK_SECRET']).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            cli.run(
                options,
                say=say,
                default_port=_default_port(),
                default_secret=polar_settings.WEBHOOK_SECRET or None,
                secret_source="POLAR['WEBHOOK_SECRET']",
            )
        except cli.StartError as exc:
            raise CommandError(str(exc)) from exc
