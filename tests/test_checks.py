"""System checks: each misconfiguration gets its id, a hint, and never shows a secret."""

import sys
from io import StringIO

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from tests.settings import TASKS_PACKAGE

TOKEN = "polar_oat_checks_SECRET_abcdef123456"
SECRET = "whsec_Y2hlY2tzLXNlY3JldC1kby1ub3Qtc2hvdw=="
GOOD = {"ACCESS_TOKEN": TOKEN, "WEBHOOK_SECRET": SECRET, "SERVER": "sandbox"}


def test_task_sending_with_the_immediate_backend_warns_that_only_cron_sends():
    # The test settings use the immediate backend.
    with override_settings(POLAR=GOOD):
        (message,) = [m for m in polar_messages(usage=True) if m.id == "django_polar.W010"]
    assert "polar_usage flush" in message.hint
    worker = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    for overrides in (
        {"POLAR": {**GOOD, "USAGE_SENDING": "inline"}},
        {"POLAR": GOOD, "TASKS": worker},
    ):
        with override_settings(**overrides):
            assert "django_polar.W010" not in [m.id for m in polar_messages(usage=True)]


def test_customer_sync_by_task_with_the_immediate_backend_warns_that_only_cron_sends():
    with override_settings(POLAR=GOOD):
        (message,) = [m for m in polar_messages(usage=True) if m.id == "django_polar.W011"]
    assert "polar_customers push" in message.hint
    assert message.msg.startswith("Billables' email and name changes reach Polar only")
    worker = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    for overrides in (
        {"POLAR": {**GOOD, "CUSTOMER_SYNC": "inline", "CUSTOMER_ON_DELETE": "anonymize"}},
        {"POLAR": {**GOOD, "CUSTOMER_SYNC": "off"}},
        {"POLAR": GOOD, "TASKS": worker},
    ):
        with override_settings(**overrides):
            assert "django_polar.W011" not in [m.id for m in polar_messages(usage=True)]
    with override_settings(POLAR={**GOOD, "CUSTOMER_SYNC": "off", "CUSTOMER_ON_DELETE": "delete"}):
        (message,) = [m for m in polar_messages(usage=True) if m.id == "django_polar.W011"]
    # With sync off only deletions go by task: the warning says so, not "email changes".
    assert message.msg.startswith("Billables' deletions reach Polar only")


#: Warnings the test settings' immediate task backend raises with the default settings.
BACKEND_WARNINGS = ("django_polar.W010", "django_polar.W011")


def polar_messages(*, usage: bool = False):
    """Our messages; W010 and W011 (usage and customer changes sent by task with the
    immediate backend the test settings use) only when ``usage``."""
    return [
        m
        for m in run_checks()
        if (m.id or "").startswith("django_polar.") and (usage or m.id not in BACKEND_WARNINGS)
    ]


def ids():
    return sorted(m.id for m in polar_messages())


def assert_no_secret(messages):
    text = "\n".join(f"{m.msg} {m.hint}" for m in messages)
    assert TOKEN not in text
    assert SECRET not in text


def test_good_configuration_is_silent():
    with override_settings(POLAR=GOOD):
        assert ids() == []


def test_missing_token_and_secret_are_warnings_with_hints():
    with override_settings(POLAR={"SERVER": "sandbox"}):
        messages = polar_messages()
    assert sorted(m.id for m in messages) == ["django_polar.W001", "django_polar.W002"]
    for message in messages:
        assert isinstance(message, Warning)
        assert message.hint


def test_missing_secret_hint_says_where_to_add_the_endpoint():
    with override_settings(POLAR={"ACCESS_TOKEN": TOKEN}):
        (message,) = polar_messages()
    assert message.id == "django_polar.W002"
    # manage.py polar_webhooks only manages the local inbox: the endpoint is made in Polar.
    assert "polar_webhooks" not in message.hint
    assert "Settings > Webhooks" in message.hint
    assert "/polar/webhook/" in message.hint and "Raw" in message.hint


def test_missing_polar_setting_warns():
    with override_settings():
        from django.conf import settings

        del settings.POLAR
        assert ids() == ["django_polar.W001", "django_polar.W002"]


def test_unknown_server_is_e002():
    with override_settings(POLAR={**GOOD, "SERVER": "live"}):
        (message,) = polar_messages()
    assert message.id == "django_polar.E002"
    assert isinstance(message, Error)
    assert "'live'" in message.msg
    assert message.hint


def test_malformed_api_version_is_e003():
    with override_settings(POLAR={**GOOD, "API_VERSION": "2026-10-01"}):
        (message,) = polar_messages()
    assert message.id == "django_polar.E003"
    assert "YYYY-MM" in message.msg


def test_invalid_settings_become_errors_not_crashes():
    with override_settings(POLAR={**GOOD, "TIMEOUT": "soon", "ACCES_TOKEN": TOKEN}):
        messages = polar_messages()
    assert sorted(m.id for m in messages) == ["django_polar.E001", "django_polar.E001"]
    text = " ".join(m.msg for m in messages)
    assert "POLAR['TIMEOUT']" in text
    assert "'ACCES_TOKEN'" in text
    assert_no_secret(messages)


def test_bad_secret_is_reported_without_its_value():
    with override_settings(POLAR={**GOOD, "ACCESS_TOKEN": f" {TOKEN}"}):
        messages = polar_messages()
    assert [m.id for m in messages] == ["django_polar.E001"]
    assert "ACCESS_TOKEN" in messages[0].msg
    assert_no_secret(messages)


def test_emulator_with_debug_off_is_e004():
    with override_settings(POLAR={**GOOD, "SERVER": "emulator"}, DEBUG=False):
        assert ids() == ["django_polar.E004"]
    with override_settings(POLAR={**GOOD, "SERVER": "emulator"}, DEBUG=True):
        assert ids() == []


def test_missing_tasks_framework_is_e005(monkeypatch):
    monkeypatch.setitem(sys.modules, "django_tasks", None)
    monkeypatch.setitem(sys.modules, "django.tasks", None)
    with override_settings(POLAR=GOOD):
        (message,) = polar_messages()
    assert message.id == "django_polar.E005"
    assert "pip install django-polar[tasks]" in message.hint


def test_manage_py_check_reports_without_leaking_secrets():
    out, err = StringIO(), StringIO()
    bad = {
        "ACCESS_TOKEN": TOKEN,
        "WEBHOOK_SECRET": SECRET,
        "SERVER": "emulator",
        "API_VERSION": "26-10",
    }
    with override_settings(POLAR=bad, DEBUG=False), pytest.raises(SystemCheckError) as info:
        call_command("check", stdout=out, stderr=err)
    text = str(info.value) + out.getvalue() + err.getvalue()
    assert "django_polar.E003" in text
    assert "django_polar.E004" in text
    assert "HINT:" in text
    assert TOKEN not in text
    assert SECRET not in text


def test_manage_py_check_warnings_do_not_fail():
    out = StringIO()
    with override_settings(POLAR={"SERVER": "sandbox"}):
        call_command("check", stdout=out, stderr=out)
    assert "django_polar.W001" in out.getvalue()
    assert "django_polar.W002" in out.getvalue()
