"""``polar-emulator`` / ``python -m polar_emulator`` as a user runs it: a real process on a
free port, stopped the way a terminal (SIGINT) or a process manager (SIGTERM) stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from polar_emulator import Emulator

from .test_command import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).with_name("polar-emulator")
NOWHERE = "http://127.0.0.1:9/hook"  # nothing listens: deliveries are only queued


def start(command: list[str], *args: str, env: dict[str, str] | None = None):
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port), *args],
        cwd=ROOT,
        env={k: v for k, v in (env or os.environ).items() if k != "DJANGO_SETTINGS_MODULE"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(process, url)
    return process, url


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_module_serves_products_and_stops_cleanly_on_signal(tmp_path, stop_signal):
    state = tmp_path / "state.json"
    process, url = start(
        [sys.executable, "-m", "polar_emulator"], "--token", "polar_oat_cli", "--state", str(state)
    )
    try:
        assert httpx.get(f"{url}/v1/products/").status_code == 401
        response = httpx.get(
            f"{url}/v1/products/", headers={"Authorization": "Bearer polar_oat_cli"}
        )
        assert response.status_code == 200
        names = {p["name"] for p in response.json()["items"]}
        assert "Lifetime Pro" in names
    finally:
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"Polar emulator (API 2026-10, seed default) at {url}" in output
    assert "Polar emulator stopped." in output and "polar_oat_cli" not in output
    assert Emulator.load(state).store.products  # --state was written on the way out


def test_console_script_is_installed_and_reads_the_secret_from_the_environment():
    assert CONSOLE_SCRIPT.exists(), "pip install -e . creates the polar-emulator script"
    env = {**os.environ, "POLAR_WEBHOOK_SECRET": "whsec_dGVzdC1jbGktc2VjcmV0LTAxMjM0NTY3ODk="}
    process, url = start([str(CONSOLE_SCRIPT)], "--seed", "none", "--webhook-url", NOWHERE, env=env)
    try:
        products = httpx.get(f"{url}/v1/products/", headers={"Authorization": "Bearer x"})
        assert products.json()["items"] == []
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"Webhooks:  {NOWHERE} (standard signatures)" in output
    assert "whsec_" not in output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "/does/not/exist.json"], "Cannot read seed file"),
        (["--webhook-url", NOWHERE], "needs --webhook-secret"),
        (["--webhook-url", "ftp://example.com/hook", "--webhook-secret", "x"], "http(s) URL"),
        (["--port", "many"], "invalid int value"),
    ],
)
def test_unusable_options_exit_2_with_a_clear_message(args, message):
    env = {k: v for k, v in os.environ.items() if k != "POLAR_WEBHOOK_SECRET"}
    completed = subprocess.run(
        [sys.executable, "-m", "polar_emulator", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert message in completed.stderr and "usage: polar-emulator" in completed.stderr
