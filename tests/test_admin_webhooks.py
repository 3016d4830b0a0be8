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
