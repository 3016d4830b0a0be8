"""Django glue for testing with the Polar emulator: the pytest plugin and its fixtures.

The emulator itself lives in the Django-free ``polar_emulator`` package. The names this
module used to hold (``Emulator``, ``Clock``, ``EmulatorTransport``) still resolve here,
with a ``DeprecationWarning``; import them from ``polar_emulator``.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polar_emulator import Clock, Emulator, EmulatorTransport

__all__ = ["Clock", "Emulator", "EmulatorTransport"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        warnings.warn(
            f"django_polar.testing.{name} moved to polar_emulator.{name}; import it from there.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(import_module("polar_emulator"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
