"""``polar-emulator`` (also ``python -m polar_emulator``): a local Polar (API 2026-10,
hosted checkout, customer portal, signed webhooks) for any stack, no Polar account needed.

    polar-emulator                                  # http://127.0.0.1:8765, default catalog
    polar-emulator --state .polar.json              # keep state across restarts
    polar-emulator --webhook-url http://127.0.0.1:8000/polar/webhook/ --webhook-secret whsec_...

Any bearer token is accepted unless --token is given. Point a Polar SDK's server URL at
it. Ctrl-C or SIGTERM stops (and saves --state). ``manage.py polar_emulator`` is this
same command with Django's settings as defaults (``add_arguments`` and ``run`` below).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .core import Emulator
from .web.server import serve

DEFAULT_PORT = 8765
#: Read when --webhook-secret is not given, so the secret need not appear in ``ps``.
SECRET_ENV = "POLAR_WEBHOOK_SECRET"


class StartError(Exception):
    """The emulator cannot start with these options (the message says why)."""


def add_arguments(
    parser: argparse.ArgumentParser,
    *,
    port_help: str = f"Port (default {DEFAULT_PORT}; 0 = any free port).",
    secret_help: str = f"Signing secret (default: ${SECRET_ENV}).",
) -> None:
    """The options, shared by ``polar-emulator`` and ``manage.py polar_emulator``."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="Interface to bind (default 127.0.0.1)."
    )
    parser.add_argument("--port", type=int, default=None, help=port_help)
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
    parser.add_argument("--webhook-url", default=None, help="Deliver signed webhooks to this URL.")
    parser.add_argument("--webhook-secret", default=None, help=secret_help)
    parser.add_argument(
        "--webhook-scheme",
        choices=("standard", "legacy"),
        default="standard",
        help="Key derivation: standard (whsec_ base64) or legacy (whole string).",
    )


def run(
    options: Mapping[str, Any],
    *,
    say: Callable[[str], None],
    default_port: int = DEFAULT_PORT,
    default_secret: str | None = None,
    secret_source: str = f"${SECRET_ENV}",
) -> None:
    """Start the emulator with ``options`` (the parsed arguments as a mapping), serve until
    SIGINT (KeyboardInterrupt) or SIGTERM, then stop and save ``--state``.

    ``secret_source`` names where ``default_secret`` came from, for the error message.
    Raises StartError before anything is served when an option cannot be used.
    """
    state = Path(options["state"]) if options.get("state") else None
    port = options["port"] if options.get("port") is not None else default_port
    if state is not None and state.exists():
        try:
            emu = Emulator.load(state, access_token=options.get("token"))
        except (OSError, ValueError, KeyError) as exc:
            raise StartError(f"Cannot load state from {state}: {exc}") from exc
        origin = f"loaded {state}"
    else:
        emu = Emulator(seed=_seed(options["seed"]), access_token=options.get("token"))
        origin = f"seed {options['seed']}"
    webhook = (
        _add_webhook(emu, options, default_secret, secret_source)
        if options.get("webhook_url")
        else None
    )
    try:
        server = serve(emu, host=options["host"], port=port)
    except OSError as exc:
        raise StartError(f"Cannot listen on {options['host']}:{port}: {exc}") from exc
    say(f"Polar emulator (API {emu.api_version}, {origin}) at {server.url}")
    say(f"  API:       {server.url}/v1/   (token: {'required' if options.get('token') else 'any'})")
    say(f"  Dashboard: {server.url}/")
    say(f"  Embed:     {server.url}/embed.global.js")
    if webhook:
        say(webhook)
    for key, product_id in sorted(emu.ids.items()):
        if product_id in emu.store.products:
            say(f"  product {key}: {product_id}")
    say("Quit with CONTROL-C.")
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
            say(f"State saved to {state}.")
    say("Polar emulator stopped.")


def _seed(seed: str) -> dict[str, Any] | str | None:
    if seed == "default":
        return "default"
    if seed == "none":
        return None
    try:
        data = json.loads(Path(seed).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StartError(f"Cannot read seed file {seed}: {exc}") from exc
    if not isinstance(data, dict):
        raise StartError(f"Seed file {seed} must hold a JSON object.")
    return data


def _add_webhook(
    emu: Emulator, options: Mapping[str, Any], default_secret: str | None, secret_source: str
) -> str:
    url = options["webhook_url"]
    if urlsplit(url).scheme not in ("http", "https"):
        raise StartError("--webhook-url must be an http(s) URL.")
    secret = options.get("webhook_secret") or default_secret
    if not secret:
        raise StartError(f"--webhook-url needs --webhook-secret (or {secret_source}).")
    scheme = options["webhook_scheme"]
    try:
        emu.add_webhook_endpoint(url, secret=secret, scheme=scheme)
    except Exception as exc:  # standardwebhooks rejects unusable secrets; never echo the secret
        raise StartError(
            f"The webhook secret cannot be used with the {scheme} scheme ({type(exc).__name__})."
        ) from exc
    return f"  Webhooks:  {url} ({scheme} signatures)"


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: exit 0 after a clean stop, 2 for unusable options."""
    parser = argparse.ArgumentParser(
        prog="polar-emulator",
        description="Run the Polar emulator: the Polar API, hosted checkout and customer "
        "portal, on localhost.",
    )
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        run(
            options,
            say=lambda line: print(line, flush=True),
            default_secret=os.environ.get(SECRET_ENV) or None,
        )
    except StartError as exc:
        parser.error(str(exc))  # exits 2 with the usage line
    return 0
