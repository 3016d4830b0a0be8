"""polar_emulator is Django-free: built as the wheel users get, installed in a fresh
virtualenv (no system site-packages) with only the emulator's real dependencies (httpx,
standardwebhooks) and no Django, every module imports and ``polar-emulator`` serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

import httpx
import pytest

from .emulator_http.test_command import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
#: What polar_emulator imports beyond the standard library (django-polar's own deps).
EMULATOR_DEPENDENCIES = ["httpx", "standardwebhooks"]


def pip(target: Path, *args: str) -> None:
    """This venv's pip installing into ``target`` (the ordinary client, the usual index)."""
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(target), *args, "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("django-free")
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    pip(python, "wheel", "--no-deps", "--wheel-dir", str(root / "dist"), str(ROOT))
    (wheel,) = (root / "dist").glob("*.whl")
    pip(python, "install", *EMULATOR_DEPENDENCIES)
    pip(python, "install", "--no-deps", str(wheel))
    return python


def test_every_emulator_module_imports_without_django(bare_python):
    script = (
        "import importlib, pkgutil, sys\n"
        "import polar_emulator\n"
        "names = [m.name for m in pkgutil.walk_packages(polar_emulator.__path__, 'polar_emulator.')]\n"
        "names = [n for n in names if n != 'polar_emulator.__main__']\n"
        "for name in names: importlib.import_module(name)\n"
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)\n"
        "print(len(names))\n"
        "try:\n    import django\nexcept ImportError:\n    print('no django')\n"
    )
    completed = subprocess.run(
        [str(bare_python), "-c", script], capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert completed.returncode == 0, completed.stderr
    count, verdict = completed.stdout.strip().split("\n")
    assert int(count) >= 25 and verdict == "no django"


def test_the_installed_console_script_serves_the_api_and_the_pages(bare_python):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    process = subprocess.Popen(
        [str(bare_python.with_name("polar-emulator")), "--port", str(port)],
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url)  # the dashboard: templates ship in the wheel
        products = httpx.get(f"{url}/v1/products/", headers={"Authorization": "Bearer any"})
        assert products.status_code == 200 and products.json()["items"]
        script = httpx.get(f"{url}/embed.global.js")  # the vendored script ships too
        assert script.status_code == 200 and "POLAR_CHECKOUT" in script.text
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Polar emulator stopped." in output
