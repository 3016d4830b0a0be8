"""The README's examples run here, so the README cannot drift from the code.

Every ```python block preceded by ``<!-- readme-test: NAME -->`` is executed by the test
of that name below.
"""

import re
from pathlib import Path

import pytest

from django_polar import mirror
from django_polar.client import get_client
from tests.testapp.models import User

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)```", re.S)


def readme_block(name: str) -> str:
    blocks = {m["name"]: m["code"] for m in BLOCK.finditer(README.read_text())}
    assert name in blocks, f"README has no block marked readme-test: {name}"
    return blocks[name]


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
