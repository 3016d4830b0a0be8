"""Suite-wide pytest configuration: markers that depend on the database or machine."""

import os
import shutil

import pytest
from django.conf import settings


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    skip_browser = pytest.mark.skip(reason="needs Debian's chromium (apt-get install chromium)")
    has_chromium = bool(shutil.which("chromium"))
    if os.environ.get("REQUIRE_BROWSER") and not has_chromium:
        # CI sets this: a green run must include the browser tests, never skip them.
        raise pytest.UsageError("REQUIRE_BROWSER is set but `chromium` is not on PATH.")
    for item in items:
        if "postgres" in item.keywords and not _on_postgres():
            item.add_marker(skip_pg)
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(skip_browser)
