"""The README's examples run here, so the README cannot drift from the code.

Every ```python block of the README is preceded by ``<!-- readme-test: NAME -->`` and
executed by the test of that name below, or by ``<!-- readme-test: not runnable (why) -->``
when it is an excerpt of a project's files (a settings.py cannot run inside a test).
"""

import re
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import include, path

from django_polar import mirror, signals
from django_polar.client import get_client
from tests.fixtures import make_customer, make_product, make_subscription
from tests.testapp.models import User

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)```", re.S)
MARKER = re.compile(r"<!-- readme-test: (?:[\w-]+|not runnable \(.+?\)) -->\n```python\n")
EXECUTED = {"purchase", "access", "signals", "emulator", "agents"}  # the tests below

urlpatterns = [
    path("polar/", include("django_polar.urls")),
    path("pricing/", lambda request: HttpResponse("Pricing"), name="pricing"),
]


def readme_block(name: str) -> str:
    blocks = {m["name"]: m["code"] for m in BLOCK.finditer(README.read_text())}
    assert name in blocks, f"README has no block marked readme-test: {name}"
    return blocks[name]


def test_every_python_block_is_executed_or_marked_not_runnable():
    text = README.read_text()
    assert text.count("```python\n") == len(MARKER.findall(text)), (
        "a ```python block of README.md has no readme-test marker: mark it with the name of "
        "the test that runs it, or as not runnable (why)"
    )
    assert {m["name"] for m in BLOCK.finditer(text)} == EXECUTED
    assert {f"test_readme_{name}_example" for name in EXECUTED} <= set(globals())


@pytest.mark.django_db
def test_readme_purchase_example(polar_emulator):
    pro_monthly = mirror.upsert_product(
        get_client().get_product(polar_emulator.product_id("pro-monthly"))
    )
    namespace = {"User": User, "pro_monthly": pro_monthly, "polar_emulator": polar_emulator}
    exec(compile(readme_block("purchase"), "README.md:purchase", "exec"), namespace)
    user = namespace["user"]
    assert user.subscription().cancel_at_period_end is False
    assert user.orders.count() == 1


@pytest.mark.django_db
def test_readme_emulator_example(polar_emulator, django_user_model):
    namespace: dict = {}
    exec(compile(readme_block("emulator"), "README.md:emulator", "exec"), namespace)
    namespace["test_renewal_creates_a_second_order"](polar_emulator, django_user_model)


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_readme_access_example():
    namespace: dict = {}
    exec(compile(readme_block("access"), "README.md:access", "exec"), namespace)
    insights = namespace["insights"]
    ada = User.objects.create_user("ada", "ada@example.com", "pw")
    request = RequestFactory().get("/insights/")
    request.user = ada
    refused = insights(request)
    assert refused.status_code == 302 and refused["Location"] == "/pricing/?next=%2Finsights%2F"
    make_subscription(make_customer(ada), make_product())
    assert insights(request) is None  # the view itself ran: its body is `...`


@pytest.mark.django_db
def test_readme_signals_example():
    canceled = signals.for_event("subscription.canceled")
    namespace: dict = {}
    exec(compile(readme_block("signals"), "README.md:signals", "exec"), namespace)
    assert canceled.disconnect(namespace["on_cancel"])  # True: it had been connected


@pytest.mark.django_db
def test_readme_agents_example(polar_emulator, capsys):
    ada = User.objects.create_user("ada", "ada@example.com")
    session = ada.checkout([polar_emulator.product_id("pro-monthly")]).session
    polar_emulator.pay_checkout(session["id"])
    namespace: dict = {}
    exec(compile(readme_block("agents"), "README.md:agents", "exec"), namespace)
    assert namespace["token"].tags == ["customers", "orders", "subscriptions"]
    assert capsys.readouterr().out.startswith(
        "Pro Monthly (USD 12.00 per month) is on trial until "
    )
