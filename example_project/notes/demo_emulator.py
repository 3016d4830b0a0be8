"""Run the Polar emulator next to the demo: seeded, persisted, delivering webhooks to us."""

from __future__ import annotations

import atexit
import logging
import threading
from pathlib import Path
from urllib.parse import urlsplit

from polar_emulator import Emulator
from polar_emulator.web.server import EmulatorServer
from polar_emulator.web.server import serve as serve_emulator

from .catalog_seed import JOTTER_SEED

logger = logging.getLogger(__name__)


def load_or_seed(state_file: str | None, base_url: str) -> tuple[Emulator, bool]:
    """The emulator from ``state_file`` when it exists, else a fresh one with Jotter's catalog."""
    if state_file and Path(state_file).exists():
        try:
            return Emulator.load(state_file, base_url=base_url), False
        except (ValueError, KeyError, OSError) as exc:
            logger.warning("Ignoring unreadable emulator state %s: %s", state_file, exc)
    return Emulator(seed=JOTTER_SEED, base_url=base_url), True


class Persister:
    """Saves the emulator's state every few seconds and at exit, so a restart keeps it."""

    def __init__(self, emu: Emulator, path: str, every: float = 5.0) -> None:
        self.emu, self.path, self.every = emu, path, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-persist", daemon=True)

    def start(self) -> None:
        self._thread.start()
        atexit.register(self.save)

    def save(self) -> None:
        try:
            self.emu.save(self.path)
        except OSError as exc:
            logger.warning("Could not save the emulator state to %s: %s", self.path, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.save()

    def stop(self) -> None:
        self._stop.set()
        self.save()


def serve(emu: Emulator, url: str) -> EmulatorServer:
    """Serve the emulator (API, hosted checkout and portal pages) on ``url`` in threads.

    ``server.stop()`` stops it; webhooks are delivered from its background thread.
    """
    parts = urlsplit(url)
    return serve_emulator(emu, host=parts.hostname or "127.0.0.1", port=parts.port or 8765)
