"""Settings: defaults, validation naming the key and the fix, reload on override_settings."""

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_polar.conf import DEFAULTS, polar_settings, validate

TOKEN = "polar_oat_conftest_SECRET_value_42"


def test_defaults_apply_to_unset_keys():
    with override_settings(POLAR={"ACCESS_TOKEN": TOKEN}):
        assert polar_settings.ACCESS_TOKEN == TOKEN
        assert polar_settings.API_VERSION == "2026-10"
        assert polar_settings.SERVER == "sandbox"
        assert polar_settings.TIMEOUT == 10.0
        assert polar_settings.MAX_RETRIES == 3
        assert polar_settings.RETRY_MAX_WAIT == 30.0
        assert polar_settings.WEBHOOK_MAX_BODY_BYTES == 5 * 1024 * 1024
        assert polar_settings.WEBHOOK_TOLERANCE == 300
        assert polar_settings.WEBHOOK_PROCESSING == "inline"
        assert polar_settings.PRODUCTS == {}
        assert polar_settings.ORGANIZATION_ID is None
        assert "@polar-sh/checkout@0.4" in polar_settings.EMBED_SCRIPT_URL


def test_no_polar_setting_at_all_uses_defaults():
    with override_settings():
        from django.conf import settings

        del settings.POLAR
        polar_settings.reload()
        read = {key: getattr(polar_settings, key) for key in DEFAULTS}
    polar_settings.reload()
    assert read == DEFAULTS  # every one of the keys, not a sample
    assert len(DEFAULTS) >= 21


def test_the_conf_docstring_documents_every_setting():
    from django_polar import conf

    undocumented = [key for key in DEFAULTS if f"\n    {key} " not in conf.__doc__]
    assert undocumented == []


def test_docs_settings_page_documents_every_setting():

    page = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()
    missing = [key for key in DEFAULTS if f"| `{key}` |" not in page]
    assert missing == []


def test_override_settings_is_picked_up_and_restored():
    original = polar_settings.SERVER
    with override_settings(POLAR={"SERVER": "production"}):
        assert polar_settings.SERVER == "production"
    assert polar_settings.SERVER == original


@pytest.mark.parametrize(
    ("server", "base_url", "dashboard"),
    [
        ("production", "https://api.polar.sh", "https://polar.sh/dashboard"),
        ("sandbox", "https://sandbox-api.polar.sh", "https://sandbox.polar.sh/dashboard"),
        ("emulator", "http://127.0.0.1:8765", "http://127.0.0.1:8765/dashboard"),
        ("https://polar.example.com/", "https://polar.example.com", "https://polar.sh/dashboard"),
    ],
)
def test_base_url_and_dashboard_per_server(server, base_url, dashboard):
    with override_settings(POLAR={"SERVER": server}):
        assert polar_settings.base_url == base_url
        assert polar_settings.dashboard_url == dashboard


def test_emulator_url_is_configurable():
    with override_settings(POLAR={"SERVER": "emulator", "EMULATOR_URL": "http://localhost:9000/"}):
        assert polar_settings.base_url == "http://localhost:9000"
        assert polar_settings.dashboard_url == "http://localhost:9000/dashboard"


@pytest.mark.parametrize(
    ("key", "value", "fix"),
    [
        ("SERVER", "staging", "'sandbox'"),
        ("SERVER", "https://api.polar.sh/v1", "without '/v1'"),
        ("API_VERSION", "2026-13", "YYYY-MM"),
        ("API_VERSION", "v1", "YYYY-MM"),
        ("ORGANIZATION_ID", "my-org", "UUID"),
        ("TIMEOUT", 0, "greater than 0"),
        ("TIMEOUT", "10", "greater than 0"),
        ("CONNECT_TIMEOUT", -1, "greater than 0"),
        ("MAX_RETRIES", -1, ">= 0"),
        ("MAX_RETRIES", 2.5, "whole number"),
        ("MAX_RETRIES", True, "whole number"),
        ("RETRY_BACKOFF", -0.1, ">= 0"),
        ("RETRY_MAX_WAIT", 0, "greater than 0"),
        ("EMULATOR_URL", "127.0.0.1:8765", "http(s) URL"),
        ("WEBHOOK_MAX_BODY_BYTES", 0, ">= 1"),
        ("WEBHOOK_TOLERANCE", None, "greater than 0"),
        ("WEBHOOK_PROCESSING", "celery", "'inline', 'task'"),
        ("WEBHOOK_MAX_ATTEMPTS", 0, ">= 1"),
        ("PAST_DUE_GRANTS_ACCESS", "yes", "True or False"),
        ("BILLABLE_RESOLVER", "not a path", "dotted path"),
        ("PRODUCTS", ["pro"], "map slugs"),
        ("PRODUCTS", {"pro": ""}, "map slugs"),
        ("EMBED_SCRIPT_URL", "embed.js", "http(s) URL"),
        ("SUCCESS_URL", 42, "URL name"),
        ("SUBSCRIPTION_REQUIRED_URL", "", "URL name"),
        ("ACCESS_TOKEN", 123, "string"),
    ],
)
def test_invalid_value_names_key_and_fix(key, value, fix):
    with pytest.raises(ImproperlyConfigured) as info:
        validate({key: value})
    assert f"POLAR['{key}']" in str(info.value)
    assert fix in str(info.value)


def test_invalid_value_raises_on_attribute_access():
    with (
        override_settings(POLAR={"SERVER": "staging"}),
        pytest.raises(ImproperlyConfigured, match="SERVER"),
    ):
        polar_settings.SERVER  # noqa: B018


def test_unknown_key_is_rejected_by_name():
    with pytest.raises(ImproperlyConfigured, match=r"'ACCES_TOKEN'.*known keys: .*ACCESS_TOKEN"):
        validate({"ACCES_TOKEN": TOKEN})


def test_polar_must_be_a_dict():
    with pytest.raises(ImproperlyConfigured, match="must be a dict"):
        validate("polar_oat_x")


def test_secret_with_whitespace_is_rejected_without_echoing_it():
    with pytest.raises(ImproperlyConfigured) as info:
        validate({"ACCESS_TOKEN": TOKEN + "\n"})
    assert "ACCESS_TOKEN" in str(info.value)
    assert TOKEN not in str(info.value)


def test_every_key_has_a_validator_and_defaults_are_valid():
    assert validate({}) == DEFAULTS
    assert validate(dict(DEFAULTS)) == DEFAULTS


def test_valid_custom_values_are_kept():
    values = {
        "ORGANIZATION_ID": "1dbfc517-0bbf-4301-9ba8-555ca42b9737",
        "SERVER": "http://localhost:8000",
        "PRODUCTS": {"pro-monthly": "d8dd2de1-21b7-4a41-8bc3-ce909c0cfe23"},
        "RETRY_BACKOFF": 0,
        "TIMEOUT": 3,
        "BILLABLE_RESOLVER": "tests.testapp.models.User",
        "SUCCESS_URL": "/thanks/",
    }
    assert validate(values) == {**DEFAULTS, **values}


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="not a django-polar setting"):
        polar_settings.ACCESS_TOKENS  # noqa: B018


def test_billable_resolver_is_imported_from_dotted_path():
    with override_settings(POLAR={"BILLABLE_RESOLVER": "django_polar.conf.validate"}):
        assert polar_settings.billable_resolver is validate
    with override_settings(POLAR={"BILLABLE_RESOLVER": "django_polar.conf.nothing_here"}):
        with pytest.raises(ImproperlyConfigured, match="cannot be imported"):
            polar_settings.billable_resolver  # noqa: B018
    with override_settings(POLAR={}):
        assert polar_settings.billable_resolver is None


def test_repr_shows_no_secret():
    with override_settings(
        POLAR={"ACCESS_TOKEN": TOKEN, "WEBHOOK_SECRET": "whsec_c2VjcmV0c2VjcmV0"}
    ):
        assert TOKEN not in repr(polar_settings)
        assert "whsec_" not in repr(polar_settings)
