"""A real Chromium runs Polar's own embed script against the emulator: a shop page on
another origin opens the checkout in the embed iframe, the buyer pays, the shop page is
redirected to the success URL; closing the embed removes the iframe."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from polar_emulator import Emulator
from polar_emulator.web.server import EmulatorServer, serve

pytestmark = pytest.mark.browser


class Shop:
    """A merchant page on its own origin embedding a checkout with data-polar-checkout."""

    def __init__(self) -> None:
        self.html = ""
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (
                    shop.html if self.path == "/" else "<h1>Thanks for your purchase</h1>"
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def embed(self, script_url: str, checkout_url: str) -> None:
        self.html = (
            "<!doctype html><html><body><h1>Shop</h1>"
            f'<a href="{escape(checkout_url)}" data-polar-checkout data-polar-checkout-theme="dark">Buy</a>'
            f'<script defer data-auto-init src="{escape(script_url)}"></script></body></html>'
        )

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def shop() -> Iterator[Shop]:
    running = Shop()
    yield running
    running.stop()


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with serve(Emulator(seed="default"), port=0) as running:
        yield running


@pytest.fixture
def page() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def create_checkout(server: EmulatorServer, shop: Shop) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/v1/checkouts/",
        headers={"Authorization": "Bearer t"},
        json={
            "products": [server.emulator.product_id("lifetime")],
            "embed_origin": shop.origin,
            "success_url": f"{shop.origin}/thanks?checkout_id={{CHECKOUT_ID}}",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_embedded_checkout_pays_and_redirects_the_shop_page(server, shop, page):
    checkout = create_checkout(server, shop)
    shop.embed(f"{server.url}/embed.global.js", checkout["url"])
    page.goto(shop.origin + "/")
    page.click("text=Buy")
    frame = page.frame_locator("iframe")
    frame.locator("#customer_email").fill("embedded@example.com")
    page.wait_for_selector(
        ".polar-loader-spinner", state="detached", timeout=10000
    )  # "loaded" arrived
    frame.locator("button.pay").click()
    page.wait_for_url(f"{shop.origin}/thanks?checkout_id={checkout['id']}*", timeout=15000)
    assert "Thanks for your purchase" in page.content()
    paid = server.emulator.checkout(checkout["id"])
    assert paid["status"] == "succeeded" and paid["customer_email"] == "embedded@example.com"


def test_closing_the_embed_removes_the_iframe(server, shop, page):
    checkout = create_checkout(server, shop)
    shop.embed(f"{server.url}/embed.global.js", checkout["url"])
    page.goto(shop.origin + "/")
    page.click("text=Buy")
    page.frame_locator("iframe").locator("button.close").click()
    page.wait_for_selector("iframe", state="detached", timeout=10000)
    assert server.emulator.checkout(checkout["id"])["status"] == "open"
