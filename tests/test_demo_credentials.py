"""The demo's public credentials never protect anything but the emulator.

``example_project/settings.py`` is loaded in a fresh interpreter with the environment a
deployment would have; the system check runs through ``manage.py check --deploy``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_polar.conf import DEMO_ACCESS_TOKEN, DEMO_WEBHOOK_SECRET, validate

ROOT = Path(__file__).resolve().parent.parent
REAL_TOKEN = "polar_oat_real_production_token_0123456789"
REAL_SECRET = "whsec_cmVhbC1wcm9kdWN0aW9uLXNlY3JldC0wMTIzNDU2Nzg5"


def load_example_settings(**environment: str) -> subprocess.CompletedProcess:
    """Import the demo's settings as ``manage.py`` would, with only ``environment`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
    env.update(environment, PYTHONPATH=str(ROOT))
    script = (
        "import example_project.settings as s; "
        "print(s.POLAR['SERVER'], s.POLAR['ACCESS_TOKEN'], s.POLAR['WEBHOOK_SECRET'])"
    )
    return subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )


def test_the_demo_credentials_apply_on_the_emulator():
    result = load_example_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["emulator", DEMO_ACCESS_TOKEN, DEMO_WEBHOOK_SECRET]


@pytest.mark.parametrize("server", ["production", "sandbox"])
@pytest.mark.parametrize("missing", ["POLAR_ACCESS_TOKEN", "POLAR_WEBHOOK_SECRET"])
def test_a_missing_credential_outside_the_emulator_stops_startup(server, missing):
    env = {"POLAR_SERVER": server, "POLAR_ACCESS_TOKEN": REAL_TOKEN}
    env["POLAR_WEBHOOK_SECRET"] = REAL_SECRET
    del env[missing]
    result = load_example_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr
    assert DEMO_WEBHOOK_SECRET not in result.stdout + result.stderr


def test_real_credentials_outside_the_emulator_are_used():
    result = load_example_settings(
        POLAR_SERVER="production", POLAR_ACCESS_TOKEN=REAL_TOKEN, POLAR_WEBHOOK_SECRET=REAL_SECRET
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["production", REAL_TOKEN, REAL_SECRET]


@pytest.mark.parametrize("server", ["production", "sandbox", "https://polar.internal"])
@pytest.mark.parametrize("key", ["ACCESS_TOKEN", "WEBHOOK_SECRET"])
def test_check_deploy_refuses_a_public_credential_outside_the_emulator(server, key):
    polar = {"SERVER": server, "ACCESS_TOKEN": REAL_TOKEN, "WEBHOOK_SECRET": REAL_SECRET}
    polar[key] = {"ACCESS_TOKEN": DEMO_ACCESS_TOKEN, "WEBHOOK_SECRET": DEMO_WEBHOOK_SECRET}[key]
    out = StringIO()
    with override_settings(POLAR=polar), pytest.raises(SystemCheckError) as info:
        call_command("check", "--deploy", stdout=out, stderr=out)
    text = str(info.value) + out.getvalue()
    assert "django_polar.E006" in text and f"POLAR['{key}']" in text
    assert DEMO_WEBHOOK_SECRET not in text and DEMO_ACCESS_TOKEN not in text


def test_the_public_credentials_are_fine_on_the_emulator():
    polar = {"SERVER": "emulator", "ACCESS_TOKEN": DEMO_ACCESS_TOKEN}
    polar["WEBHOOK_SECRET"] = DEMO_WEBHOOK_SECRET
    out = StringIO()
    with override_settings(POLAR=polar, DEBUG=True):
        call_command("check", stdout=out, stderr=out)
    assert "E006" not in out.getvalue()


@pytest.mark.parametrize(
    "key, value",
    [
        ("SERVER", REAL_TOKEN),
        ("SERVER", "sk_live_51HxQ2rA8b7cD9eF"),
        ("SERVER", "https://admin:hunter2-password@polar.internal/v1?token=abc"),
        ("EMULATOR_URL", REAL_SECRET),
        ("API_VERSION", "d41d8cd98f00b204e9800998ecf8427e"),
        ("ORGANIZATION_ID", REAL_TOKEN),
        ("BILLABLE_RESOLVER", "s3cr3t!value"),
        ("SUCCESS_URL", {"token": REAL_TOKEN}),
    ],
)
def test_settings_errors_never_echo_a_value_that_could_be_a_secret(key, value):
    with pytest.raises(ImproperlyConfigured) as info:
        validate({key: value})
    message = str(info.value)
    assert f"POLAR['{key}']" in message
    for secret in (REAL_TOKEN, REAL_SECRET, "hunter2", "sk_live", "d41d8cd9", "s3cr3t", "abc"):
        assert secret not in message


def test_settings_errors_still_show_harmless_values():
    with pytest.raises(ImproperlyConfigured, match="'staging'"):
        validate({"SERVER": "staging"})
    with pytest.raises(ImproperlyConfigured, match=re.escape("'https://polar.internal/v1'")):
        validate({"SERVER": "https://polar.internal/v1"})
    with pytest.raises(ImproperlyConfigured, match="-1"):
        validate({"TIMEOUT": -1})
