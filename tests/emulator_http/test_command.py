"""``manage.py polar_emulator`` as a user runs it: a real process on a free port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command

from polar_emulator import Emulator

from .receiver import SECRET, Receiver

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(*args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "polar_emulator", "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(process, url)
    return process, url


def wait_until_serving(process: subprocess.Popen, url: str) -> None:
    """Return once ``url`` answers its dashboard; fail with the output if the process died."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the emulator did not start")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.stop()


def test_command_serves_api_pages_and_webhooks_then_saves_state(tmp_path, receiver):
    state = tmp_path / "polar-state.json"
    process, url = start(
        "--token",
        "polar_oat_cmd",
        "--state",
        str(state),
        "--webhook-url",
        receiver.url,
        "--webhook-secret",
        SECRET,
    )
    try:
        assert httpx.get(f"{url}/v1/products/").status_code == 401
        api = httpx.Client(base_url=url, headers={"Authorization": "Bearer polar_oat_cmd"})
        products = api.get("/v1/products/", params={"limit": 100}).json()["items"]
        lifetime = next(p for p in products if p["name"] == "Lifetime Pro")
        checkout = api.post("/v1/checkouts/", json={"products": [lifetime["id"]]}).json()
        assert checkout["url"] == f"{url}/checkout/{checkout['client_secret']}"
        paid = httpx.post(checkout["url"], data={"customer_email": "cli@example.com"})
        assert paid.status_code == 303
        receiver.wait_for("order.paid")
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"Polar emulator (API 2026-10, seed default) at {url}" in output
    assert SECRET not in output and "polar_oat_cmd" not in output
    restored = Emulator.load(state)
    assert [o["total_amount"] for o in restored.store.orders.values()] == [29900]


def test_command_restarts_from_saved_state(tmp_path):
    state = tmp_path / "state.json"
    emu = Emulator(
        seed={"products": [{"key": "only", "name": "Only Plan", "prices": [{"amount": 100}]}]}
    )
    emu.save(state)
    process, url = start("--state", str(state))
    try:
        names = [
            p["name"]
            for p in httpx.get(
                f"{url}/v1/products/", headers={"Authorization": "Bearer any"}
            ).json()["items"]
        ]
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert names == ["Only Plan"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "/does/not/exist.json"], "Cannot read seed file"),
        (
            ["--webhook-url", "ftp://example.com/hook", "--webhook-secret", SECRET],
            "must be an http(s) URL",
        ),
    ],
)
def test_command_rejects_bad_options_clearly(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("polar_emulator", "--port", "0", *args)
