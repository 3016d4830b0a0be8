"""The shipped pytest plugin's fixtures, for these tests (the suite does not install the
package, so its pytest11 entry point is not active here)."""

from django_polar.testing.pytest_plugin import (  # noqa: F401
    polar_emulator,
    polar_emulator_seed,
    polar_emulator_server,
)
