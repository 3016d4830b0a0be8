"""``polar_webhooks register`` and ``polar_webhooks doctor`` against the emulator: the
endpoint is made through Polar's API, its deliveries reach the real webhook view signed
with the secret the command printed, and the doctor repairs what Polar's own rules broke
(an endpoint disabled after 10 failed events, deliveries the inbox never stored)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_polar.client import get_client
from django_polar.models import Customer, WebhookEvent
from django_polar.testing.pytest_plugin import django_webhook_receiver
from django_polar.webhooks.endpoints import SUBSCRIBABLE_EVENTS
from polar_emulator.webhooks import DISABLE_AFTER, MAX_ATTEMPTS

pytestmark = pytest.mark.django_db

SITE = "https://shop.example.com"
URL = SITE + "/polar/webhook/"


def run(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("polar_webhooks", *args, stdout=out, **extra)
    return out.getvalue()


@pytest.fixture
def site(polar_emulator, settings):
    """The emulator with no endpoint of its own: this site registers one through the API,
    configures the printed secret and is reachable at URL (routed to the real view)."""
    polar_emulator.webhooks.endpoints.clear()
    out = run("register", "--url", SITE)
    secret = re.search(r"^\s+(whsec_\S+)$", out, re.M).group(1)
    settings.POLAR = {**settings.POLAR, "WEBHOOK_SECRET": secret}
    view = django_webhook_receiver(reverse("django_polar:webhook"))
    polar_emulator.route_webhook_url(URL, view)
    polar_emulator.view = view
    return polar_emulator


def down(body: bytes, headers: dict[str, str]) -> int:
    return 503  # the site is down: nothing reaches the inbox


def new_customers(n: int, start: int = 0) -> list[str]:
    return [
        get_client().create_customer({"email": f"c{i}@example.com"})["id"]
        for i in range(start, start + n)
    ]


def exhaust(emu) -> None:
    for _ in range(MAX_ATTEMPTS * (DISABLE_AFTER + 2)):
        emu.deliver(force=True)


def test_register_creates_an_endpoint_for_every_event_and_its_secret_verifies(site):
    endpoint = next(iter(get_client().list_webhook_endpoints()))
    assert endpoint["url"] == URL and endpoint["format"] == "raw" and endpoint["enabled"]
    assert sorted(endpoint["events"]) == sorted(SUBSCRIBABLE_EVENTS)
    assert len(endpoint["events"]) == 41
    (customer_id,) = new_customers(1)
    stored = WebhookEvent.objects.get(type="customer.created")
    assert stored.status == "processed"  # signed with the printed secret: accepted
    assert Customer.objects.filter(pk=customer_id).exists()


def test_register_prints_the_secret_once_and_where_it_goes(polar_emulator):
    polar_emulator.webhooks.endpoints.clear()
    out = run("register", "--url", SITE, "--name", "shop")
    endpoint = next(iter(get_client().list_webhook_endpoints()))
    assert out.count(endpoint["secret"]) == 1
    assert 'POLAR["WEBHOOK_SECRET"]' in out
    assert endpoint["name"] == "shop"


def test_register_refuses_a_second_endpoint_for_the_same_url(site):
    with pytest.raises(CommandError, match="already has an endpoint for https://shop"):
        run("register", "--url", URL)  # the full URL names the same endpoint
    assert len(list(get_client().list_webhook_endpoints())) == 1


def test_register_builds_the_url_from_the_site_url_setting(polar_emulator, settings):
    polar_emulator.webhooks.endpoints.clear()
    settings.POLAR = {**settings.POLAR, "SITE_URL": "https://billing.example.org"}
    run("register")
    endpoint = next(iter(get_client().list_webhook_endpoints()))
    assert endpoint["url"] == "https://billing.example.org/polar/webhook/"


def test_register_without_a_site_url_says_what_to_set(polar_emulator):
    with pytest.raises(CommandError, match=r"--url https://<your site> or set POLAR\['SITE_URL'\]"):
        run("register")


def test_register_surfaces_polars_refusal_of_a_local_url(polar_emulator):
    with pytest.raises(CommandError, match="localhost or private IP"):
        run("register", "--url", "https://127.0.0.1:8000")


def test_doctor_on_a_healthy_endpoint_says_so(site):
    new_customers(2)
    out = run("doctor", "--url", SITE, "--noinput")
    assert "enabled" in out and "0 event(s)" in out


def test_doctor_without_an_endpoint_says_to_register(polar_emulator):
    polar_emulator.webhooks.endpoints.clear()
    with pytest.raises(CommandError, match="polar_webhooks register"):
        run("doctor", "--url", SITE)


def test_doctor_finds_the_disabled_endpoint_and_fix_enables_and_redelivers(site):
    site.route_webhook_url(URL, down)
    lost = new_customers(DISABLE_AFTER)
    exhaust(site)
    assert next(iter(get_client().list_webhook_endpoints()))["enabled"] is False
    assert not WebhookEvent.objects.exists()

    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("polar_webhooks", "doctor", "--url", SITE, "--noinput", stdout=out)
    report = out.getvalue()
    assert "DISABLED" in report and f"{DISABLE_AFTER} event(s)" in report
    assert report.count("customer.created") == DISABLE_AFTER
    assert f"attempts={MAX_ATTEMPTS}" in report and "last=503" in report

    site.route_webhook_url(URL, site.view)  # the site is back
    fixed = run("doctor", "--url", SITE, "--fix")
    assert "Enabled endpoint" in fixed and f"redeliver {DISABLE_AFTER} event(s)" in fixed
    assert next(iter(get_client().list_webhook_endpoints()))["enabled"] is True
    # The same events (same webhook-id) reached the inbox and the mirror.
    assert WebhookEvent.objects.filter(type="customer.created").count() == DISABLE_AFTER
    assert set(map(str, Customer.objects.values_list("pk", flat=True))) == set(lost)
    assert "0 event(s)" in run("doctor", "--url", SITE, "--noinput")


def test_doctor_lists_only_events_the_inbox_never_stored(site):
    def stores_then_times_out(body: bytes, headers: dict[str, str]) -> int:
        site.view(body, headers)  # stored by the view...
        return 504  # ...but Polar saw a failure (e.g. a proxy timed out)

    site.route_webhook_url(URL, stores_then_times_out)
    new_customers(1)
    for _ in range(MAX_ATTEMPTS):
        site.deliver(force=True)  # every attempt failed in Polar's eyes; the inbox has it
    site.route_webhook_url(URL, down)
    (missed,) = new_customers(1, start=1)
    site.route_webhook_url(URL, site.view)
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("polar_webhooks", "doctor", "--url", SITE, "--noinput", stdout=out)
    report = out.getvalue()
    assert "1 event(s)" in report
    (listed,) = re.findall(r"^  (\S+) customer.created", report, re.M)
    assert WebhookEvent.objects.filter(webhook_id=listed).count() == 0
    # The doctor's event is the one for the customer whose webhook never arrived.
    payload = next(
        d["webhook_event"]["payload"]
        for d in get_client().list_webhook_deliveries(succeeded=False)
        if d["webhook_event"]["id"] == listed
    )
    assert missed in payload


def test_doctor_asks_before_repairing_and_does_it_on_yes(site):
    site.route_webhook_url(URL, down)
    new_customers(1)
    site.route_webhook_url(URL, site.view)
    with pytest.raises(CommandError, match="Not repaired"):
        run("doctor", "--url", SITE, stdin="n\n")
    assert not WebhookEvent.objects.exists()
    out = run("doctor", "--url", SITE, stdin="y\n")
    assert "Redeliver 1 event(s)? [y/N]" in out
    assert WebhookEvent.objects.filter(type="customer.created").count() == 1


def test_redelivering_to_a_disabled_endpoint_is_only_skipped(site):
    # Why --fix enables first: Polar marks a redelivery to a disabled endpoint skipped.
    site.route_webhook_url(URL, down)
    new_customers(DISABLE_AFTER)
    exhaust(site)
    site.route_webhook_url(URL, site.view)
    event_id = next(iter(get_client().list_webhook_deliveries()))["webhook_event"]["id"]
    get_client().redeliver_webhook_event(event_id)
    site.deliver(force=True)
    assert not WebhookEvent.objects.exists()
    assert site.webhooks.webhook_events[event_id]["skipped"] is True


def test_register_finds_its_own_url_among_several_endpoints(site):
    run("register", "--url", "https://other.example.com")
    urls = [e["url"] for e in get_client().list_webhook_endpoints()]
    assert urls == ["https://other.example.com/polar/webhook/", URL]  # Polar: newest first
    with pytest.raises(CommandError, match="already has an endpoint for https://shop"):
        run("register", "--url", SITE)
