"""`manage.py demo` (the README's demo command) up to the point where it would serve.

It must leave a site a person can buy in: the emulator running with Jotter's catalog, the
catalog mirrored, a demo user, and the URL printed; a second run resumes saved state.
"""

import io
import socket

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from django_polar.models import Product

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_settings(settings, tmp_path):
    port = free_port()
    settings.POLAR = {
        **settings.POLAR,
        "SERVER": "emulator",
        "EMULATOR_URL": f"http://127.0.0.1:{port}",
    }
    settings.SITE_URL = "http://127.0.0.1:8123"
    settings.POLAR_EMULATOR_STATE_FILE = str(tmp_path / "emulator-state.json")
    return settings


def run_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", "--no-runserver", *args, stdout=out)
    return out.getvalue()


def test_demo_sets_up_a_site_to_buy_in_and_prints_its_url(demo_settings, client, tmp_path):
    output = run_demo("--fresh")

    assert "Open http://127.0.0.1:8123/pricing/ and buy a plan" in output
    assert "Webhooks go to http://127.0.0.1:8123/polar/webhook/" in output
    names = set(Product.objects.active().values_list("name", flat=True))
    assert {
        "Jotter Pro",
        "Jotter Pro Yearly",
        "Jotter Team",
        "Jotter AI",
        "Jotter Desktop",
    } <= names

    from example_project.notes.management.commands.demo import DEMO_PASSWORD, DEMO_USERNAME

    assert f"{DEMO_USERNAME} / {DEMO_PASSWORD}" in output
    assert get_user_model().objects.get(username=DEMO_USERNAME).check_password(DEMO_PASSWORD)
    assert client.login(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    assert "Buy Jotter Pro" in client.get("/pricing/").content.decode()
    assert (tmp_path / "emulator-state.json").exists()

    again = run_demo()
    assert "state from" in again
    assert get_user_model().objects.filter(username=DEMO_USERNAME).count() == 1


def test_demo_skips_the_emulator_when_pointed_at_polar(demo_settings, monkeypatch):
    """With POLAR_SERVER=sandbox the command only migrates, syncs and serves."""
    demo_settings.POLAR = {**demo_settings.POLAR, "SERVER": "sandbox"}
    synced = []
    monkeypatch.setattr(
        "example_project.notes.management.commands.demo.call_command",
        lambda name, *a, **k: synced.append(name),
    )
    output = run_demo()
    assert "Using Polar sandbox (no emulator)" in output
    assert "emulator" not in output.replace("(no emulator)", "")
    assert synced == ["migrate", "polar_sync"]
