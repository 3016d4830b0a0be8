"""Suite-wide pytest configuration: markers that depend on the database or machine."""

import os
import shutil
import signal

import pytest
from django.conf import settings


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


#: Tests a mutation run leaves out to bound its time (scripts/mutation.py sets this to a
#: group's ``skipped`` tests, comma-separated node ids). A skipped test can only let a
#: mutant survive, never kill one, so the score measured without it is a lower bound.
MUTATION_SKIPPED = frozenset(filter(None, os.environ.get("POLAR_MUTATION_SKIP", "").split(",")))


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
        if item.nodeid.split("[")[0] in MUTATION_SKIPPED:
            item.add_marker(pytest.mark.skip(reason="left out of this mutation run"))


#: Seconds of wall-clock time one test may take, when set (scripts/mutation.py sets it):
#: a mutant that removes a deadline makes a test wait in real time, which mutmut's
#: CPU-time limit never stops. Past the limit the test fails, so the mutant counts killed.
WALL_SECONDS = int(os.environ.get("POLAR_TEST_WALL_SECONDS") or 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if not WALL_SECONDS or not hasattr(signal, "SIGALRM"):
        yield
        return

    def too_long(signum, frame):
        pytest.fail(f"{item.nodeid} ran past {WALL_SECONDS} s of wall-clock time")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(WALL_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
