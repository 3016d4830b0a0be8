from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from polar_emulator import Emulator

from .oracle import check_signed

STANDARD_SECRET = "whsec_" + "ZW11bGF0b3Itc3RhbmRhcmQtc2VjcmV0LWtleQ=="
LEGACY_SECRET = "polar_whs_legacy-secret-created-before-2026-09-08"


class Recorder:
    """A webhook receiver that verifies every delivery with the official SDK."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.status = 200

    def __call__(self, body: bytes, headers: dict[str, str]) -> int:
        check_signed(body, headers, self.secret)
        event = json.loads(body)
        self.events.append(event)
        self.ids.append(headers["webhook-id"])
        return self.status

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def clear(self) -> None:
        self.events.clear()
        self.ids.clear()


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed="default", frozen_clock=True, rng_seed=7)


@pytest.fixture
def hook(emu: Emulator) -> Recorder:
    recorder = Recorder(STANDARD_SECRET)
    emu.add_webhook_endpoint(recorder, secret=STANDARD_SECRET, scheme="standard")
    return recorder


@pytest.fixture
def api(emu: Emulator) -> httpx.Client:
    return httpx.Client(
        transport=emu.transport(),
        base_url="https://sandbox-api.polar.sh",
        headers={"Authorization": "Bearer polar_oat_test", "Polar-Version": "2026-10"},
    )
