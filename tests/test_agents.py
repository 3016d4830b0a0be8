"""The agent tools as plain Python callables, against the emulator-backed mirror.

The shop (tests/agent_flows.py) is bought into through real checkouts paid on the
emulated Polar, whose signed webhooks reach the mirror through the real webhook view.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_polar.agents import AgentTokenError, AgentToolError, Toolbox, create_token
from django_polar.agents.registry import REGISTRY, tools_for
from django_polar.client import get_client, use_transport
from django_polar.models import AgentCall, AgentToken, Subscription
from tests.agent_flows import (  # noqa: F401  (the shop fixtures)
    CountingTransport,
    shop_fixture,
    shop_seed,
)

pytestmark = pytest.mark.django_db

READS = {
    "find_customers": "customers",
    "get_customer": "customers",
    "get_subscription_status": "subscriptions",
    "list_subscriptions": "subscriptions",
    "list_orders": "orders",
    "get_order": "orders",
    "list_benefits": "benefits",
    "list_products": "products",
    "get_usage": "usage",
    "create_portal_link": "portal",
}
WRITES = {
    "create_discount": "discounts",
    "create_checkout_link": "checkouts",
    "refund_order": "refunds",
    "change_subscription_plan": "subscriptions",
    "cancel_subscription": "subscriptions",
    "uncancel_subscription": "subscriptions",
}


def toolbox(name: str = "ops", **rights) -> Toolbox:
    token, _ = create_token(name, **rights)
    return Toolbox(token)


def customer_id(user) -> str:
    return str(user.polar_customer.pk)


# -- the contract: names, tags, schemas -------------------------------------------------


def test_tool_names_tags_and_schemas_are_the_contract():
    ops = AgentToken(name="x", can_write=True)
    assert {t.name: t.tag for t in tools_for(ops)} == {**READS, **WRITES}
    assert {t.name for t in REGISTRY.values() if t.write} == set(WRITES)
    for tool in tools_for(ops):
        schema = tool.schema(ops)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert len(tool.description) > 80, tool.name
        for name, spec in schema["properties"].items():
            if name.endswith("_id") and name != "external_id":
                assert spec["format"] == "uuid", (tool.name, name)
            if name.endswith("_ids"):
                assert spec["items"]["format"] == "uuid"
    described = {t.name: t.description for t in tools_for(ops)}
    assert "not a purchase" in described["create_checkout_link"]
    assert "final" in described["refund_order"]
    assert "keeps access" in described["cancel_subscription"]


def test_a_read_only_token_sees_no_write_tool_and_a_tag_filter_only_its_tags():
    assert {t.name for t in tools_for(AgentToken(name="r"))} == set(READS)
    tagged = AgentToken(name="t", can_write=True, tags=["orders", "refunds"])
    assert {t.name for t in tools_for(tagged)} == {"list_orders", "get_order", "refund_order"}


def test_a_customer_scoped_token_sees_no_cross_customer_tool_and_no_customer_argument():
    scoped = AgentToken(name="s", can_write=True, customer_external_id="testapp.user:1")
    names = {t.name for t in tools_for(scoped)}
    assert "find_customers" not in names and "create_discount" not in names
    assert "get_customer" in names and "refund_order" in names
    for tool in tools_for(scoped):
        schema = tool.schema(scoped)
        assert "customer_id" not in schema["properties"]
        assert "customer_id" not in schema.get("required", [])
    assert "reveal_license_keys" in REGISTRY["list_benefits"].schema(scoped)["properties"]
    assert "reveal_license_keys" not in REGISTRY["list_benefits"].schema(AgentToken())["properties"]


def test_arguments_are_checked_with_messages_the_assistant_can_act_on(shop):
    ops = toolbox()
    cases = [
        ("find_customers", {}, "Give email or name or external_id or customer_id."),
        ("get_order", {"order_id": "nope"}, "order_id must be a Polar id (a UUID)."),
        ("list_orders", {"status": "lost"}, "status must be one of"),
        ("list_orders", {"created_after": "yesterday"}, "created_after must be an ISO date"),
        ("list_orders", {"limit": 1000}, "limit must be between 1 and 100."),
        ("get_order", {"order_id": str(uuid.uuid4()), "x": 1}, "Unknown argument(s): x."),
        ("get_order", {}, "Missing required argument(s): order_id."),
    ]
    for name, arguments, message in cases:
        with pytest.raises(AgentToolError) as caught:
            ops.call(name, arguments)
        assert message in caught.value.message, (name, caught.value.message)


# -- reads: from the mirror, no Polar call ----------------------------------------------


def read_calls(shop) -> list[tuple[str, dict]]:
    ada = customer_id(shop.ada)
    return [
        ("find_customers", {"email": "ADA@example.com"}),
        ("get_customer", {"customer_id": ada}),
        ("get_subscription_status", {"customer_id": ada}),
        ("list_subscriptions", {"status": "active"}),
        ("list_orders", {"customer_id": ada, "status": "paid"}),
        ("get_order", {"order_id": str(shop.ada_desktop_order.pk)}),
        ("list_benefits", {"customer_id": ada}),
        ("list_products", {}),
        ("get_usage", {"customer_id": ada}),
    ]


def test_every_read_answers_from_the_mirror_without_calling_polar(shop, polar_emulator):
    ops = toolbox()
    counting = CountingTransport(polar_emulator.transport())
    with use_transport(counting):
        answers = {name: ops.call(name, args) for name, args in read_calls(shop)}
    assert counting.requests == []

    ada = shop.ada.polar_customer
    assert answers["find_customers"]["customers"][0]["customer_id"] == str(ada.pk)
    assert (
        answers["find_customers"]["customers"][0]["billable"] == f"testapp.user:{shop.ada.pk} (ada)"
    )
    look = answers["get_customer"]
    assert look["customer"]["email"] == "ada@example.com"
    assert [s["plan"] for s in look["subscriptions"]] == ["Pro Monthly"]
    assert {o["product"] for o in look["recent_orders"]} == {"Pro Monthly", "Desktop app"}
    assert {b["type"] for b in look["benefits"]} == {"license_keys", "meter_credit"}
    status = answers["get_subscription_status"]["subscription"]
    assert status["status"] == "active" and status["amount"]["display"] == "USD 10.00"
    assert status["next_billing_date"] == shop.ada_subscription.current_period_end.isoformat()
    assert "next billing date" in answers["get_subscription_status"]["summary"]
    with use_transport(counting):
        bob = ops.call(
            "get_subscription_status", {"subscription_id": str(shop.bob_subscription.pk)}
        )
    assert counting.requests == [] and bob["subscription"]["plan"] == "Pro Yearly"
    assert {s["subscription_id"] for s in answers["list_subscriptions"]["subscriptions"]} == {
        str(shop.ada_subscription.pk),
        str(shop.bob_subscription.pk),
    }
    order = answers["get_order"]["order"]
    assert order["total"] == {"amount": 4900, "currency": "usd", "display": "USD 49.00"}
    assert "invoice_url" not in order
    key = next(b for b in answers["list_benefits"]["benefits"] if b["type"] == "license_keys")
    assert key["properties"]["display_key"].startswith("****")
    assert "key" not in key["properties"]  # masked for an operator token
    assert [p["name"] for p in answers["list_products"]["products"]] == [
        "Desktop app",
        "Pro Monthly",
        "Pro Yearly",
    ]  # the archived legacy plan is not for sale
    assert answers["get_usage"]["meters"][0]["credited_units"] == 100


def test_the_invoice_link_is_fetched_from_polar_only_when_asked(shop, polar_emulator):
    counting = CountingTransport(polar_emulator.transport())
    ask = {"order_id": str(shop.ada_desktop_order.pk), "include_invoice_link": True}
    polar_emulator.clock.freeze()
    tools = toolbox()
    with use_transport(counting):
        order = tools.call("get_order", ask)["order"]
        # Polar renders the invoice in a worker (order/service.py): not there yet
        assert order["invoice_url"] is None and "generating" in order["invoice_status"]
        polar_emulator.clock.advance(seconds=1)
        order = tools.call("get_order", ask)["order"]
    assert order["invoice_url"] == get_client().get_invoice(str(shop.ada_desktop_order.pk))["url"]
    assert any(r.endswith("/invoice") for r in counting.requests)


# -- customer scope ----------------------------------------------------------------------


def test_a_customer_scoped_token_reaches_only_its_customer(shop):
    ada = toolbox("ada-bot", can_write=True, customer_external_id=shop.ada.get_polar_external_id())
    look = ada.call("get_customer")
    assert look["customer"]["email"] == "ada@example.com"
    subs = ada.call("list_subscriptions")["subscriptions"]
    assert [s["subscription_id"] for s in subs] == [str(shop.ada_subscription.pk)]
    assert {o["customer_id"] for o in ada.call("list_orders")["orders"]} == {customer_id(shop.ada)}

    # Bob's objects answer exactly like objects that do not exist: nothing is revealed.
    for name, key, theirs in [
        ("get_subscription_status", "subscription_id", str(shop.bob_subscription.pk)),
        ("cancel_subscription", "subscription_id", str(shop.bob_subscription.pk)),
        ("get_order", "order_id", str(shop.bob.orders.get().pk)),
        ("refund_order", "order_id", str(shop.bob.orders.get().pk)),
    ]:
        extra = {"reason": "other"} if name == "refund_order" else {}
        missing = str(uuid.uuid4())
        with pytest.raises(AgentToolError) as theirs_error:
            ada.call(name, {key: theirs, **extra})
        with pytest.raises(AgentToolError) as missing_error:
            ada.call(name, {key: missing, **extra})
        assert theirs_error.value.message == missing_error.value.message.replace(missing, theirs)
    with pytest.raises(AgentToolError, match=r"Unknown argument\(s\): customer_id"):
        ada.call("get_customer", {"customer_id": customer_id(shop.bob)})
    with pytest.raises(AgentToolError, match="No tool named 'find_customers'"):
        ada.call("find_customers", {"email": "bob@example.com"})
    assert Subscription.objects.get(pk=shop.bob_subscription.pk).cancel_at_period_end is False


def test_the_owner_of_a_license_key_may_see_it_whole(shop, polar_emulator):
    ada = toolbox("ada-bot", customer_external_id=shop.ada.get_polar_external_id())
    benefits = ada.call("list_benefits", {"reveal_license_keys": True})["benefits"]
    key = next(b for b in benefits if b["type"] == "license_keys")
    whole = get_client().get_license_key(key["properties"]["license_key_id"])["key"]
    assert key["properties"]["key"] == whole and whole.startswith("JOT")
    masked = ada.call("list_benefits")["benefits"]
    assert all("key" not in b["properties"] for b in masked)


def test_a_customer_without_billing_yet_gets_a_clear_answer(shop):
    from tests.testapp.models import User

    carol = User.objects.create_user("carol", "carol@example.com")
    bot = toolbox("carol-bot", customer_external_id=carol.get_polar_external_id())
    assert bot.call("list_orders") == {"orders": [], "count": 0}
    with pytest.raises(AgentToolError, match="no billing record yet"):
        bot.call("get_customer")


# -- tokens ------------------------------------------------------------------------------


def test_expired_and_revoked_tokens_are_refused(shop):
    _, expired = create_token("old", expires_in=timedelta(minutes=5))
    AgentToken.objects.filter(name="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(AgentTokenError, match="expired"):
        Toolbox.for_token(expired)
    _, raw = create_token("live")
    box = Toolbox.for_token(raw)
    assert box.call("list_products")["count"] == 3
    call_command("polar_agent_token", "revoke", "live", stdout=io.StringIO())
    with pytest.raises(AgentTokenError, match="revoked"):
        box.call("list_products")  # a session opened before the revocation stops too
    with pytest.raises(AgentTokenError, match="revoked"):
        Toolbox.for_token(raw)
    with pytest.raises(AgentTokenError, match="not known"):
        Toolbox.for_token(raw[:-2] + "xx")
    stored = AgentToken.objects.get(name="live")
    assert raw not in (stored.token_hash, stored.hint) and stored.hint == raw[:14]


def test_the_token_command_creates_lists_and_revokes():
    out = io.StringIO()
    call_command(
        "polar_agent_token", "create", "--name", "support", "--tags", "orders,customers",
        "--customer", "testapp.user:7", "--expires-in", "2h", stdout=out,
    )  # fmt: skip
    raw = out.getvalue().strip().splitlines()[-1]
    token = Toolbox.for_token(raw).token
    assert token.name == "support" and not token.can_write
    assert token.tags == ["customers", "orders"] and token.customer_external_id == "testapp.user:7"
    assert timedelta(minutes=119) < token.expires_at - timezone.now() <= timedelta(hours=2)
    listing = io.StringIO()
    call_command("polar_agent_token", "list", stdout=listing)
    assert "support" in listing.getvalue() and raw not in listing.getvalue()
    assert "[active]" in listing.getvalue()
    call_command("polar_agent_token", "revoke", "support", stdout=io.StringIO())
    listing = io.StringIO()
    call_command("polar_agent_token", "list", stdout=listing)
    assert "[was revoked]" in listing.getvalue()
    for bad in (["--tags", "nope"], ["--expires-in", "soon"], ["--name", "support"]):
        args = ["--name", "x", *bad] if bad[0] != "--name" else bad
        with pytest.raises(CommandError):
            call_command("polar_agent_token", "create", *args, stdout=io.StringIO())
    with pytest.raises(CommandError, match="No agent token"):
        call_command("polar_agent_token", "revoke", "ghost")


# -- the three scripted workflows --------------------------------------------------------


def test_workflow_billing_dispute(shop):
    """ "I was charged and don't know why": find by email -> subscription -> recent orders."""
    ops = toolbox()
    found = ops.call("find_customers", {"email": "ada@example.com"})["customers"]
    assert len(found) == 1
    who = found[0]["customer_id"]
    status = ops.call("get_subscription_status", {"customer_id": who})["subscription"]
    assert status["plan"] == "Pro Monthly" and status["status"] == "active"
    orders = ops.call("list_orders", {"customer_id": who, "limit": 5})["orders"]
    charge = next(o for o in orders if o["subscription_id"] == status["subscription_id"])
    assert (
        charge["total"]["display"] == "USD 10.00"
        and charge["billing_reason"] == "subscription_create"
    )
    assert {o["total"]["display"] for o in orders} == {"USD 10.00", "USD 49.00"}


def test_workflow_custom_b2b_deal(shop, polar_emulator):
    """ "20% off for 3 months on yearly, send Bob a link": discount -> checkout link."""
    ops = toolbox(can_write=True)
    yearly = shop.product("yearly")
    discount = ops.call(
        "create_discount",
        {"name": "Bob's deal", "type": "percentage", "basis_points": 2000, "duration": "repeating",
         "duration_in_months": 3, "product_ids": [yearly]},
    )  # fmt: skip
    assert discount["summary"] == "20% off for 3 months"
    in_polar = get_client().request("GET", f"/v1/discounts/{discount['discount_id']}")
    assert in_polar["basis_points"] == 2000 and in_polar["duration_in_months"] == 3
    link = ops.call(
        "create_checkout_link",
        {"customer_id": customer_id(shop.bob), "product_ids": [yearly], "discount_id": discount["discount_id"]},
    )  # fmt: skip
    checkout = polar_emulator.checkout(link["checkout_id"])
    assert link["url"] == checkout["url"] and checkout["status"] == "open"
    assert checkout["discount_id"] == discount["discount_id"]
    assert checkout["external_customer_id"] == shop.bob.get_polar_external_id()
    assert link["total"]["display"] == "USD 80.00"
    assert "Not paid yet" in link["note"]
    assert shop.bob.orders.count() == 1  # a checkout is not a purchase


def test_workflow_downgrade_and_refund(shop, polar_emulator):
    """ "Move Bob to monthly and refund part of the yearly": change plan -> latest order ->
    partial refund."""
    ops = toolbox(can_write=True)
    sub = str(shop.bob_subscription.pk)
    moved = ops.call(
        "change_subscription_plan",
        {"subscription_id": sub, "product_id": shop.product("monthly"), "proration": "invoice"},
    )["subscription"]
    assert moved["plan"] == "Pro Monthly" and moved["amount"]["display"] == "USD 10.00"
    assert get_client().get_subscription(sub)["product_id"] == shop.product("monthly")
    # Polar credits a downgrade invoiced at once (a negative order); the yearly payment is
    # the one to refund.
    newest = ops.call("list_orders", {"customer_id": customer_id(shop.bob), "limit": 1})
    assert newest["orders"][0]["total"]["display"] == "USD -90.00"
    latest = ops.call(
        "list_orders",
        {"customer_id": customer_id(shop.bob), "product_id": shop.product("yearly"),
         "status": "paid", "limit": 1},
    )["orders"][0]  # fmt: skip
    assert latest["total"]["display"] == "USD 100.00"
    refund = ops.call(
        "refund_order",
        {"order_id": latest["order_id"], "amount": 4000, "reason": "customer_request",
         "comment": "Downgraded to monthly"},
    )  # fmt: skip
    assert refund["refunded"]["display"] == "USD 40.00"
    assert refund["order"]["status"] == "partially_refunded"
    assert refund["order"]["refundable"]["amount"] == 6000
    assert get_client().get_order(latest["order_id"])["refunded_amount"] == 4000
    with pytest.raises(AgentToolError, match=r"At most USD 60.00 \(6000 minor units\)"):
        ops.call(
            "refund_order", {"order_id": latest["order_id"], "amount": 7000, "reason": "other"}
        )


# -- the other writes --------------------------------------------------------------------


def test_a_plan_change_at_the_next_period_shows_as_pending(shop):
    ops = toolbox(can_write=True)
    moved = ops.call(
        "change_subscription_plan",
        {"subscription_id": str(shop.ada_subscription.pk), "product_id": shop.product("yearly"),
         "proration": "next_period"},
    )["subscription"]  # fmt: skip
    assert moved["plan"] == "Pro Monthly"  # until the period ends
    assert moved["pending_change"]["product_id"] == shop.product("yearly")
    assert moved["pending_change"]["applies_at"].startswith(
        shop.ada_subscription.current_period_end.date().isoformat()
    )


def test_cancel_at_period_end_keeps_access_and_uncancel_undoes_it(shop):
    ops = toolbox(can_write=True)
    sub = str(shop.ada_subscription.pk)
    canceled = ops.call("cancel_subscription", {"subscription_id": sub})["subscription"]
    assert canceled["cancel_at_period_end"] and canceled["grants_access"]
    assert canceled["ends_at"] == shop.ada_subscription.current_period_end.isoformat()
    assert canceled["next_billing_date"] is None
    status = ops.call("get_subscription_status", {"subscription_id": sub})
    assert "canceled and ends on" in status["summary"] and "access continues" in status["summary"]
    with pytest.raises(AgentToolError, match="Already canceled"):
        ops.call("cancel_subscription", {"subscription_id": sub})
    back = ops.call("uncancel_subscription", {"subscription_id": sub})["subscription"]
    assert (
        not back["cancel_at_period_end"]
        and get_client().get_subscription(sub)["cancel_at_period_end"] is False
    )
    now = ops.call("cancel_subscription", {"subscription_id": sub, "at_period_end": False})
    assert now["subscription"]["status"] == "canceled" and not now["subscription"]["grants_access"]
    assert not shop.ada.subscribed()
    with pytest.raises(AgentToolError, match="canceled at period end"):
        ops.call("uncancel_subscription", {"subscription_id": sub})


def test_a_cancel_with_the_customer_s_reason_is_shown_to_the_next_assistant(shop):
    ops = toolbox(can_write=True)
    sub = str(shop.ada_subscription.pk)
    ops.call(
        "cancel_subscription",
        {"subscription_id": sub, "reason": "too_expensive", "comment": "Student budget."},
    )
    status = ops.call("get_subscription_status", {"subscription_id": sub})["subscription"]
    assert status["cancellation"] == {"reason": "too_expensive", "comment": "Student budget."}
    assert get_client().get_subscription(sub)["customer_cancellation_reason"] == "too_expensive"
    with pytest.raises(AgentToolError, match="reason must be one of"):
        ops.call("cancel_subscription", {"subscription_id": sub, "reason": "bored"})


def test_a_past_due_subscription_says_since_when_and_the_next_retry(shop, polar_emulator):
    sub = shop.ada_subscription
    polar_emulator.fail_next_renewal(str(sub.pk))
    polar_emulator.clock.advance(days=32)
    sub.refresh_from_db()
    status = toolbox().call("get_subscription_status", {"subscription_id": str(sub.pk)})
    past_due = status["subscription"]["past_due"]
    assert past_due["since"] == sub.past_due_at.isoformat()
    assert past_due["next_payment_attempt_at"] == (sub.past_due_at + timedelta(days=2)).isoformat()
    assert past_due["revoked_after"] == sub.past_due_deadline.isoformat()
    assert "Polar retries it on" in status["summary"]


def test_a_portal_link_is_for_the_customer_and_allowed_to_read_only_tokens(shop, polar_emulator):
    ada = toolbox("ada-bot", customer_external_id=shop.ada.get_polar_external_id())
    link = ada.call("create_portal_link")
    token = link["portal_url"].rstrip("/").rsplit("/", 1)[-1]
    session = polar_emulator.customer_session(token)
    assert session is not None and session["customer_id"] == customer_id(shop.ada)


def test_polars_refusals_are_tool_errors_never_successes(shop, polar_emulator, settings):
    ops = toolbox(can_write=True)
    settings.POLAR = {**settings.POLAR, "MAX_RETRIES": 0}
    polar_emulator.faults.fail_next(1, status=429)
    with pytest.raises(AgentToolError) as caught:
        ops.call("create_portal_link", {"customer_id": customer_id(shop.ada)})
    assert caught.value.retry_after == 1 and "Retry after 1 seconds" in caught.value.message
    ops.call(
        "create_discount",
        {"name": "A", "type": "fixed", "amount": 500, "duration": "once", "code": "SPRING"},
    )
    with pytest.raises(AgentToolError, match=r"Polar refused \(422\)"):
        ops.call(
            "create_discount",
            {"name": "B", "type": "fixed", "amount": 500, "duration": "once", "code": "SPRING"},
        )
    with pytest.raises(AgentToolError, match="No product for sale"):
        ops.call(
            "create_checkout_link",
            {"customer_id": customer_id(shop.ada), "product_ids": [shop.product("legacy")]},
        )
    with pytest.raises(AgentToolError, match="already on this product"):
        ops.call(
            "change_subscription_plan",
            {
                "subscription_id": str(shop.ada_subscription.pk),
                "product_id": shop.product("monthly"),
            },
        )
    outcomes = list(AgentCall.objects.order_by("pk").values_list("tool", "outcome"))
    assert outcomes == [
        ("create_portal_link", "error"),
        ("create_discount", "ok"),
        ("create_discount", "error"),
        ("create_checkout_link", "error"),
        ("change_subscription_plan", "error"),
    ]


# -- the audit log -----------------------------------------------------------------------


def test_every_call_is_in_the_audit_log_with_polars_answer_for_writes(shop):
    ops = toolbox(can_write=True)
    reader = toolbox("reader")
    ops.call("get_customer", {"customer_id": customer_id(shop.ada)})
    ops.call("cancel_subscription", {"subscription_id": str(shop.ada_subscription.pk)})
    with pytest.raises(AgentToolError):
        reader.call("refund_order", {"order_id": str(shop.ada_desktop_order.pk), "reason": "other"})
    with pytest.raises(AgentToolError):
        reader.call("get_order", {"order_id": "x"})
    calls = list(AgentCall.objects.order_by("pk"))
    assert [(c.token_name, c.tool, c.outcome, c.is_write) for c in calls] == [
        ("ops", "get_customer", "ok", False),
        ("ops", "cancel_subscription", "ok", True),
        ("reader", "refund_order", "refused", True),
        ("reader", "get_order", "error", False),
    ]
    assert calls[0].arguments == {"customer_id": customer_id(shop.ada)}
    assert calls[0].polar_response is None
    assert calls[1].polar_response["id"] == str(shop.ada_subscription.pk)
    assert calls[1].polar_response["cancel_at_period_end"] is True
    assert "No tool named 'refund_order'" in calls[2].error
    assert "must be a Polar id" in calls[3].error
    assert all(c.transport == "python" and c.duration_ms > 0 for c in calls)
    assert AgentToken.objects.get(name="ops").last_used_at is not None


def test_the_admin_creates_a_token_shows_it_once_and_lists_the_audit_log(shop, admin_client):
    response = admin_client.post(
        "/admin/django_polar/agenttoken/add/",
        {"name": "desk", "can_write": "on", "tags": ["orders"], "customer_external_id": ""},
    )
    assert response.status_code == 200, response.content[:500]
    token = AgentToken.objects.get(name="desk")
    raw = response.context["raw_token"]
    assert raw.startswith("polar_agt_") and raw.encode() in response.content
    assert Toolbox.for_token(raw).token == token and token.tags == ["orders"] and token.can_write
    assert (
        raw.encode()
        not in admin_client.get(f"/admin/django_polar/agenttoken/{token.pk}/change/").content
    )
    Toolbox(token).call("list_orders", {"limit": 1})
    page = admin_client.get("/admin/django_polar/agentcall/")
    assert page.status_code == 200 and b"list_orders" in page.content
    call = AgentCall.objects.get()
    detail = admin_client.get(f"/admin/django_polar/agentcall/{call.pk}/change/")
    assert detail.status_code == 200 and b"limit" in detail.content
