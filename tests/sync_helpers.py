"""Fixtures and fault-injecting transports for the sync, command and admin tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from django_polar.client import use_transport
from polar_emulator import Emulator


class CountingTransport(httpx.BaseTransport):
    """Wraps the emulator's transport: counts requests and statuses, and lets a test act
    on a request or rewrite a response (the way a flaky network or odd payload would)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.inner = emu.transport()
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.statuses: list[int] = []
        self.before: Callable[[int, httpx.Request], None] | None = None
        self.rewrite: Callable[[httpx.Request, dict[str, Any]], dict[str, Any]] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(
                f"{request.method} {request.url.path}?{request.url.query.decode()}"
            )
            number = len(self.requests)
        if self.before is not None:
            self.before(number, request)
        response = self.inner.handle_request(request)
        with self.lock:
            self.statuses.append(response.status_code)
        if self.rewrite is not None and response.status_code == 200:
            body = self.rewrite(request, json.loads(response.read()))
            return httpx.Response(200, json=body, request=request)
        return response

    def count(self, path: str) -> int:
        return sum(1 for line in self.requests if f" {path}?" in line)


@pytest.fixture
def fast_retries(settings):
    """Client retries without real waits worth mentioning (the code paths are the same)."""
    settings.POLAR = {**django_settings.POLAR, "RETRY_BACKOFF": 0.001, "RETRY_MAX_WAIT": 0.05}


@pytest.fixture
def emu(fast_retries) -> Iterator[Emulator]:
    emulator = Emulator(frozen_clock=True, rng_seed=7)
    yield emulator


@pytest.fixture
def transport(emu: Emulator) -> Iterator[CountingTransport]:
    wrapped = CountingTransport(emu)
    with use_transport(wrapped):
        yield wrapped


def deliver_to_webhook_view(emu: Emulator) -> None:
    """Send the emulator's signed webhooks to the app's real webhook view."""
    client = Client()
    url = reverse("django_polar:webhook")

    def post(body: bytes, headers: dict[str, str]) -> int:
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return client.post(
            url, data=body, content_type="application/json", headers=extra
        ).status_code

    emu.add_webhook_endpoint(post, secret=django_settings.POLAR["WEBHOOK_SECRET"])
