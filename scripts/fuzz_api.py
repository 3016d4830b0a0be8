"""Schemathesis against the demo's billing API: the schema is the contract, and this holds it.

Runs the example project exactly as ``manage.py demo`` does (the Polar emulator in-process,
its webhooks to the site, the threaded dev server) on a fresh database, signs in as the
demo user, buys the monthly plan through the API (paid on the emulator's hosted checkout
page), then runs Schemathesis 4 with every check, a bounded number of examples per
operation, a fixed seed and several workers at once (concurrent requests), against
``/api/billing/schema/``. Any 5xx, schema violation or undocumented status is a failure;
the exit code is Schemathesis's (0: none).

    .venv/bin/python scripts/fuzz_api.py                        # SQLite
    .venv/bin/python scripts/fuzz_api.py --database-url postgres://postgres@127.0.0.1:5432/api_fuzz

A PostgreSQL database named in ``--database-url`` is dropped and created again.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEMO_USERNAME, DEMO_PASSWORD = "demo", "jotter-demo-123"  # manage.py demo's user
SCHEMA_PATH = "/api/billing/schema/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recreate_postgres(url: str) -> None:
    """Drop and create the database of ``url`` (connected through ``postgres``)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        sys.exit(f"Refusing the database name {name!r}: letters, digits and _ only.")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(
                f"The demo exited with {process.returncode} before it served {url}: see its log."
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"The demo did not serve {url} within {seconds:.0f} s.")


def sign_in(site: str) -> httpx.Client:
    """A client signed in as the demo user through the login form (session + CSRF cookies)."""
    client = httpx.Client(base_url=site, timeout=30, follow_redirects=False)
    client.get("/login/").raise_for_status()
    answer = client.post(
        "/login/",
        data={"username": DEMO_USERNAME, "password": DEMO_PASSWORD},
        headers={"X-CSRFToken": client.cookies["csrftoken"], "Referer": site + "/login/"},
    )
    if answer.status_code != 302 or "sessionid" not in client.cookies:
        sys.exit(f"Signing in as {DEMO_USERNAME} failed: {answer.status_code}")
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def buy_a_plan(client: httpx.Client) -> None:
    """The demo user buys the first recurring product, like the SPA flow of docs/api.md."""
    products = client.get("/api/billing/products/").raise_for_status().json()["results"]
    product = next(p for p in products if p["is_recurring"])
    checkout = client.post("/api/billing/checkouts/", json={"products": [product["id"]]})
    checkout.raise_for_status()
    paid = httpx.post(
        checkout.json()["url"], data={"customer_email": "demo@jotter.example"}, timeout=30
    )
    if paid.status_code not in (302, 303):
        sys.exit(f"Paying the checkout on the emulator failed: {paid.status_code}")
    for _ in range(100):  # the webhook makes it a subscription in the mirror
        if client.get("/api/billing/state/").json()["subscribed"]:
            return
        time.sleep(0.2)
    sys.exit("The paid checkout never became a subscription.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="default: a new SQLite file")
    parser.add_argument("--max-examples", type=int, default=40, help="per operation")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--workers", type=int, default=4, help="concurrent requests")
    parser.add_argument("--max-time", type=int, default=240, help="seconds, at most")
    parser.add_argument("extra", nargs="*", help="more schemathesis run options (after --)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fuzz-api-") as tmp:
        database_url = args.database_url or f"sqlite:///{tmp}/db.sqlite3"
        if database_url.startswith("postgres"):
            recreate_postgres(database_url)
        site = f"http://127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "true",  # the emulator runs only in DEBUG (django_polar.E004)
            "SITE_URL": site,
            "POLAR_SERVER": "emulator",
            "POLAR_EMULATOR_URL": f"http://127.0.0.1:{free_port()}",
            "POLAR_EMULATOR_STATE_FILE": f"{tmp}/emulator.json",
        }
        log = open(f"{tmp}/demo.log", "wb")
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--fresh"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                wait_until_up(site + SCHEMA_PATH, demo)
            except SystemExit:
                print(Path(f"{tmp}/demo.log").read_text(errors="replace")[-3000:], flush=True)
                raise
            client = sign_in(site)
            buy_a_plan(client)
            command = [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file",
                str(ROOT / "scripts" / "schemathesis.toml"),
                "run",
                site + SCHEMA_PATH,
                "--url",
                site,
                "--checks",
                "all",
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                "--workers",
                str(args.workers),
                "--max-time",
                str(args.max_time),
                "--request-timeout",
                "30",
                *args.extra,
            ]
            print("$", *command, flush=True)
            fuzz_env = {
                **env,
                "SCHEMATHESIS_HOOKS": "fuzz_auth",  # scripts/fuzz_auth.py: the session
                "PYTHONPATH": str(ROOT / "scripts"),
                "FUZZ_SESSIONID": client.cookies["sessionid"],
                "FUZZ_CSRFTOKEN": client.cookies["csrftoken"],
            }
            started = time.monotonic()
            code = subprocess.run(command, cwd=tmp, env=fuzz_env, check=False).returncode
            print(
                f"schemathesis exited {code} after {time.monotonic() - started:.0f} s", flush=True
            )
            server_errors = Path(f"{tmp}/demo.log").read_text(errors="replace").count("Traceback")
            if server_errors:
                print(f"The demo logged {server_errors} tracebacks:", flush=True)
                print(Path(f"{tmp}/demo.log").read_text(errors="replace")[-6000:], flush=True)
                code = code or 1
            return code
        finally:
            demo.terminate()
            try:
                demo.wait(timeout=20)
            except subprocess.TimeoutExpired:
                demo.kill()
            log.close()


if __name__ == "__main__":
    sys.exit(main())
