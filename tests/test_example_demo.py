"""`manage.py demo` (the README's demo command) up to the point where it would serve.

It must leave a site a person can buy in: the emulator running with Jotter's catalog, the
catalog mirrored, a demo user, and the URL printed; a second run resumes saved state.
"""

import io
import re
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
    from django_polar.client import use_transport
    from example_project.notes.catalog_seed import JOTTER_SEED
    from polar_emulator import Emulator

    demo_settings.POLAR = {**demo_settings.POLAR, "SERVER": "sandbox"}
    synced = []
    monkeypatch.setattr(
        "example_project.notes.management.commands.demo.call_command",
        lambda name, *a, **k: synced.append(name),
    )
    polar = Emulator(seed=JOTTER_SEED)  # an organization that has Jotter's products
    before = len(polar.store.products), len(polar.store.benefits)
    with use_transport(polar.transport()):
        output = run_demo()
    assert "Jotter's products are already in Polar" in output
    assert (len(polar.store.products), len(polar.store.benefits)) == before
    assert "Using Polar sandbox (no emulator)" in output
    assert "emulator" not in output.replace("(no emulator)", "")
    assert synced == ["migrate", "polar_sync"]


def test_demo_creates_jotters_catalog_in_an_empty_polar_organization_once(demo_settings, capsys):
    """POLAR_SERVER=sandbox with a fresh organization: the demo creates the products through
    the API (here an empty emulator over the client transport: no network), then mirrors them."""
    from django_polar.client import use_transport
    from example_project.notes.catalog_seed import JOTTER_SEED
    from polar_emulator import Emulator

    demo_settings.POLAR = {**demo_settings.POLAR, "SERVER": "sandbox"}
    polar = Emulator()
    with use_transport(polar.transport()):
        output = run_demo()
        assert "Created Jotter's catalog in Polar" in output
        remote = {p["metadata"]["slug"]: p for p in polar.store.products.values()}
        assert set(remote) == {p["key"] for p in JOTTER_SEED["products"]}
        names = set(Product.objects.active().values_list("name", flat=True))
        assert names == {p["name"] for p in JOTTER_SEED["products"]}
        desktop = Product.objects.get(name="Jotter Desktop")
        assert [b.type for b in desktop.benefits.all()] == ["license_keys"]
        ai = Product.objects.get(name="Jotter AI")
        assert ai.prices.filter(amount_type="metered_unit").count() == 1
        counts = (len(polar.store.products), len(polar.store.benefits), len(polar.store.meters))

        again = run_demo()
        assert "Jotter's products are already in Polar" in again
        assert (
            len(polar.store.products),
            len(polar.store.benefits),
            len(polar.store.meters),
        ) == counts
    printed = capsys.readouterr()
    # polar_sync ran with verbosity 0: no progress lines, no summary table.
    assert not re.search(r"benefits\s*[:|]?\s*\d", printed.out + printed.err + output + again)
