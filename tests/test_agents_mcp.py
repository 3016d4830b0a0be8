"""The MCP server driven by the ``mcp`` SDK's own client, over streamable HTTP and stdio.

HTTP: pytest-django's live server (a real threaded WSGI server, as ``runserver`` and
gunicorn are) with ``django_polar.agents.urls`` mounted at ``/polar/mcp/``. stdio: a
``manage.py polar_mcp`` subprocess sharing the test's database, talking to the emulator
over real HTTP on a free port.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from django.db import connection
from django.urls import include, path
from django.utils import timezone
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from django_polar.agents import create_token, revoke_token
from django_polar.client import get_client, use_transport
from django_polar.models import AgentCall, AgentToken, Subscription
from polar_emulator.web.server import serve
from tests.agent_flows import (  # noqa: F401  (the shop fixtures)
    CountingTransport,
    shop_fixture,
    shop_seed,
)
from tests.test_agents import READS, WRITES

urlpatterns = [
    path("polar/", include("django_polar.urls")),
    path("polar/mcp/", include("django_polar.agents.urls")),
]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def mcp_url(live_server):
    return live_server.url + "/polar/mcp/"


def over_http(url: str, raw: str, work):
    """Run ``work(client)`` in an MCP session over streamable HTTP with a Bearer token."""

    async def main():
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {raw}"})
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            return await work(client)

    return anyio.run(main)


async def names(client) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


def answer(result) -> dict:
    """A tool result's JSON (the text content and the structured content agree)."""
    text = json.loads(result.content[0].text)
    assert text == result.structured_content
    return text


def leaves(group: BaseException) -> list[BaseException]:
    if isinstance(group, BaseExceptionGroup):
        return [leaf for inner in group.exceptions for leaf in leaves(inner)]
    return [group]


# -- streamable HTTP ---------------------------------------------------------------------


def test_the_tool_list_over_http_is_built_for_each_token(shop, mcp_url):
    tokens = {
        "ops": create_token("ops", can_write=True)[1],
        "reader": create_token("reader")[1],
        "orders": create_token("orders", can_write=True, tags=["orders", "refunds"])[1],
        "ada": create_token("ada", customer_external_id=shop.ada.get_polar_external_id())[1],
    }
    seen = {name: over_http(mcp_url, raw, names) for name, raw in tokens.items()}
    assert seen["ops"] == set(READS) | set(WRITES)
    assert seen["reader"] == set(READS)
    assert seen["orders"] == {"list_orders", "get_order", "refund_order"}
    assert seen["ada"] == set(READS) - {"find_customers"}

    # Rights are read when the list is asked for: granting write shows the write tools.
    AgentToken.objects.filter(name="reader").update(can_write=True)
    assert over_http(mcp_url, tokens["reader"], names) == set(READS) | set(WRITES)

    async def schemas(client):
        return {t.name: t.input_schema for t in (await client.list_tools()).tools}

    served = over_http(mcp_url, tokens["ada"], schemas)
    assert all("customer_id" not in s["properties"] for s in served.values())
    assert served["get_order"]["required"] == ["order_id"]


def test_every_tool_over_http_against_the_mirror_reads_without_polar(shop, mcp_url, polar_emulator):
    _, raw = create_token("ops", can_write=True)
    ada, bob = str(shop.ada.polar_customer.pk), str(shop.bob.polar_customer.pk)
    reads = [
        ("find_customers", {"email": "ada@example.com"}),
        ("get_customer", {"customer_id": ada}),
        ("get_subscription_status", {"customer_id": ada}),
        ("list_subscriptions", {"status": "active"}),
        ("list_orders", {"customer_id": ada}),
        ("get_order", {"order_id": str(shop.ada_desktop_order.pk)}),
        ("list_benefits", {"customer_id": ada}),
        ("list_products", {}),
        ("get_usage", {"customer_id": ada}),
    ]
    sub, bob_sub = str(shop.ada_subscription.pk), str(shop.bob_subscription.pk)
    writes = [
        ("create_portal_link", {"customer_id": ada}),
        (
            "create_discount",
            {"name": "Deal", "type": "percentage", "basis_points": 1500, "duration": "once"},
        ),
        ("create_checkout_link", {"customer_id": bob, "product_ids": [shop.product("desktop")]}),
        (
            "refund_order",
            {"order_id": str(shop.ada_desktop_order.pk), "amount": 900, "reason": "other"},
        ),
        (
            "change_subscription_plan",
            {"subscription_id": bob_sub, "product_id": shop.product("monthly")},
        ),
        ("cancel_subscription", {"subscription_id": sub}),
        ("uncancel_subscription", {"subscription_id": sub}),
    ]
    counting = CountingTransport(polar_emulator.transport())

    async def work(client):
        read_results = [(n, await client.call_tool(n, a)) for n, a in reads]
        read_requests = list(counting.requests)
        write_results = [(n, await client.call_tool(n, a)) for n, a in writes]
        return read_results, read_requests, write_results

    with use_transport(counting):
        read_results, read_requests, write_results = over_http(mcp_url, raw, work)
    assert read_requests == []  # nine reads, not one request to Polar
    for name, result in read_results + write_results:
        assert not result.is_error, (name, result.content)
    assert {n for n, _ in reads} | {n for n, _ in writes} == set(READS) | set(WRITES)
    out = {name: answer(result) for name, result in read_results + write_results}
    assert out["get_customer"]["customer"]["email"] == "ada@example.com"
    assert out["refund_order"]["refunded"]["display"] == "USD 9.00"
    assert "polar" not in out["refund_order"]  # Polar's raw answer goes to the audit log
    assert (
        out["create_checkout_link"]["url"]
        == polar_emulator.checkout(out["create_checkout_link"]["checkout_id"])["url"]
    )
    assert get_client().get_subscription(bob_sub)["product_id"] == shop.product("monthly")
    assert Subscription.objects.get(pk=sub).cancel_at_period_end is False

    calls = list(AgentCall.objects.order_by("pk"))
    assert [c.tool for c in calls] == [n for n, _ in reads + writes]
    assert {c.transport for c in calls} == {"http"} and {c.outcome for c in calls} == {"ok"}
    refund = next(c for c in calls if c.tool == "refund_order")
    assert refund.is_write and refund.polar_response["amount"] == 900
    assert refund.arguments["amount"] == 900


def test_a_customer_scoped_token_over_http_cannot_reach_another_customer(shop, mcp_url):
    _, raw = create_token(
        "ada", can_write=True, customer_external_id=shop.ada.get_polar_external_id()
    )
    bob_order = str(shop.bob.orders.get().pk)

    async def work(client):
        own = await client.call_tool("get_customer", {})
        theirs = await client.call_tool("get_order", {"order_id": bob_order})
        cancel = await client.call_tool(
            "cancel_subscription", {"subscription_id": str(shop.bob_subscription.pk)}
        )
        found = await client.call_tool("find_customers", {"email": "bob@example.com"})
        return own, theirs, cancel, found

    own, theirs, cancel, found = over_http(mcp_url, raw, work)
    assert answer(own)["customer"]["email"] == "ada@example.com"
    assert theirs.is_error and answer(theirs) == {"error": f"No order with id {bob_order}."}
    assert cancel.is_error and "No subscription with id" in answer(cancel)["error"]
    assert found.is_error and answer(found) == {
        "error": "No tool named 'find_customers' is available to this token."
    }
    assert Subscription.objects.get(pk=shop.bob_subscription.pk).cancel_at_period_end is False
    assert list(AgentCall.objects.order_by("pk").values_list("outcome", flat=True)) == [
        "ok", "error", "error", "refused",
    ]  # fmt: skip


def test_missing_expired_and_revoked_tokens_are_refused_over_http(shop, mcp_url):
    _, expired = create_token("old", expires_in=timedelta(hours=1))
    AgentToken.objects.filter(name="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    _, revoked = create_token("gone")
    revoke_token("gone")
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for header, message in [
        ({}, "An agent token (polar_agt_...) is required."),
        ({"Authorization": "Bearer polar_agt_nope"}, "This agent token is not known."),
        ({"Authorization": f"Bearer {expired}"}, "This agent token has expired."),
        ({"Authorization": f"Bearer {revoked}"}, "This agent token was revoked."),
    ]:
        response = httpx.post(
            mcp_url, json=hello, headers={"Accept": "application/json, text/event-stream", **header}
        )
        assert response.status_code == 401
        assert response.json()["error"]["message"] == message
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    with pytest.raises(BaseExceptionGroup) as caught:  # the SDK's client cannot open a session
        over_http(mcp_url, revoked, names)
    assert [str(e) for e in leaves(caught.value)] == ["This agent token was revoked."]
    assert all(isinstance(e, MCPError) for e in leaves(caught.value))
    assert not AgentCall.objects.exists()


def test_only_posts_are_served_and_bad_json_is_a_clear_4xx(shop, mcp_url):
    _, raw = create_token("ops")
    auth = {"Authorization": f"Bearer {raw}", "Accept": "application/json, text/event-stream"}
    for method in ("GET", "DELETE", "PUT"):
        response = httpx.request(method, mcp_url, headers=auth)
        assert response.status_code == 405 and response.headers["Allow"] == "POST"
    broken = httpx.post(
        mcp_url, content=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert 400 <= broken.status_code < 500
    assert broken.json()["error"]["code"] == -32700  # JSON-RPC parse error
    assert not AgentCall.objects.exists()


def test_a_token_revoked_during_an_http_session_stops_working(shop, mcp_url):
    _, raw = create_token("ops")

    async def work(client):
        before = await client.call_tool("list_products", {})
        await anyio.to_thread.run_sync(revoke_token, "ops")
        with pytest.raises(MCPError, match=r"This agent token was revoked\."):
            await client.call_tool("list_products", {})
        return before

    assert not over_http(mcp_url, raw, work).is_error
    assert AgentCall.objects.count() == 1  # the refused call never reached a tool


# -- stdio ---------------------------------------------------------------------------------


@contextmanager
def shared_database(tmp_path):
    """A DATABASE_URL the subprocess can open: the test database itself on PostgreSQL; on
    SQLite (in memory) a file copy of it, copied back afterwards so the test reads what the
    subprocess wrote."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        yield f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        return
    path = tmp_path / "shared.sqlite3"
    connection.ensure_connection()
    with sqlite3.connect(path) as copy:
        connection.connection.backup(copy)
    yield f"sqlite:///{path}"
    with sqlite3.connect(path) as copy:
        copy.backup(connection.connection)


@contextmanager
def polar_mcp_process(emu, tmp_path, raw: str | None):
    """What a desktop client runs: ``manage.py polar_mcp`` with the token in its environment."""
    for endpoint in emu.webhooks.endpoints:
        endpoint.enabled = False  # the subprocess applies Polar's answers itself
    with serve(emu, port=0) as server, shared_database(tmp_path) as url:
        env = {
            "DATABASE_URL": url,
            "PYTHONPATH": str(ROOT),
            "POLAR_EMULATOR_URL": server.url,
            "DJANGO_SETTINGS_MODULE": "tests.agent_stdio_settings",
            **({"POLAR_MCP_TOKEN": raw} if raw else {}),
        }
        yield StdioServerParameters(
            command=sys.executable, args=["manage.py", "polar_mcp"], env=env, cwd=str(ROOT)
        )


def polar_requests(emu) -> list[str]:
    """Every request reaching the emulated Polar's API over HTTP (the subprocess's client)."""
    seen: list[str] = []
    inner = emu.api_wsgi_app

    def counted(environ, start_response):
        seen.append(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO')}")
        return inner(environ, start_response)

    emu.api_wsgi_app = counted
    return seen


def test_the_stdio_server_lists_scopes_acts_and_audits(shop, tmp_path):
    _, raw = create_token(
        "ada-desktop", can_write=True, customer_external_id=shop.ada.get_polar_external_id()
    )
    requests = polar_requests(shop.emu)
    bob_order = str(shop.bob.orders.get().pk)
    sub = str(shop.ada_subscription.pk)

    async def work(client):
        listed = await names(client)
        reads = [
            await client.call_tool("get_customer", {}),
            await client.call_tool("get_subscription_status", {}),
            await client.call_tool("list_orders", {}),
            await client.call_tool("get_order", {"order_id": bob_order}),
        ]
        read_requests = list(requests)
        cancel = await client.call_tool("cancel_subscription", {"subscription_id": sub})
        return listed, reads, read_requests, cancel

    with polar_mcp_process(shop.emu, tmp_path, raw) as params:

        async def session():
            async with Client(params) as client:
                return await work(client)

        listed, reads, read_requests, cancel = anyio.run(session)
    assert listed == (set(READS) | set(WRITES)) - {"find_customers", "create_discount"}
    assert read_requests == []  # the reads answered from the shared mirror
    customer, status, orders, theirs = reads
    assert answer(customer)["customer"]["email"] == "ada@example.com"
    assert answer(status)["subscription"]["subscription_id"] == sub
    assert {o["customer_id"] for o in answer(orders)["orders"]} == {str(shop.ada.polar_customer.pk)}
    assert theirs.is_error and answer(theirs) == {"error": f"No order with id {bob_order}."}
    assert not cancel.is_error and answer(cancel)["subscription"]["cancel_at_period_end"] is True
    assert requests == [f"PATCH /v1/subscriptions/{sub}"]  # the one write called Polar, once
    # What the subprocess wrote is in the shared database: the mirror and the audit log.
    assert Subscription.objects.get(pk=sub).cancel_at_period_end is True
    calls = list(AgentCall.objects.order_by("pk").values_list("tool", "outcome", "transport"))
    assert calls == [
        ("get_customer", "ok", "stdio"),
        ("get_subscription_status", "ok", "stdio"),
        ("list_orders", "ok", "stdio"),
        ("get_order", "error", "stdio"),
        ("cancel_subscription", "ok", "stdio"),
    ]
    assert (
        AgentCall.objects.get(tool="cancel_subscription").polar_response["cancel_at_period_end"]
        is True
    )


def test_the_stdio_server_refuses_missing_expired_and_revoked_tokens(shop, tmp_path):
    _, expired = create_token("old", expires_in=timedelta(hours=1))
    AgentToken.objects.filter(name="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    _, revoked = create_token("gone")
    revoke_token("gone")
    for raw, message in [
        (None, "An agent token (polar_agt_...) is required."),
        (expired, "This agent token has expired."),
        (revoked, "This agent token was revoked."),
    ]:
        with polar_mcp_process(shop.emu, tmp_path, raw) as params:
            run = subprocess.run(
                [params.command, *params.args], env={**os.environ, **params.env}, cwd=params.cwd,
                input="", capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        assert run.returncode == 1 and message in run.stderr, run.stderr[-500:]
        assert run.stdout == ""  # nothing on the MCP wire
