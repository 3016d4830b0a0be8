"""The Polar emulator core: an in-memory Polar API 2026-10 with webhooks and fault injection."""

from .core import API_VERSION, Emulator, EmulatorTransport
from .faults import Faults
from .seed import DEFAULT_SEED
from .store import Clock

__all__ = ["API_VERSION", "DEFAULT_SEED", "Clock", "Emulator", "EmulatorTransport", "Faults"]
