"""``manage.py polar_emulator``: a local Polar (API 2026-10, hosted checkout, customer
portal, signed webhooks) for development and demos, no Polar account needed.

    manage.py polar_emulator                          # http://127.0.0.1:8765, default catalog
    manage.py polar_emulator --state .polar.json      # keep state across restarts
    manage.py polar_emulator --webhook-url http://127.0.0.1:8000/polar/webhook/

Any bearer token is accepted unless --token is given. Point the app at it with
POLAR = {"SERVER": "emulator", "EMULATOR_URL": "http://127.0.0.1:8765"}, or any Polar
SDK with its server URL set to the same address. Ctrl-C stops (and saves --state).
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import CommandError, CommandParser

from ...conf import polar_settings
from ..base import PolarCommand


def _default_port() -> int:
    try:
        return urlsplit(polar_settings.EMULATOR_URL).port or 8765
    except Exception:  # a malformed setting is reported by the system checks
        return 8765


class Command(PolarCommand):
    help = (
        "Run the Polar emulator: the Polar API, hosted checkout and customer portal, on localhost."
    )
    # The emulator needs nothing from the project (no models, no settings but defaults),
    # and E004 (SERVER="emulator" with DEBUG off) is about the app, not about this server.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="Interface to bind (default 127.0.0.1)."
        )
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="Port (default: the port of POLAR['EMULATOR_URL'], else 8765; 0 = any free port).",
        )
        parser.add_argument(
            "--seed",
            default="default",
            help="'default' (demo catalog), 'none' (empty) or a JSON seed file.",
        )
        parser.add_argument(
            "--state",
            default=None,
            help="JSON file: loaded at start when it exists, written on exit.",
        )
        parser.add_argument(
            "--token",
            default=None,
            help="The only accepted bearer token (default: accept any token).",
        )
        parser.add_argument(
            "--webhook-url", default=None, help="Deliver signed webhooks to this URL."
        )
        parser.add_argument(
            "--webhook-secret",
            default=None,
            help="Signing secret (default: POLAR['WEBHOOK_SECRET']).",
        )
        parser.add_argument(
            "--webhook-scheme",
            choices=("standard", "legacy"),
            default="standard",
            help="Key derivation: standard (whsec_ base64) or legacy (whole string).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from polar_emulator import Emulator
        from polar_emulator.web.server import serve

        state = Path(options["state"]) if options["state"] else None
        port = options["port"] if options["port"] is not None else _default_port()
        if state is not None and state.exists():
            try:
                emu = Emulator.load(state, access_token=options["token"])
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"Cannot load state from {state}: {exc}") from exc
            origin = f"loaded {state}"
        else:
            emu = Emulator(seed=self._seed(options["seed"]), access_token=options["token"])
            origin = f"seed {options['seed']}"
        if options["webhook_url"]:
            self._add_webhook(emu, options)
        try:
            server = serve(emu, host=options["host"], port=port)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {options['host']}:{port}: {exc}") from exc
        self.stdout.write(f"Polar emulator (API {emu.api_version}, {origin}) at {server.url}")
        self.stdout.write(
            f"  API:       {server.url}/v1/   (token: {'required' if options['token'] else 'any'})"
        )
        self.stdout.write(f"  Dashboard: {server.url}/")
        self.stdout.write(f"  Embed:     {server.url}/embed.global.js")
        for key, product_id in sorted(emu.ids.items()):
            if product_id in emu.store.products:
                self.stdout.write(f"  product {key}: {product_id}")
        self.stdout.write("Quit with CONTROL-C.")
        self.stdout.flush()
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            server.stop()
            if state is not None:
                emu.save(state)
                self.stdout.write(f"State saved to {state}.")
        self.stdout.write("Polar emulator stopped.")

    def _seed(self, seed: str) -> dict[str, Any] | str | None:
        if seed == "default":
            return "default"
        if seed == "none":
            return None
        try:
            data = json.loads(Path(seed).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read seed file {seed}: {exc}") from exc
        if not isinstance(data, dict):
            raise CommandError(f"Seed file {seed} must hold a JSON object.")
        return data

    def _add_webhook(self, emu: Any, options: dict[str, Any]) -> None:
        url = options["webhook_url"]
        if urlsplit(url).scheme not in ("http", "https"):
            raise CommandError("--webhook-url must be an http(s) URL.")
        secret = options["webhook_secret"] or polar_settings.WEBHOOK_SECRET
        if not secret:
            raise CommandError("--webhook-url needs --webhook-secret (or POLAR['WEBHOOK_SECRET']).")
        try:
            emu.add_webhook_endpoint(url, secret=secret, scheme=options["webhook_scheme"])
        except Exception as exc:  # standardwebhooks rejects unusable secrets; never echo the secret
            raise CommandError(
                f"The webhook secret cannot be used with the {options['webhook_scheme']} "
                f"scheme ({type(exc).__name__})."
            ) from exc
        self.stdout.write(f"  Webhooks:  {url} ({options['webhook_scheme']} signatures)")
