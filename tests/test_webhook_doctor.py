"""``polar_webhooks register`` and ``polar_webhooks doctor`` against the emulator: the
endpoint is made through Polar's API, its deliveries reach the real webhook view signed
with the secret the command printed, and the doctor repairs what Polar's own rules broke
(an endpoint disabled after 10 failed events, deliveries the inbox never stored)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from django_polar.client import get_client
from django_polar.errors import WebhookEndpointError
from django_polar.models import Customer, WebhookEvent
from django_polar.testing.pytest_plugin import django_webhook_receiver
from django_polar.webhooks import doctor
from django_polar.webhooks.endpoints import SUBSCRIBABLE_EVENTS, find_endpoint, webhook_url
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


# -- the exact findings and messages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("site_url", "url"),
    [
        ("https://shop.example.com", URL),
        ("https://shop.example.com/", URL),  # a trailing slash is not doubled
        ("https://shop.example.com/polar/webhook/", URL),  # already the view's URL
        ("http://localhost:8000", "http://localhost:8000/polar/webhook/"),  # a tunnel's origin
        ("https://SHOP.EXAMPLE.BOX", "https://SHOP.EXAMPLE.BOX/polar/webhook/"),
    ],
)
def test_webhook_url_is_the_sites_origin_plus_the_views_path(site_url, url):
    assert webhook_url(site_url) == url


@pytest.mark.parametrize("site_url", ["ftp://shop.example.com", "shop.example.com", "https://"])
def test_webhook_url_refuses_what_is_not_an_absolute_http_url(site_url):
    with pytest.raises(WebhookEndpointError) as refused:
        webhook_url(site_url)
    assert str(refused.value) == (
        f"{site_url!r} is not an absolute URL; give the site's origin, e.g. https://example.com."
    )


def test_register_without_a_site_url_says_exactly_what_to_set(polar_emulator):
    with pytest.raises(CommandError) as refused:
        run("register")
    assert str(refused.value) == (
        "No site URL: pass --url https://<your site> or set POLAR['SITE_URL'] to the public "
        "origin of this site (Polar must reach the webhook view there)."
    )


@pytest.mark.parametrize("enabled", [True, False])
def test_register_refusal_names_the_endpoint_its_state_and_what_to_do(site, enabled):
    (endpoint,) = get_client().list_webhook_endpoints()
    if not enabled:
        get_client().update_webhook_endpoint(endpoint["id"], {"enabled": False})
    with pytest.raises(CommandError) as refused:
        run("register", "--url", SITE)
    state = "enabled" if enabled else "DISABLED"
    assert str(refused.value) == (
        f"Polar already has an endpoint for {URL} (id {endpoint['id']}, {state}); not creating "
        "a second one. Run `manage.py polar_webhooks doctor` to check it, or delete it in "
        "Polar's dashboard first to start over with a new secret."
    )


def test_an_endpoint_at_a_longer_url_is_not_this_sites(polar_emulator):
    polar_emulator.webhooks.endpoints.clear()
    get_client().create_webhook_endpoint(
        {"url": URL + "X", "format": "raw", "events": ["customer.created"]}
    )
    assert find_endpoint(URL) is None
    assert find_endpoint(URL + "X")["url"] == URL + "X"


def test_diagnose_lists_each_missed_event_as_polar_recorded_it(site):
    """The event's id, type and creation time as Polar has them, its failed attempts and
    the last one's status and answer (cut to 200 characters)."""
    site.route_webhook_url(URL, down)
    new_customers(1)
    for _ in range(2):
        site.deliver(force=True)
    (event,) = [e for e in site.webhooks.webhook_events.values() if e["succeeded"] is not True]
    deliveries = [d for d in site.webhooks.deliveries if d["_webhook_event_id"] == event["id"]]
    assert len(deliveries) == 3  # the first attempt and two retries
    deliveries[-1]["response"] = "Service Unavailable " * 20  # the site's answer, as recorded
    diagnosis = doctor.diagnose(URL)
    (endpoint,) = get_client().list_webhook_endpoints()
    assert (diagnosis.url, diagnosis.endpoint["id"]) == (URL, endpoint["id"])
    assert diagnosis.missed == [
        doctor.MissedEvent(
            id=event["id"],
            type="customer.created",
            created_at=event["created_at"],
            attempts=len(deliveries),
            last_http_code=503,
            last_response=("Service Unavailable " * 20)[:200],
            archived=False,
        )
    ]


def test_diagnose_skips_events_stored_or_delivered_in_the_end(site):
    """Missed means never stored and never delivered: an event the inbox holds (Polar saw a
    timeout) or that Polar delivered in the end (the database was restored from an older
    backup: redelivering is not what the doctor repairs) is not listed."""
    ours = {}

    def customer_event(start: int) -> str:
        new_customers(1, start=start)
        return list(site.webhooks.webhook_events)[-1]

    def stores_then_times_out(body: bytes, headers: dict[str, str]) -> int:
        site.view(body, headers)
        return 504

    site.route_webhook_url(URL, down)
    ours["missed"] = customer_event(0)
    for _ in range(MAX_ATTEMPTS):
        site.deliver(force=True)
    ours["delivered"] = customer_event(1)
    site.deliver(force=True)  # fails once...
    site.route_webhook_url(URL, site.view)
    site.deliver(force=True)  # ...then is delivered and stored
    WebhookEvent.objects.filter(webhook_id=ours["delivered"]).delete()
    site.route_webhook_url(URL, stores_then_times_out)
    ours["stored"] = customer_event(2)
    site.deliver(force=True)
    assert WebhookEvent.objects.filter(webhook_id=ours["stored"]).exists()
    assert [m.id for m in doctor.diagnose(URL).missed] == [ours["missed"]]


def test_diagnose_looks_only_at_this_endpoint_and_the_days_asked(site):
    run("register", "--url", "https://other.example.com")  # not routed: every attempt fails
    site.route_webhook_url(URL, down)
    new_customers(1)
    for _ in range(MAX_ATTEMPTS):  # Polar is done retrying: no later attempt is made
        site.deliver(force=True)
    (mine,) = [m.id for m in doctor.diagnose(URL).missed]
    assert site.webhooks.webhook_events[mine]["_endpoint_id"] == doctor.diagnose(URL).endpoint["id"]
    with freeze_time(timezone.now() + timedelta(days=31), tick=True):
        assert doctor.diagnose(URL).missed == []  # the default 30 days
        assert [m.id for m in doctor.diagnose(URL, days=32).missed] == [mine]


def test_repair_redelivers_what_polar_holds_and_names_the_archived(site):
    """Polar archives events after 90 days (no payload): those cannot be redelivered, the
    others still are."""
    site.route_webhook_url(URL, down)
    new_customers(2)
    for _ in range(MAX_ATTEMPTS * 2):
        site.deliver(force=True)
    archived, live = list(site.webhooks.webhook_events)
    site.webhooks.webhook_events[archived].update(payload=None, is_archived=True)
    diagnosis = doctor.diagnose(URL)
    assert [(m.id, m.archived) for m in diagnosis.missed] == [(archived, True), (live, False)]
    done = doctor.repair(diagnosis)
    assert (done.enabled, done.not_redeliverable, done.redelivered) == (False, [archived], [live])


def test_doctor_reports_a_missed_event_on_one_line_as_polar_recorded_it(site):
    """``last=503`` and nothing after it when Polar recorded no answer body."""
    site.route_webhook_url(URL, down)
    new_customers(1)
    (event,) = site.webhooks.webhook_events.values()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("polar_webhooks", "doctor", "--url", SITE, "--noinput", stdout=out)
    assert (
        f"  {event['id']} customer.created created {event['created_at']} attempts=1 last=503\n"
        in out.getvalue()
    )
