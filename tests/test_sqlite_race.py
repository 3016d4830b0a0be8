"""On SQLite (the demo's database) an API change and Polar's webhook for it race, as in
production: the demo served by gunicorn (two processes, threads), Polar's emulator over
real HTTP delivering each change's webhooks from its own thread while the next API call
already runs. Every call must succeed and every event must be applied.

Without ``transaction_mode: IMMEDIATE`` a write that starts as a read cannot wait for the
other writer (SQLite answers "database is locked" at once, whatever the timeout), so a
cancel Polar had made answered 500 and events stayed pending (issue 18).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from polar_emulator import Emulator
from polar_emulator.web.server import serve

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + "c3FsaXRlLXJhY2Utd2ViaG9vay1zZWNyZXQ="
CSRF = "sqliteRaceCsrfToken0123456789abc"  # 32 characters, as Django's cookie holds
CALLS = 60

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="runs the demo on a SQLite file of its own; the PostgreSQL run adds nothing",
    ),
]

LOGIN = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.create_user("ada", "ada@example.com", "pw")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def until(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def emulator():
    emu = Emulator()
    emu.seed(
        {
            "products": [
                {
                    "key": "pro",
                    "name": "Jotter Pro",
                    "recurring_interval": "month",
                    "prices": [{"amount": 900, "currency": "usd"}],
                }
            ]
        }
    )
    server = serve(emu, port=0, deliver_interval=0.05)
    yield server
    server.stop()


@pytest.fixture
def demo(emulator, tmp_path):
    """The demo project on a fresh SQLite file, served by gunicorn: yields a logged-in
    client, the database's path and how many events the emulator had sent before."""
    db = tmp_path / "db.sqlite3"
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": f"sqlite:///{db}",
        "DEBUG": "True",  # the demo as `dev.py demo` runs it (the emulator needs DEBUG)
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": site,
        "POLAR_SERVER": "emulator",
        "POLAR_EMULATOR_URL": emulator.url,
        "POLAR_WEBHOOK_SECRET": SECRET,
        "POLAR_EMULATOR_STATE_FILE": str(tmp_path / "emulator.json"),
    }
    manage(env, "migrate", "-v0")
    manage(env, "polar_sync", "products", "-v0")
    session_key = manage(env, "shell", "-c", LOGIN).split()[-1]
    emulator.emulator.add_webhook_endpoint(f"{site}/polar/webhook/", secret=SECRET)
    before = len(emulator.emulator.sent_events)  # the catalog's events, sent to no endpoint
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "example_project.wsgi", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    client = httpx.Client(
        base_url=site,
        cookies={"sessionid": session_key, "csrftoken": CSRF},
        headers={"X-CSRFToken": CSRF},
        timeout=30,
    )

    last: list = []

    def up() -> bool:
        try:
            response = client.get("/api/billing/state/")
        except httpx.TransportError as exc:
            last[:] = [exc]
            return False
        last[:] = [response.status_code, response.text[:300]]
        return response.status_code == 200

    try:
        assert until(up), f"the demo did not answer: {last}"
        yield client, db, before
    finally:
        client.close()
        server.terminate()
        _, errors = server.communicate(timeout=30)
        assert "Traceback" not in errors, errors


def test_api_changes_racing_their_webhooks_all_succeed_and_every_event_is_applied(demo, emulator):
    client, db, before = demo
    [product] = client.get("/api/billing/products/").json()["results"]
    checkout = client.post("/api/billing/checkouts/", json={"products": [product["id"]]})
    assert checkout.status_code == 201, checkout.text
    emulator.emulator.pay_checkout(checkout.json()["id"])
    emulator.wake()
    state = until(lambda: client.get("/api/billing/state/").json()["subscriptions"])
    [subscription] = state
    url = f"/api/billing/subscriptions/{subscription['id']}"

    answers = []
    for call in range(CALLS):  # each change's webhooks arrive during the next call
        response = client.post(f"{url}/{'cancel' if call % 2 == 0 else 'resume'}/")
        answers.append((response.status_code, response.text[:200]))
    assert [status for status, _ in answers] == [200] * CALLS, answers

    assert emulator.wait_for_webhooks(timeout=120)  # generous: CI machines may be busy

    def events_by_status() -> dict[str, int]:
        with sqlite3.connect(db, timeout=30) as conn:
            rows = conn.execute(
                "SELECT status, COUNT(*) FROM polar_webhook_event GROUP BY status"
            ).fetchall()
        return dict(rows)

    # Inline processing runs right after each webhook's answer: give the last ones a moment.
    left = {"pending", "failed"}
    until(lambda: not left & set(events_by_status()), timeout=120)
    statuses = events_by_status()
    # None waits, none failed ("ignored" is an event type the mirror does not keep).
    assert not left & set(statuses), statuses
    assert sum(statuses.values()) == len(emulator.emulator.sent_events) - before
    final = client.get(f"{url}/").json()
    polar_side = emulator.emulator.store.subscriptions[subscription["id"]]
    assert final["cancel_at_period_end"] is polar_side["cancel_at_period_end"] is False
