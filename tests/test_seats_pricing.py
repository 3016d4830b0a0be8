"""A "fixed + per seat" plan end to end: a base fee plus a seat-based price, priced as Polar
prices it (product/price_set.py ``calculate_upfront_amount``), through the emulator's real
webhooks and the real webhook view.

The plan: $50.00 a month plus $10.00 a seat for 1-9 seats, $8.00 a seat from 10 (volume
tiers). Buying N seats charges 5000 + N x the tier's rate; the subscription carries both
prices and their sum; every order has one item per price; a seat change bills only the
seat part.
"""

import pytest

from django_polar import metrics, mirror
from django_polar.api.serializers import SubscriptionSerializer
from django_polar.client import get_client
from django_polar.models import Order, Subscription
from tests.emulator.oracle import load
from tests.fixtures import polar_fixture  # noqa: F401  (the polar fixture)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db

BASE = 5000
TIERS = [
    {"min_seats": 1, "max_seats": 9, "price_per_seat": 1000},
    {"min_seats": 10, "price_per_seat": 800},
]


@pytest.fixture
def plan(polar):
    """The "fixed + per seat" product, created on the emulator and mirrored."""
    polar.clock.freeze()  # prorations are exact on a clock that stands still
    product = polar.catalog.create_product(
        {
            "name": "Team Plus",
            "recurring_interval": "month",
            "prices": [
                # The seat price first: Polar lists (and defaults to) the fixed one first.
                {"amount_type": "seat_based", "seat_tiers": {"tiers": TIERS}},
                {"amount_type": "fixed", "price_amount": BASE},
            ],
        }
    )
    polar.catalog.set_product_benefits(product["id"], {"benefits": [polar.ids["pro-features"]]})
    for benefit in get_client().get_product(product["id"])["benefits"]:
        mirror.upsert_benefit(get_client().get_benefit(benefit["id"]))
    return mirror.upsert_product(get_client().get_product(product["id"]))


def buy(polar, plan, seats: int, *, success_url: str | None = "https://app.example.com/done"):
    manager = User.objects.create_user(f"boss{seats}", f"boss{seats}@example.com")
    builder = manager.checkout([plan]).with_seats(seats)
    if success_url:
        builder = builder.with_success_url(success_url)
    session = builder.session
    polar.pay_checkout(session["id"])
    polar.deliver()
    return manager, session


def items_of(order: Order) -> list[tuple[str, int]]:
    return [(i["label"], i["amount"]) for i in order.data["items"]]


def test_the_checkout_charges_the_base_fee_plus_the_seats(polar, plan):
    manager, session = buy(polar, plan, 5)
    assert session["amount"] == BASE + 5 * 1000
    assert session["product_price"]["amount_type"] == "fixed"  # Polar's default price

    subscription = manager.subscription()
    assert subscription.seats == 5
    assert subscription.amount == BASE + 5 * 1000
    assert sorted(p["amount_type"] for p in subscription.data["prices"]) == [
        "fixed",
        "seat_based",
    ]
    (order,) = manager.orders
    assert order.total_amount == BASE + 5 * 1000
    assert items_of(order) == [("Team Plus", BASE), ("Team Plus (5 seats)", 5 * 1000)]
    # polar-sdk accepts what the emulator sent for the composed plan.
    sdk_subscription = load(get_client().get_subscription(str(subscription.pk)), "Subscription")
    assert sdk_subscription.amount == BASE + 5 * 1000
    assert len(sdk_subscription.prices) == 2
    assert len(load(get_client().get_order(str(order.pk)), "Order").items) == 2
    assert load(session, "Checkout").amount == BASE + 5 * 1000
    # What the project's pages, API and dashboard show comes from the same mirror.
    assert SubscriptionSerializer(subscription).data["amount"] == BASE + 5 * 1000
    assert metrics.compute().mrr == {"usd": BASE + 5 * 1000}


def test_ten_seats_take_the_cheaper_tier_for_every_seat(polar, plan):
    manager, session = buy(polar, plan, 12)
    assert session["amount"] == BASE + 12 * 800
    assert manager.subscription().amount == BASE + 12 * 800


def test_the_buyer_holds_no_benefit_and_no_seat_even_without_a_success_url(polar, plan):
    """checkout/service.py auto-claims the buyer's seat only when the checkout's default
    price is the seat price; here it is the fixed one."""
    manager, _ = buy(polar, plan, 3, success_url=None)
    subscription = manager.subscription()
    assert manager.polar_customer.data["type"] == "team"
    assert list(subscription.assigned_seats()) == []
    assert not manager.has_benefit(polar.ids["pro-features"])


def test_a_renewal_bills_the_base_fee_and_the_seats(polar, plan):
    manager, _ = buy(polar, plan, 5)
    polar.clock.advance(days=32)
    polar.deliver()
    renewal = manager.orders.get(billing_reason="subscription_cycle")
    assert renewal.total_amount == BASE + 5 * 1000
    assert items_of(renewal) == [("Team Plus", BASE), ("Team Plus (5 seats)", 5 * 1000)]


def test_more_seats_bill_only_the_seat_part(polar, plan):
    manager, _ = buy(polar, plan, 5)
    subscription = manager.subscription()
    subscription.update_seats(7, proration="invoice")
    polar.deliver()
    subscription = Subscription.objects.get(pk=subscription.pk)
    assert (subscription.seats, subscription.amount) == (7, BASE + 7 * 1000)
    update = manager.orders.get(billing_reason="subscription_update")
    # Nothing of the period has passed on the frozen clock: the whole seat difference.
    assert items_of(update) == [("Team Plus (5 → 7 seats)", 2 * 1000)]
    assert update.total_amount == 2 * 1000
    # Crossing into the 10+ tier reprices every seat; the base fee stays out of it.
    subscription.update_seats(10, proration="invoice")
    polar.deliver()
    assert Subscription.objects.get(pk=subscription.pk).amount == BASE + 10 * 800
    latest = manager.orders.filter(billing_reason="subscription_update").exclude(pk=update.pk)
    assert items_of(latest.get()) == [("Team Plus (7 → 10 seats)", 10 * 800 - 7 * 1000)]
    polar.clock.advance(days=32)
    polar.deliver()
    renewal = manager.orders.get(billing_reason="subscription_cycle")
    assert items_of(renewal) == [("Team Plus", BASE), ("Team Plus (10 seats)", 10 * 800)]


def test_a_percentage_discount_takes_its_share_of_the_seat_part_only(polar, plan):
    """subscription/update.py: the discount is allocated across [fixed, seats]; a seat
    change prorates the seat share net of its part of the discount."""
    manager, _ = buy(polar, plan, 5)
    subscription = manager.subscription()
    twenty = polar.catalog.create_discount(
        {"name": "Twenty", "type": "percentage", "basis_points": 2000, "duration": "forever"}
    )
    subscription.apply_discount(twenty["id"])
    polar.deliver()
    subscription.update_seats(6, proration="invoice")
    polar.deliver()
    update = manager.orders.get(billing_reason="subscription_update")
    assert items_of(update) == [("Team Plus (5 → 6 seats)", 1000 - 1000 * 20 // 100)]


def test_the_hosted_checkout_page_shows_the_seat_field_and_the_whole_total(polar, plan):
    from polar_emulator.web.pages import Pages, Request

    manager = User.objects.create_user("shopper", "shopper@example.com")
    session = manager.checkout([plan]).with_seats(4).session
    page = Pages(polar).handle(Request("GET", f"/checkout/{session['client_secret']}"))
    assert page.status == 200
    assert b'name="seats"' in page.body
    assert b"Pay $90.00" in page.body  # 50.00 + 4 x 10.00
    paid = Pages(polar).handle(
        Request(
            "POST",
            f"/checkout/{session['client_secret']}",
            form={"customer_email": "shopper@example.com", "seats": "11"},
        )
    )
    assert paid.status in (200, 303)
    polar.deliver()
    assert manager.subscription().amount == BASE + 11 * 800


def test_the_admin_lists_the_subscription_at_its_whole_amount(polar, plan, admin_client):
    buy(polar, plan, 5)
    page = admin_client.get("/admin/django_polar/subscription/")
    assert page.status_code == 200
    assert "USD 100.00/month" in page.content.decode()


def test_a_fixed_discount_is_split_across_the_base_fee_and_the_seats(polar, plan):
    """models/discount.py ``allocate_discount_amounts``: $10 off [5000, 5000] is 500 +
    500; off [5000, 6000] it is 455 + 545 (the unit lost to flooring goes to the larger
    remainder), so one more seat costs (6000 - 545) - (5000 - 500)."""
    manager, _ = buy(polar, plan, 5)
    subscription = manager.subscription()
    ten = polar.catalog.create_discount(
        {"name": "Ten off", "type": "fixed", "amount": 1000, "duration": "forever"}
    )
    subscription.apply_discount(ten["id"])
    polar.deliver()
    subscription.update_seats(6, proration="invoice")
    polar.deliver()
    update = manager.orders.get(billing_reason="subscription_update")
    assert items_of(update) == [("Team Plus (5 → 6 seats)", (6000 - 545) - (5000 - 500))]


def test_a_one_time_fixed_plus_seats_product_bills_both_in_one_order(polar):
    product = polar.catalog.create_product(
        {
            "name": "Workshop",
            "prices": [
                {"amount_type": "fixed", "price_amount": 20000},
                {"amount_type": "seat_based", "seat_tiers": {"tiers": TIERS}},
            ],
        }
    )
    polar.catalog.set_product_benefits(product["id"], {"benefits": [polar.ids["pro-features"]]})
    workshop = mirror.upsert_product(get_client().get_product(product["id"]))
    buyer, session = buy(polar, workshop, 3)
    assert session["amount"] == 20000 + 3 * 1000
    (order,) = buyer.orders
    assert order.total_amount == 20000 + 3 * 1000
    assert items_of(order) == [("Workshop", 20000), ("Workshop (3 seats)", 3 * 1000)]
    # order/service.py: an order with seats grants through its claimed seats only.
    assert not buyer.has_benefit(polar.ids["pro-features"])
    assert buyer.polar_customer.data["type"] == "team"
