"""Bad input to commands and the API is a clear error naming the bound, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import include, path, reverse
from rest_framework.test import APIClient

from tests.testapp.models import User

ROOT = Path(__file__).resolve().parent.parent

urlpatterns = [path("api/billing/", include("django_polar.api.urls"))]


@pytest.mark.parametrize(
    "args, bound",
    [
        (["polar_sync", "--since", "99999999999d"], "at most 36500 days"),
        (["polar_sync", "--since", "999999999w"], "at most 36500 days"),
        (["polar_sync", "--rate", "nan"], "--rate must be a number above 0 and at most 1e+06"),
        (["polar_sync", "--rate", "inf"], "--rate must be a number above 0"),
        (["polar_sync", "--rate", "-1"], "--rate must be a number above 0"),
        (
            ["polar_sync", "--concurrency", "100000"],
            "--concurrency must be a whole number from 1 to 32",
        ),
        (["polar_sync", "--concurrency", "0"], "from 1 to 32"),
        (["polar_customers", "link", "--concurrency", "100000"], "from 1 to 32"),
        (["polar_reconcile", "--rate", "inf"], "--rate must be a number above 0"),
        (
            ["polar_webhooks", "list", "--limit", "-5"],
            "--limit must be a whole number from 1 to 10000",
        ),
        (["polar_webhooks", "list", "--limit", "1e20"], "from 1 to 10000"),
        (["polar_webhooks", "retry-failed", "--stale-after", "-1"], "--stale-after must be"),
        (
            ["polar_usage", "pending", "--limit", "1e20"],
            "--limit must be a whole number from 1 to 10000",
        ),
        (["polar_usage", "pending", "--limit", str(10**20)], "from 1 to 10000"),
    ],
)
@pytest.mark.django_db
def test_out_of_range_options_are_command_errors_naming_the_bound(args, bound):
    with pytest.raises(CommandError, match=bound.replace("+", r"\+")):
        call_command(*args)


def test_from_the_command_line_the_error_is_a_usage_message_not_a_traceback():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-m", "django", "polar_webhooks", "list", "--limit", "-5"],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--limit must be a whole number from 1 to 10000" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
def test_a_deeply_nested_api_body_is_a_400(depth):
    api = APIClient()
    api.force_authenticate(User.objects.create_user("ada", "ada@example.com", "pw"))
    body = "[" * depth + "]" * depth
    for url in ("/api/billing/checkouts/", "/api/billing/portal/"):
        response = api.post(url, body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert "JSON parse error" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.urls("example_project.urls")
def test_a_team_is_never_billed_at_a_persons_address(client):
    from example_project.notes.models import Team

    owner = User.objects.create_user("ada", "ada@example.com", "pw")
    User.objects.create_user("bob", "bob@example.com", "pw")
    client.force_login(owner)
    for email in ("bob@example.com", "BOB@example.com", "ada@example.com"):
        page = client.post(reverse("notes:teams"), {"name": "Labs", "billing_email": email})
        assert page.status_code == 200
        assert "email of a Jotter account" in page.content.decode()
    assert not Team.objects.exists()

    client.post(reverse("notes:teams"), {"name": "Labs", "billing_email": "labs@example.com"})
    page = client.post(
        reverse("notes:teams"), {"name": "Labs 2", "billing_email": "labs@example.com"}
    )
    assert "Another team is billed at this address" in page.content.decode()
    client.post(reverse("notes:teams"), {"name": "No email", "billing_email": ""})
    assert sorted(Team.objects.values_list("billing_email", flat=True)) == ["", "labs@example.com"]
    assert Team.objects.get(name="No email").get_polar_email() == ""
