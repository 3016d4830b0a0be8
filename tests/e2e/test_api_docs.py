"""The demo's API docs page renders in a real browser from this site alone (no CDN): Swagger
UI lists every operation of the billing API's schema, with its statuses."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("example_project.urls"),
]


def test_swagger_ui_shows_every_operation_of_the_schema(page, live_server):
    foreign: list[str] = []
    page.on(
        "request",
        lambda r: (
            None if r.url.startswith((live_server.url, "blob:", "data:")) else foreign.append(r.url)
        ),
    )
    schema = page.request.get(live_server.url + "/api/billing/schema/").json()
    operation_ids = {op["operationId"] for item in schema["paths"].values() for op in item.values()}
    page.goto(live_server.url + "/api/billing/docs/")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() == len(operation_ids)
    expect(page.get_by_text("django-polar billing API").first).to_be_visible()
    cancel = page.locator("#operations-subscriptions-cancelSubscription")
    cancel.locator(".opblock-summary").click()
    for status in ("200", "404", "409", "503"):
        expect(cancel.locator(f"tr.response[data-code='{status}']")).to_be_visible()
    page.shots("swagger-ui")
    assert foreign == [], foreign
