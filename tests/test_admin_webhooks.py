"""The webhook inbox in the admin shows payloads and errors redacted, like the mirror admin."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from django_polar.models import WebhookEvent

pytestmark = pytest.mark.django_db

TOKEN = "polar_oat_ABCdef1234567890secret"
SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="


def test_inbox_change_page_redacts_token_shaped_strings(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    event = WebhookEvent.objects.create(
        webhook_id="msg_redact_1",
        type="customer.updated",
        timestamp=timezone.now(),
        payload={
            "type": "customer.updated",
            "data": {"id": "c1", "metadata": {"note": f"token {TOKEN}"}, "name": "<b>Ada</b>"},
        },
        last_error=f"Traceback ...\nPolarAuthenticationError: bad token {TOKEN} / {SECRET}",
    )
    url = reverse("admin:django_polar_webhookevent_change", args=[event.pk])
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert TOKEN not in html and SECRET not in html
    assert "[redacted]" in html
    assert '"note": "token [redacted]"' in html.replace("&quot;", '"')
    assert "<b>Ada</b>" not in html  # escaped, not rendered


# -- read-only inbox, replay action -----------------------------------------------------------


def failed_event(client, monkeypatch) -> tuple[WebhookEvent, dict]:
    """A subscription event whose handler crashed; the bug is then fixed (handler restored)."""
    from django_polar.webhooks import dispatch
    from tests.test_webhook_view import deliver, sub_payload

    def buggy(data, *, event_time=None):
        raise RuntimeError("handler bug")

    data = sub_payload()
    with monkeypatch.context() as patch:
        patch.setitem(dispatch.HANDLERS, "subscription.created", buggy)
        assert deliver(client, "subscription.created", data).status_code == 200
    event = WebhookEvent.objects.get(object_id=data["id"])
    assert event.status == "failed"
    return event, data


def changelist_post(client, event: WebhookEvent):
    return client.post(
        reverse("admin:django_polar_webhookevent_changelist"),
        {"action": "replay_events", "_selected_action": [event.pk]},
        follow=True,
    )


def test_replay_action_applies_a_failed_event_and_writes_the_mirror(client, monkeypatch):
    from django_polar.models import Subscription

    event, data = failed_event(client, monkeypatch)
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw"))
    response = changelist_post(client, event)
    assert response.status_code == 200
    assert "Replayed 1 event(s); 0 failed again." in response.content.decode()
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")
    sub = Subscription.objects.get(pk=data["id"])
    assert str(sub.customer_id) == data["customer"]["id"]


def test_inbox_is_read_only_even_for_a_superuser(client):
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw"))
    event = WebhookEvent.objects.create(
        webhook_id="msg_ro", type="customer.updated", timestamp=timezone.now(), payload={}
    )
    add = reverse("admin:django_polar_webhookevent_add")
    change = reverse("admin:django_polar_webhookevent_change", args=[event.pk])
    delete = reverse("admin:django_polar_webhookevent_delete", args=[event.pk])
    assert client.get(add).status_code == 403
    assert client.post(add, {"webhook_id": "msg_forged", "type": "x"}).status_code == 403
    assert client.post(change, {"type": "order.paid", "status": "processed"}).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert (event.type, event.status) == ("customer.updated", "pending")
    assert WebhookEvent.objects.count() == 1


def test_staff_without_change_permission_cannot_replay(client, monkeypatch):
    from django.contrib.auth.models import Permission

    event, _ = failed_event(client, monkeypatch)
    viewer = get_user_model().objects.create_user("viewer", "v@example.com", "pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(viewer)
    page = client.get(reverse("admin:django_polar_webhookevent_changelist"))
    assert page.status_code == 200
    assert event.webhook_id in page.content.decode()  # can read the inbox ...
    assert "replay_events" not in page.content.decode()  # ... but is offered no replay
    changelist_post(client, event)  # forging the action changes nothing
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1)
