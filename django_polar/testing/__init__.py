"""Testing helpers shipped with django-polar, starting with the Polar emulator.

Names load on first use, so the pytest plugin in this package (registered for every
pytest run where django-polar[test] is installed) costs nothing until a fixture runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import Clock, Emulator, EmulatorTransport

__all__ = ["Clock", "Emulator", "EmulatorTransport"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module(".emulator", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
