"""The demo's support page: a signed-in user asks billing questions, the scripted model
answers with the agent tools through a token bound to that user's customer."""

import pytest
from django.urls import reverse

from django_polar.client import get_client, use_transport
from django_polar.models import AgentCall, AgentToken, Product
from example_project.notes.support import SUPPORT_TAGS, ScriptedModel, SupportBot
from tests import test_example
from tests.agent_flows import CountingTransport
from tests.fixtures import polar_fixture  # noqa: F401  (the `polar` fixture)
from tests.testapp.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]

# Jotter's catalog on the emulator, mirrored the way the demo does it.
polar_emulator_seed = test_example.polar_emulator_seed
jotter = test_example.jotter


def buy(polar, user, name, type="default"):
    session = user.checkout([Product.objects.get(name=name)], type=type).session
    polar.pay_checkout(session["id"])
    polar.deliver()


@pytest.fixture
def ada(client, jotter):
    user = User.objects.create_user("ada", "ada@example.com", "pw")
    buy(jotter, user, "Jotter Pro")
    buy(jotter, user, "Jotter Desktop")
    client.force_login(user)
    return user


def ask(client, question: str) -> str:
    response = client.post(reverse("notes:support"), {"question": question})
    assert response.status_code == 200
    return response.context["reply"].text


def test_the_support_bot_answers_from_the_users_own_billing(client, jotter, ada):
    bob = User.objects.create_user("bob", "bob@example.com", "pw")
    buy(jotter, bob, "Jotter Pro Yearly")
    counting = CountingTransport(jotter.transport())
    with use_transport(counting):
        plan = ask(client, "What is my plan and when is my next payment?")
        invoices = ask(client, "Show my invoices")
    assert counting.requests == []  # answered from the mirror
    sub = ada.subscription()
    assert plan == (
        f"Jotter Pro (USD 8.00 per month) is active; next billing date "
        f"{sub.current_period_end.isoformat()}."
    )
    assert "Jotter Pro USD 8.00" in invoices and "Jotter Desktop" in invoices
    assert "Yearly" not in invoices and "80.00" not in invoices  # Bob's order stays his

    key = ask(client, "Give me my license key")
    grant = ada.benefit_grants.get(benefit__type="license_keys")
    whole = get_client().get_license_key(grant.properties["license_key_id"])["key"]
    assert key == f"Your license key: {whole}."

    cancel = ask(client, "How do I cancel?")
    assert "billing portal" in cancel and "end of the period" in cancel
    portal_token = cancel.split("http", 1)[1].split()[0].rstrip("/").rsplit("/", 1)[-1]
    assert jotter.customer_session(portal_token)["customer_id"] == str(ada.polar_customer.pk)

    token = AgentToken.objects.get(name=f"jotter-support-{ada.pk}")
    assert token.customer_external_id == ada.get_polar_external_id()
    assert not token.can_write and token.tags == sorted(SUPPORT_TAGS)
    assert list(
        AgentCall.objects.filter(token=token).order_by("pk").values_list("tool", flat=True)
    ) == [
        "get_subscription_status",
        "list_orders",
        "list_benefits",
        "create_portal_link",
    ]


def test_the_page_needs_a_login_and_shows_the_form(client, jotter):
    response = client.get(reverse("notes:support"))
    assert response.status_code == 302
    client.force_login(User.objects.create_user("carol", "carol@example.com", "pw"))
    page = client.get(reverse("notes:support"))
    assert page.status_code == 200 and b'name="question"' in page.content
    assert "no subscription" in ask(client, "What is my plan?")


def test_the_scripted_model_only_uses_the_tools_the_token_offers(jotter, ada):
    bot = SupportBot(ada)
    offered = {s["name"] for s in bot.toolbox.specs()}
    assert "refund_order" not in offered and "find_customers" not in offered
    calls = ScriptedModel().plan("refund me, and show my usage", bot.toolbox.specs())
    assert [c.name for c in calls] == ["get_usage"]
    dan = User.objects.create_user("dan", "dan@example.com", "pw")
    buy(jotter, dan, "Jotter AI", type="ai")  # one active subscription per customer
    assert (
        "AI summaries: 0 used of 50 included, 50 left."
        in SupportBot(dan).ask("How many AI summaries do I have left?").text
    )
