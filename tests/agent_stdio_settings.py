"""Settings of the ``manage.py polar_mcp`` subprocess in tests/test_agents_mcp.py.

DATABASE_URL names the database the test shares with it; POLAR_EMULATOR_URL the emulator
the test serves over HTTP on a free port.
"""

import os

from tests.settings import *  # noqa: F403

POLAR = {**POLAR, "SERVER": "emulator", "EMULATOR_URL": os.environ["POLAR_EMULATOR_URL"]}  # noqa: F405
SILENCED_SYSTEM_CHECKS = ["django_polar.E004"]  # the emulator outside DEBUG: a test process
