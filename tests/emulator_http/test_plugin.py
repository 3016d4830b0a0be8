"""The pytest plugin as users enable it: its fixtures in this suite, and in separate
suites run the way a project would (``pytest -p django_polar.testing.pytest_plugin``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from django_polar.client import get_client
from django_polar.models import Order, Subscription

ROOT = Path(__file__).resolve().parents[2]


def test_polar_emulator_routes_the_client_and_delivers_webhooks_to_the_view(polar_emulator):
    products = {p["name"]: p["id"] for p in get_client().list_products()}
    assert {"Pro Monthly", "Lifetime Pro"} <= set(products)
    checkout = get_client().create_checkout(
        {"products": [products["Pro Monthly"]], "external_customer_id": "plugin-user-1"}
    )
    paid = polar_emulator.pay_checkout(checkout["id"], email="plugin@example.com")
    subscription = Subscription.objects.get(pk=paid["subscription_id"])
    assert subscription.status == "trialing"
    assert Order.objects.filter(customer__external_id="plugin-user-1").count() == 1


def test_polar_emulator_server_serves_the_same_emulator_the_client_uses(polar_emulator_server):
    checkout = get_client().create_checkout(
        {"products": [polar_emulator_server.emulator.product_id("lifetime")]}
    )
    assert checkout["url"].startswith(polar_emulator_server.url + "/checkout/")
    page = httpx.get(checkout["url"])
    assert page.status_code == 200 and "Lifetime Pro" in page.text


def run_suite(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_user_suite.py").write_text(textwrap.dedent(source))
    # Load exactly the plugins a project would name, whether or not django-polar's
    # entry point is installed in this environment.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # SQLite in memory: a sub-suite on this run's PostgreSQL would create and drop a test
    # database of the same name as ours.
    env.pop("DATABASE_URL", None)
    django_plugin = [] if "no:django" in args else ["-p", "pytest_django.plugin"]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "django_polar.testing.pytest_plugin",
            *django_plugin,
            *args,
            "test_user_suite.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_plugin_in_a_django_suite_with_its_own_seed(tmp_path):
    result = run_suite(
        tmp_path,
        """
        import pytest
        from django_polar.client import get_client
        from django_polar.models import Subscription

        @pytest.fixture
        def polar_emulator_seed():
            return {"products": [{"key": "basic", "name": "Basic", "recurring_interval": "month",
                                  "prices": [{"amount": 500}]}]}

        def test_buy_basic(polar_emulator):
            names = [p["name"] for p in get_client().list_products()]
            assert names == ["Basic"]
            checkout = get_client().create_checkout({"products": [polar_emulator.product_id("basic")]})
            paid = polar_emulator.pay_checkout(checkout["id"], email="user@example.com")
            assert Subscription.objects.get(pk=paid["subscription_id"]).status == "active"
    """,
        "--ds",
        "tests.settings",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_plugin_does_not_need_django_until_a_fixture_does(tmp_path):
    result = run_suite(
        tmp_path,
        """
        import sys
        import httpx

        def test_plain():
            assert "django" not in sys.modules

        def test_server_without_django(polar_emulator_server):
            response = httpx.get(polar_emulator_server.url + "/v1/products/",
                                 headers={"Authorization": "Bearer any"})
            assert response.status_code == 200
            assert "django" not in sys.modules
    """,
        "-p",
        "no:django",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
