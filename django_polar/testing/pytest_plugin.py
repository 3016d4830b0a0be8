"""pytest fixtures for projects using django-polar (entry point ``pytest11: django_polar``).

Enabled by installing django-polar (its entry point registers it; ``pip install
"django-polar[pytest]"`` brings pytest and pytest-django) or
``pytest -p django_polar.testing.pytest_plugin``. Fixtures:

``polar_emulator_seed``
    The catalog the emulators start with: ``Emulator.default_seed()``. Override it in
    a conftest.py to seed your own products (``{}`` for an empty organization).
``polar_emulator``
    An ``Emulator`` wired into ``django_polar.client.get_client()`` and delivering its
    signed webhooks synchronously to the real webhook view (``django_polar:webhook``)
    with ``POLAR["WEBHOOK_SECRET"]``. Needs pytest-django (it enables the ``db``).
``polar_emulator_server``
    The emulator served over real HTTP on a free port (an ``EmulatorServer``: ``.url``,
    ``.emulator``, ``.wait_for_webhooks()``) for browser and live-server tests; when
    Django is configured the app's client is routed into the same emulator.

This module imports nothing heavy at import time, so suites without Django (or
without using these fixtures) pay nothing for it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from polar_emulator import Emulator
    from polar_emulator.web.server import EmulatorServer


@pytest.fixture
def polar_emulator_seed() -> dict[str, Any]:
    """The catalog every emulator fixture starts from (override to change it)."""
    from polar_emulator import Emulator

    return Emulator.default_seed()


def _webhook_secret(request: pytest.FixtureRequest) -> str:
    """POLAR["WEBHOOK_SECRET"], or a fresh one set for this test when the project has none."""
    from django_polar.conf import polar_settings

    secret = polar_settings.WEBHOOK_SECRET
    if secret:
        return str(secret)
    import base64
    import secrets

    from django.conf import settings as django_settings

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    overrides = request.getfixturevalue("settings")  # pytest-django: restored after the test
    overrides.POLAR = {**getattr(django_settings, "POLAR", {}), "WEBHOOK_SECRET": secret}
    return secret


def django_webhook_receiver(url: str) -> Any:
    """A webhook target posting each signed delivery to ``url`` through django.test.Client."""
    from django.test import Client

    web = Client()

    def deliver(body: bytes, headers: dict[str, str]) -> int:
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        response = web.post(url, data=body, content_type="application/json", headers=extra)
        return int(response.status_code)

    return deliver


@pytest.fixture
def polar_emulator(
    request: pytest.FixtureRequest, db: None, polar_emulator_seed: dict[str, Any]
) -> Iterator[Emulator]:
    """A seeded in-memory Polar for this test, wired into the app's client and webhook view.

    ``db`` (pytest-django) is named here so pytest-django creates the test database;
    with ``transactional_db`` or ``live_server`` in the test it becomes transactional.
    """
    from django.urls import reverse

    from django_polar.client import use_transport
    from polar_emulator import Emulator

    emu = Emulator(seed=polar_emulator_seed or None)
    emu.add_webhook_endpoint(
        django_webhook_receiver(reverse("django_polar:webhook")), secret=_webhook_secret(request)
    )
    with use_transport(emu.transport()):
        yield emu


@pytest.fixture
def polar_emulator_server(polar_emulator_seed: dict[str, Any]) -> Iterator[EmulatorServer]:
    """The emulator over HTTP on a free port, for browser and live-server tests.

    Webhooks go where the test says, over HTTP, e.g.::

        polar_emulator_server.emulator.add_webhook_endpoint(
            live_server.url + reverse("django_polar:webhook"), secret=settings.POLAR["WEBHOOK_SECRET"])
    """
    from contextlib import ExitStack

    from polar_emulator import Emulator
    from polar_emulator.web.server import serve

    emu = Emulator(seed=polar_emulator_seed or None)
    with ExitStack() as stack:
        server = stack.enter_context(serve(emu, port=0))
        if _django_configured():
            from django_polar.client import use_transport

            stack.enter_context(use_transport(emu.transport()))
        yield server


def _django_configured() -> bool:
    """True in a Django test run (pytest-django has configured settings by now)."""
    conf = sys.modules.get("django.conf")
    return conf is not None and bool(conf.settings.configured)
