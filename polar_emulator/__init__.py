"""polar_emulator: a faithful Polar API 2026-10, with webhooks, the hosted checkout and the
customer portal, and fault injection. No Django anywhere: any project that talks to Polar
can test against it.

    from polar_emulator import Emulator, serve

    emu = Emulator(seed="default")        # in memory; emu.transport() for httpx
    server = serve(emu, port=8765)        # or over HTTP: python -m polar_emulator
"""

from .core import API_VERSION, Emulator, EmulatorTransport
from .faults import Faults
from .seed import DEFAULT_SEED
from .store import Clock
from .web.server import EmulatorServer, serve

__all__ = [
    "API_VERSION",
    "DEFAULT_SEED",
    "Clock",
    "Emulator",
    "EmulatorServer",
    "EmulatorTransport",
    "Faults",
    "serve",
]
