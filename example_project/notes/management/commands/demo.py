"""``manage.py demo``: everything needed to buy a plan in Jotter, in one command.

On the emulator (the default): migrate, start the Polar emulator on POLAR["EMULATOR_URL"]
with Jotter's catalog (state kept in POLAR_EMULATOR_STATE_FILE), deliver its webhooks to
this site's webhook view, mirror the catalog, create a demo user and run the dev server.
With POLAR_SERVER=sandbox (or production) it skips the emulator: migrate, create Jotter's
products in the organization if they are missing (``remote_catalog``), sync, run.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandParser
from django.urls import reverse

from django_polar.conf import polar_settings
from django_polar.management.base import PolarCommand

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "jotter-demo-123"
DEMO_EMAIL = "demo@jotter.example"


class Command(PolarCommand):
    help = (
        "Set up and run the Jotter demo (on the Polar emulator unless POLAR_SERVER says otherwise)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-runserver",
            action="store_true",
            help="Set everything up, print the URL, then stop (for scripts and tests).",
        )
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="Forget the saved emulator state and start from the seeded catalog (use a fresh database too).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        site_url = getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/")
        self.step("Migrating the database")
        call_command("migrate", interactive=False, verbosity=0)

        server = None
        persister = None
        if polar_settings.SERVER == "emulator":
            server, persister = self.start_emulator(site_url, fresh=options["fresh"])
        else:
            self.step(f"Using Polar {polar_settings.SERVER} (no emulator)")
            self.ensure_remote_catalog()

        self.step("Mirroring the catalog (polar_sync: benefits, products, prices)")
        # --prune archives mirrored products Polar no longer has (e.g. after --fresh).
        call_command("polar_sync", prune=True, verbosity=0)
        self.ensure_demo_user()
        self.banner(site_url)

        try:
            if not options["no_runserver"]:
                parts = urlsplit(site_url)
                addrport = f"{parts.hostname}:{parts.port or 80}"
                call_command("runserver", addrport, use_reloader=False)
        finally:
            if persister is not None:
                persister.stop()
            if server is not None:
                server.stop()

    def start_emulator(self, site_url: str, *, fresh: bool) -> tuple[Any, Any]:
        from example_project.notes.demo_emulator import Persister, load_or_seed, serve

        state_file = getattr(settings, "POLAR_EMULATOR_STATE_FILE", None)
        emulator_url = polar_settings.EMULATOR_URL
        emu, seeded = load_or_seed(None if fresh else state_file, emulator_url)
        self.step(
            f"Starting the Polar emulator on {emulator_url} "
            + ("(seeded with Jotter's catalog)" if seeded else f"(state from {state_file})")
        )
        webhook_url = site_url + reverse("django_polar:webhook")
        emu.add_webhook_endpoint(webhook_url, secret=polar_settings.WEBHOOK_SECRET)
        self.step(f"Webhooks go to {webhook_url}")
        server = serve(emu, emulator_url)
        persister = None
        if state_file:
            persister = Persister(emu, state_file)
            persister.start()
        return server, persister

    def ensure_remote_catalog(self) -> None:
        """Create Jotter's products in the organization unless they are there already."""
        from django_polar.client import get_client
        from example_project.notes.remote_catalog import ensure_remote_catalog

        created = ensure_remote_catalog(get_client())
        if created:
            self.step(f"Created Jotter's catalog in Polar: {', '.join(created)}")
        else:
            self.step("Jotter's products are already in Polar")

    def ensure_demo_user(self) -> None:
        User = get_user_model()
        user = User._default_manager.filter(username=DEMO_USERNAME).first()
        if user is None:
            User._default_manager.create_user(DEMO_USERNAME, DEMO_EMAIL, DEMO_PASSWORD)
            self.step(f"Created the demo user {DEMO_USERNAME!r}")

    def step(self, text: str) -> None:
        self.stdout.write(self.style.HTTP_INFO("==> ") + text)

    def banner(self, site_url: str) -> None:
        lines = [
            "",
            self.style.SUCCESS("Jotter is ready."),
            f"  Open {site_url}/pricing/ and buy a plan",
            f"  (log in as {DEMO_USERNAME} / {DEMO_PASSWORD}, or sign up).",
        ]
        if polar_settings.SERVER == "emulator":
            lines.append("  Payments go to the Polar emulator: any email works, no card needed.")
        else:
            lines.append(
                "  Polar must reach your webhook URL: expose this server (e.g. a tunnel) and add "
                f"{site_url}/polar/webhook/ as a webhook endpoint in Polar's dashboard."
            )
        lines.append("")
        self.stdout.write("\n".join(lines))
