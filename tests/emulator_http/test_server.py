"""The emulator over real HTTP: the API, the hosted checkout, the customer portal and
webhooks delivered to a real receiving server that verifies every signature."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import polar
import pytest
from polar.v2026_10 import outputs

from polar_emulator import Emulator
from polar_emulator.web.server import EmulatorServer, serve

from .receiver import SECRET, Receiver

TOKEN = "polar_oat_emulator_http_tests"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.stop()


@pytest.fixture
def server(receiver: Receiver) -> Iterator[EmulatorServer]:
    emu = Emulator(seed="default", access_token=TOKEN)
    emu.add_webhook_endpoint(receiver.url, secret=SECRET)
    with serve(emu, port=0) as running:
        yield running


@pytest.fixture
def api(server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def browser(server: EmulatorServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=False)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def new_checkout(api: httpx.Client, server: EmulatorServer, *keys: str, **extra) -> dict:
    emu = server.emulator
    body = {"products": [emu.product_id(k) for k in keys], **extra}
    response = api.post("/v1/checkouts/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def buy(
    api: httpx.Client, server: EmulatorServer, key: str, email: str = "ada@example.com"
) -> dict:
    checkout = new_checkout(api, server, key)
    with browser(server) as web:
        paid = web.post(checkout["url"], data={"customer_email": email, "customer_name": "Ada"})
    assert paid.status_code == 303
    return api.get(f"/v1/checkouts/{checkout['id']}").json()


def portal_url(
    api: httpx.Client, customer_id: str, return_url: str = "https://shop.example/account"
) -> str:
    session = api.post(
        "/v1/customer-sessions/", json={"customer_id": customer_id, "return_url": return_url}
    )
    assert session.status_code == 201, session.text
    return session.json()["customer_portal_url"]


# -- the API over HTTP ------------------------------------------------------------------------


def test_api_answers_over_http_with_sdk_valid_objects(server, api):
    response = api.get("/v1/products/", params={"limit": 100})
    assert response.status_code == 200
    products = response.json()["items"]
    assert {p["name"] for p in products} >= {
        "Pro Monthly",
        "Pro Yearly",
        "Lifetime Pro",
        "Donation",
    }
    for product in products:
        polar.deserialize(product, outputs.Product)


def test_configured_token_is_required(server):
    for headers in ({}, {"Authorization": "Bearer polar_oat_wrong"}):
        response = httpx.get(f"{server.url}/v1/products/", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


def test_unknown_page_is_a_404_page_not_a_crash(server):
    response = httpx.get(f"{server.url}/nothing/here")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


# -- hosted checkout --------------------------------------------------------------------------


def test_checkout_page_shows_product_price_and_prefilled_email(server, api):
    checkout = new_checkout(api, server, "pro-yearly", customer_email="ada@example.com")
    page = httpx.get(checkout["url"])
    assert page.status_code == 200
    text = unescape(page.text)
    assert "Pro Yearly" in text and "$120.00 / year" in text
    assert 'value="ada@example.com"' in page.text
    assert "Pay $120.00" in text
    assert "x-frame-options" not in page.headers


def test_checkout_page_escapes_every_value(server, api):
    evil = '<script>alert("x")</script>'
    product = api.post(
        "/v1/products/",
        json={
            "name": evil,
            "description": "<img src=x onerror=alert(1)>",
            "prices": [{"amount_type": "fixed", "price_amount": 500, "price_currency": "usd"}],
        },
    )
    assert product.status_code == 201, product.text
    checkout = api.post(
        "/v1/checkouts/", json={"products": [product.json()["id"]], "customer_name": evil}
    )
    page = httpx.get(checkout.json()["url"]).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_paying_through_the_form_creates_subscription_order_and_signed_webhooks(
    server, api, receiver
):
    checkout = new_checkout(
        api,
        server,
        "pro-yearly",
        success_url="https://shop.example/thanks?checkout={CHECKOUT_ID}",
        external_customer_id="user-42",
    )
    with browser(server) as web:
        response = web.post(
            checkout["url"], data={"customer_email": "ada@example.com", "customer_name": "Ada"}
        )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(
        f"https://shop.example/thanks?checkout={checkout['id']}&customer_session_token=polar_cst_"
    )

    subs = api.get("/v1/subscriptions/", params={"external_customer_id": "user-42"}).json()["items"]
    assert [(s["status"], s["product"]["name"], s["amount"]) for s in subs] == [
        ("active", "Pro Yearly", 12000)
    ]
    orders = api.get("/v1/orders/", params={"external_customer_id": "user-42"}).json()["items"]
    assert [(o["status"], o["total_amount"], o["billing_reason"]) for o in orders] == [
        ("paid", 12000, "subscription_create")
    ]

    paid = receiver.wait_for("order.paid")
    polar.deserialize(paid["data"], outputs.Order)
    receiver.wait_for("customer.state_changed")
    assert server.wait_for_webhooks()
    types = receiver.types()
    for expected in (
        "checkout.created",
        "customer.created",
        "subscription.created",
        "subscription.active",
        "order.created",
        "order.paid",
        "benefit_grant.created",
    ):
        assert expected in types
    assert receiver.rejected == 0


def test_checkout_page_asks_for_custom_fields_and_a_business_name(server, api):
    size = api.post(
        "/v1/custom-fields/",
        json={
            "type": "select",
            "slug": "team-size",
            "name": "Team size",
            "properties": {
                "options": [{"value": "small", "label": "1-10"}, {"value": "large", "label": "11+"}]
            },
        },
    ).json()
    terms = api.post(
        "/v1/custom-fields/",
        json={"type": "checkbox", "slug": "terms", "name": "I accept the terms"},
    ).json()
    lifetime = server.emulator.product_id("lifetime")
    api.patch(
        f"/v1/products/{lifetime}",
        json={
            "attached_custom_fields": [
                {"custom_field_id": size["id"], "required": True},
                {"custom_field_id": terms["id"], "required": True},
            ]
        },
    )
    checkout = new_checkout(
        api,
        server,
        "lifetime",
        is_business_customer=True,
        customer_billing_name="Engines AB",
        customer_billing_address={
            "country": "SE",
            "line1": "Storgatan 1",
            "city": "Stockholm",
            "postal_code": "11122",
        },
        custom_field_data={"team-size": "large"},
    )
    page = httpx.get(checkout["url"]).text
    assert 'name="custom_field_data.team-size"' in page
    assert '<option value="large" selected>11+</option>' in page
    assert 'name="custom_field_data.terms"' in page
    assert 'name="customer_billing_name" value="Engines AB"' in page
    with browser(server) as web:
        form = {
            "customer_email": "ab@example.se",
            "customer_billing_name": "Engines AB",
            "custom_field_data.team-size": "large",
        }
        refused = web.post(checkout["url"], data=form)  # the terms box left unticked
        assert refused.status_code == 422
        assert "Input should be True" in unescape(refused.text)
        paid = web.post(checkout["url"], data={**form, "custom_field_data.terms": "on"})
    assert paid.status_code == 303
    order = api.get("/v1/orders/").json()["items"][0]
    assert order["custom_field_data"] == {"team-size": "large", "terms": True}
    assert order["billing_name"] == "Engines AB"
    polar.deserialize(order, outputs.Order)
    polar.deserialize(api.get(f"/v1/checkouts/{checkout['id']}").json(), outputs.Checkout)


def test_paying_with_the_default_success_url_shows_the_confirmation(server, api):
    checkout = new_checkout(api, server, "lifetime")
    with browser(server) as web:
        response = web.post(checkout["url"], data={"customer_email": "bo@example.com"})
        assert response.status_code == 303
        assert response.headers["location"] == f"/checkout/{checkout['client_secret']}/confirmation"
        confirmation = web.get(response.headers["location"])
        again = web.get(checkout["url"])
    assert confirmation.status_code == 200 and "Payment successful" in confirmation.text
    assert "Payment successful" in again.text  # a paid checkout cannot be paid twice
    assert api.get(f"/v1/checkouts/{checkout['id']}").json()["status"] == "succeeded"


def test_custom_price_amount_is_taken_from_the_form_within_bounds(server, api):
    checkout = new_checkout(api, server, "donation")
    page = httpx.get(checkout["url"]).text
    assert 'name="amount"' in page and 'min="1.00"' in page and 'max="1000.00"' in page
    with browser(server) as web:
        too_low = web.post(
            checkout["url"], data={"customer_email": "d@example.com", "amount": "0.50"}
        )
        assert too_low.status_code == 422
        assert "greater than or equal to 100" in too_low.text
        assert api.get("/v1/orders/").json()["items"] == []
        ok = web.post(checkout["url"], data={"customer_email": "d@example.com", "amount": "7.50"})
    assert ok.status_code == 303
    assert [o["total_amount"] for o in api.get("/v1/orders/").json()["items"]] == [750]


@pytest.mark.parametrize(
    "form, field",
    [
        ({"customer_email": "", "customer_name": "No Mail"}, "customer_email"),
        ({"customer_email": "x@example.com", "amount": "lots"}, "amount"),
    ],
)
def test_bad_form_input_is_a_clear_422_and_buys_nothing(server, api, form, field):
    checkout = new_checkout(api, server, "donation")
    with browser(server) as web:
        response = web.post(checkout["url"], data=form)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert api.get(f"/v1/checkouts/{checkout['id']}").json()["status"] == "open"


def test_expired_checkout_page_says_so(server, api):
    checkout = new_checkout(api, server, "lifetime")
    server.emulator.clock.advance(hours=23)  # Polar's checkouts live 24 hours
    assert httpx.get(checkout["url"]).status_code == 200
    server.emulator.clock.advance(hours=1)
    assert httpx.get(checkout["url"]).status_code == 410
    with browser(server) as web:
        assert (
            web.post(checkout["url"], data={"customer_email": "late@example.com"}).status_code
            == 410
        )
    assert api.get("/v1/orders/").json()["items"] == []


def test_embedded_checkout_talks_to_the_embedding_origin_only(server, api):
    origin = "http://shop.localhost:8000"
    checkout = new_checkout(
        api,
        server,
        "lifetime",
        embed_origin=origin,
        success_url="https://shop.example/done?c={CHECKOUT_ID}",
    )
    url = f"{checkout['url']}?embed=true&embed_origin={origin}&theme=dark"
    page = httpx.get(url)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == f"frame-ancestors 'self' {origin}"
    assert (
        f'data-embed-origin="{origin}"' in page.text and 'data-embed-events="loaded"' in page.text
    )
    assert 'class="dark embed"' in page.text and "data-embed-close" in page.text
    with browser(server) as web:
        paid = web.post(url, data={"customer_email": "em@example.com"})
        assert paid.status_code == 303
        done = web.get(paid.headers["location"])
    assert 'data-embed-events="loaded confirmed success"' in done.text
    assert 'data-redirect="true"' in done.text
    assert (
        f'data-success-url="https://shop.example/done?c={checkout["id"]}&amp;customer_session_token='
        in done.text
    )


def test_checkout_link_opens_a_session_with_the_embed_origin(server, api, receiver):
    link = api.post(
        "/v1/checkout-links/",
        json={"payment_processor": "stripe", "products": [server.emulator.product_id("lifetime")]},
    ).json()
    with browser(server) as web:
        opened = web.get(f"{link['url']}?embed=true&embed_origin=https://blog.example")
    assert opened.status_code == 303
    secret = re.search(r"/checkout/([^?]+)\?", opened.headers["location"]).group(1)
    checkout = api.get("/v1/checkouts/", params={"limit": 10}).json()["items"][0]
    assert (
        checkout["client_secret"] == secret and checkout["embed_origin"] == "https://blog.example"
    )
    # The checkout is created embedded: its checkout.created webhook says so too.
    server.wake()
    created = receiver.wait_for("checkout.created")
    assert created["data"]["embed_origin"] == "https://blog.example"


def test_embed_script_is_served_and_trusts_the_emulator_origin(server):
    response = httpx.get(f"{server.url}/embed.global.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "Apache License" in response.text[:600]
    assert f'"https://polar.sh,https://sandbox.polar.sh,{server.url}"' in response.text
    assert "POLAR_CHECKOUT" in response.text


# -- webhook delivery -------------------------------------------------------------------------


def test_failed_webhook_is_retried_with_the_same_id_after_backoff(receiver):
    emu = Emulator(seed="default", frozen_clock=True)
    emu.add_webhook_endpoint(receiver.url, secret=SECRET, events=["order.paid"])
    receiver.fail_next = 1
    with serve(emu, port=0) as running:
        emu.pay_checkout(_checkout(emu)["id"], email="r@example.com")
        running.wake()
        deadline_attempts = _wait(lambda: len(receiver.attempts) >= 1)
        assert deadline_attempts and receiver.events == []
        assert not running.wait_for_webhooks(timeout=0.5)  # waiting for its retry
        emu.clock.advance(seconds=11)
        assert running.wait_for_webhooks()
    assert [status for _, status in receiver.attempts] == [500, 204]
    assert receiver.attempts[0][0] == receiver.attempts[1][0]
    assert receiver.types() == ["order.paid"]


def _checkout(emu: Emulator) -> dict:
    status, _, body = emu.handle(
        "POST",
        "/v1/checkouts/",
        {"Authorization": "Bearer t"},
        b'{"products": ["%s"]}' % emu.product_id("lifetime").encode(),
    )
    assert status == 201
    return json.loads(body)


def _wait(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


# -- customer portal --------------------------------------------------------------------------


def test_portal_shows_subscription_order_and_license_key(server, api):
    checkout = buy(api, server, "pro-yearly")
    url = portal_url(api, checkout["customer_id"])
    page = httpx.get(url)
    assert page.status_code == 200
    text = unescape(page.text)
    assert "Pro Yearly" in text and "$120.00" in text and "Renews on" in text
    key = api.get("/v1/license-keys/").json()["items"][0]["key"]
    assert key in text
    assert 'href="https://shop.example/account"' in page.text


def test_portal_cancel_uncancel_and_change_plan(server, api, receiver):
    checkout = buy(api, server, "pro-yearly")
    sub_id = checkout["subscription_id"]
    url = portal_url(api, checkout["customer_id"])
    path = url.removeprefix(server.url)
    with browser(server) as web:
        csrf = csrf_of(web.get(path).text)

        cancel = web.post(
            f"{path}/subscriptions/{sub_id}/cancel", data={"csrf": csrf, "reason": "too_expensive"}
        )
        assert (cancel.status_code, cancel.headers["location"]) == (303, path)
        sub = api.get(f"/v1/subscriptions/{sub_id}").json()
        assert (
            sub["cancel_at_period_end"] is True
            and sub["customer_cancellation_reason"] == "too_expensive"
        )
        page = unescape(web.get(path).text)
        assert "Ends on" in page and "will end at the end of the billing period" in page
        receiver.wait_for("subscription.canceled")

        assert (
            web.post(f"{path}/subscriptions/{sub_id}/uncancel", data={"csrf": csrf}).status_code
            == 303
        )
        assert api.get(f"/v1/subscriptions/{sub_id}").json()["cancel_at_period_end"] is False
        receiver.wait_for("subscription.uncanceled")

        monthly = server.emulator.product_id("pro-monthly")
        assert f'value="{monthly}"' in web.get(path).text
        assert (
            web.post(
                f"{path}/subscriptions/{sub_id}/change", data={"csrf": csrf, "product_id": monthly}
            ).status_code
            == 303
        )
    sub = api.get(f"/v1/subscriptions/{sub_id}").json()
    assert (sub["product_id"], sub["amount"], sub["recurring_interval"]) == (monthly, 1200, "month")
    assert server.wait_for_webhooks()
    updates = [e for e in receiver.events if e["type"] == "subscription.updated"]
    assert updates[-1]["data"]["product_id"] == monthly
    assert receiver.rejected == 0


def test_portal_forms_need_the_session_csrf_token(server, api):
    checkout = buy(api, server, "pro-yearly")
    path = portal_url(api, checkout["customer_id"]).removeprefix(server.url)
    with browser(server) as web:
        response = web.post(
            f"{path}/subscriptions/{checkout['subscription_id']}/cancel", data={"csrf": "0" * 64}
        )
    assert response.status_code == 403
    assert (
        api.get(f"/v1/subscriptions/{checkout['subscription_id']}").json()["cancel_at_period_end"]
        is False
    )


def test_portal_cannot_touch_another_customers_subscription(server, api):
    mine = buy(api, server, "pro-yearly", email="me@example.com")
    theirs = buy(api, server, "pro-yearly", email="them@example.com")
    path = portal_url(api, mine["customer_id"]).removeprefix(server.url)
    with browser(server) as web:
        csrf = csrf_of(web.get(path).text)
        response = web.post(
            f"{path}/subscriptions/{theirs['subscription_id']}/cancel", data={"csrf": csrf}
        )
    assert response.status_code == 404
    assert (
        api.get(f"/v1/subscriptions/{theirs['subscription_id']}").json()["cancel_at_period_end"]
        is False
    )


def test_portal_refuses_a_plan_that_is_not_offered(server, api):
    checkout = buy(api, server, "pro-yearly")
    path = portal_url(api, checkout["customer_id"]).removeprefix(server.url)
    lifetime = server.emulator.product_id("lifetime")  # one-time: not a plan
    with browser(server) as web:
        csrf = csrf_of(web.get(path).text)
        web.post(
            f"{path}/subscriptions/{checkout['subscription_id']}/change",
            data={"csrf": csrf, "product_id": lifetime},
        )
        page = web.get(path).text
    assert "Choose one of the plans offered." in page
    assert (
        api.get(f"/v1/subscriptions/{checkout['subscription_id']}").json()["product"]["name"]
        == "Pro Yearly"
    )


def test_expired_or_unknown_portal_token_is_a_404(server, api):
    checkout = buy(api, server, "lifetime")
    url = portal_url(api, checkout["customer_id"])
    assert httpx.get(url).status_code == 200
    server.emulator.clock.advance(minutes=61)
    assert httpx.get(url).status_code == 404
    assert httpx.get(f"{server.url}/portal/polar_cst_doesnotexist123").status_code == 404


def test_portal_invoice_button_serves_a_pdf(server, api):
    checkout = buy(api, server, "lifetime")
    path = portal_url(api, checkout["customer_id"]).removeprefix(server.url)
    order = api.get("/v1/orders/").json()["items"][0]
    with browser(server) as web:
        csrf = csrf_of(web.get(path).text)
        # Polar needs a billing name and address for an invoice (MissingInvoiceBillingDetails)
        refused = web.post(f"{path}/orders/{order['id']}/invoice", data={"csrf": csrf})
        assert "Billing name and address are required" in web.get(refused.headers["location"]).text
        api.patch(f"/v1/orders/{order['id']}", json={"billing_address": {"country": "DE"}})
        response = web.post(f"{path}/orders/{order['id']}/invoice", data={"csrf": csrf})
        assert response.status_code == 303
        pdf = web.get(response.headers["location"])
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert order["invoice_number"].encode() in pdf.content
    invoice = api.get(f"/v1/orders/{order['id']}/invoice")
    assert invoice.status_code == 200 and invoice.json()["url"].endswith(".pdf")


def test_dashboard_lists_products_and_webhook_endpoint(server, receiver):
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200
    assert "Pro Monthly" in page.text and receiver.url in page.text
    assert SECRET not in page.text


def test_wrong_method_and_oversized_forms_get_clear_4xx(server, api):
    checkout = new_checkout(api, server, "lifetime")
    some_id = "00000000-0000-4000-8000-000000000000"
    assert (
        httpx.get(
            f"{server.url}/portal/polar_cst_abcdefgh/subscriptions/{some_id}/cancel"
        ).status_code
        == 405
    )
    huge = httpx.post(
        checkout["url"],
        content=b"a=" + b"x" * (1024 * 1024 + 10),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    assert api.get(f"/v1/checkouts/{checkout['id']}").json()["status"] == "open"


def raw_http(server: EmulatorServer, request: str) -> tuple[bytes, bytes]:
    """Send one raw request and read until the server closes: (head, whatever follows)."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


@pytest.mark.parametrize(
    "path", ["/", "/embed.global.js", "/v1/products/", "/v1/products/?limit=1"]
)
def test_head_answers_headers_only(server, path):
    head, rest = raw_http(
        server, f"HEAD {path} HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    assert head.startswith(b"HTTP/1.0 200"), head
    length = re.search(rb"(?i)content-length: (\d+)", head)
    assert length and int(length.group(1)) > 0  # the size of the GET answer
    assert rest == b""


class KeepAliveReceiver:
    """An HTTP/1.1 webhook receiver that notices when the sender closes its connection."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.received = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like Django's live server

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()
                outer.received.set()

            def finish(self) -> None:
                super().finish()
                outer.closed.set()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook/"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_stop_closes_webhook_connections_and_can_be_called_twice():
    hook = KeepAliveReceiver()
    emu = Emulator(seed="default", frozen_clock=True)
    emu.add_webhook_endpoint(hook.url, secret=SECRET)
    try:
        server = serve(emu, port=0)
        emu.pay_checkout(
            emu.checkouts.create({"products": [emu.product_id("lifetime")]})["id"],
            email="ada@example.com",
        )
        assert server.wait_for_webhooks() and hook.received.is_set()
        assert not hook.closed.wait(0.3)  # the sender keeps the connection alive
        server.stop()
        assert hook.closed.wait(5), "the webhook client's connection outlived stop()"
        server.stop()
        # The emulator stays usable: in-process deliveries open a fresh client.
        hook.received.clear()
        emu.pay_checkout(
            emu.checkouts.create({"products": [emu.product_id("lifetime")]})["id"],
            email="bob@example.com",
        )
        assert hook.received.is_set() and emu.webhooks.pending() == 0
    finally:
        emu.webhooks.close()
        hook.stop()
