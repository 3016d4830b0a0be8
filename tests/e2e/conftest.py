"""Browser tests: Debian's Chromium driven by Playwright, against the demo app on
pytest-django's live server and the Polar emulator served over real HTTP.

Screenshots of every key step land in test-artifacts/ (gitignored). With
UPDATE_SCREENSHOTS=1 the pricing and account pages are also written to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from django_polar.testing import pytest_plugin
from example_project.notes.catalog_seed import JOTTER_SEED

# The shipped plugin's fixture, also when the entry point is not installed.
polar_emulator_server = pytest_plugin.polar_emulator_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def polar_emulator_seed() -> dict:
    """The served emulator starts with the demo's own catalog."""
    return JOTTER_SEED


@pytest.fixture(scope="module")
def chromium(live_server) -> Iterator:
    """One headless Debian Chromium per module (Playwright cannot download one here).

    Module scope: Playwright's sync API allows one instance per thread at a time, and other
    browser tests of the suite start their own.

    It depends on ``live_server`` so it closes first: no request is in flight when the
    server stops.
    """
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    # Playwright's sync API keeps an event loop in this thread; Django's ORM refuses to run
    # next to one unless told the test knows what it is doing.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    # Let the live server's last request threads finish before it stops and takes its
    # shared SQLite connection back (else they fail closing it).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        "process_request_thread" in thread.name for thread in threading.enumerate()
    ):
        time.sleep(0.05)


@dataclass
class Site:
    """The demo as the browser sees it."""

    url: str
    emulator_url: str
    db_lock: threading.Lock  # hold it for ORM access from the test thread (SQLite only)


def _serialize_requests(httpd, lock: threading.Lock):
    """On in-memory SQLite every live-server thread shares ONE connection, and Django's
    transactions on one connection must not interleave: run one request at a time.
    (The emulator delivers webhooks from its own thread, so nothing waits on itself.)
    The response's ``close()`` (where the webhook view applies an event, after the answer
    is sent) is passed on to the server, under the lock too, as PEP 3333 requires."""
    app = httpd.get_app()

    class Serialized(list):
        def close(self) -> None:
            with lock:
                self.result.close()

    def serialized(environ, start_response):
        with lock:
            result = app(environ, start_response)
            chunks = Serialized(result)
        chunks.result = result
        return chunks

    httpd.set_app(serialized)
    return app


@pytest.fixture
def jotter_site(live_server, polar_emulator_server, settings) -> Iterator[Site]:
    """The demo on the live server, paying on the served emulator, webhooks over HTTP."""
    from django.db import connection

    from django_polar.conf import polar_settings

    settings.POLAR = {
        **settings.POLAR,
        "SERVER": "emulator",
        "EMULATOR_URL": polar_emulator_server.url,
        "EMBED_SCRIPT_URL": live_server.url + reverse("notes:embed_script"),
        "SUBSCRIPTION_REQUIRED_URL": "notes:pricing",
    }
    polar_emulator_server.emulator.add_webhook_endpoint(
        live_server.url + reverse("django_polar:webhook"), secret=polar_settings.WEBHOOK_SECRET
    )
    call_command("polar_sync", verbosity=0)  # mirror the catalog, as `manage.py demo` does
    lock = threading.Lock()
    httpd = live_server.thread.httpd
    original = _serialize_requests(httpd, lock) if connection.vendor == "sqlite" else None
    try:
        yield Site(live_server.url, polar_emulator_server.url, lock)
    finally:
        # Every delivery must land before the database is flushed (a checkout alone sends
        # a dozen events, each one a request to the live server); 2 shared cores are slow.
        polar_emulator_server.wait_for_webhooks(timeout=20)
        # polar_emulator_server.stop() closes the webhook client's keep-alive connection.
        if original is not None:
            httpd.set_app(original)


class Shots:
    """Numbered screenshots of one test in test-artifacts/<test name>/."""

    def __init__(self, page, name: str) -> None:
        self.page = page
        self.folder = ARTIFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, step: str, *, docs: str | None = None) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if docs and os.environ.get("UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / f"{docs}.png")
        return path


@pytest.fixture
def page(chromium, request) -> Iterator:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.shots = Shots(page, request.node.name)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
