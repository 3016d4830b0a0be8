"""Turns the mirrored catalog into pricing-page plans (presentation only, no Polar calls)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django_polar.models import Price, Product

#: Sections of the pricing page, in display order.
SECTIONS = (
    ("individual", "Jotter Pro", "For your own notes. Cancel any time."),
    ("team", "Jotter for teams", "One workspace, billed per seat."),
    ("metered", "Pay as you go", "AI summaries billed by use."),
    ("one_time", "Buy once", "No subscription: pay once, keep it."),
)


def money(amount: int | None, currency: str = "usd") -> str:
    """Minor units to a display string ($12 or $12.50)."""
    if amount is None:
        return ""
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get((currency or "usd").lower(), "")
    value = Decimal(amount) / 100
    text = f"{value:,.0f}" if value == value.to_integral() else f"{value:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


@dataclass
class Plan:
    """One card on the pricing page."""

    product: Product
    section: str
    price_label: str
    period_label: str = ""
    features: list[str] = field(default_factory=list)
    is_seat_based: bool = False
    highlight: bool = False

    @property
    def id(self) -> str:
        return str(self.product.pk)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.section, "")


def _active_prices(product: Product) -> list[Price]:
    return [p for p in product.prices.all() if not p.is_archived]


def _unit_label(price: Price) -> str:
    data = price.data or {}
    try:
        unit = Decimal(str(data.get("unit_amount", "0")))
    except InvalidOperation:
        unit = Decimal(0)
    meter = (data.get("meter") or {}).get("name") or "unit"
    meter = meter[:-3] + "y" if meter.endswith("ies") else meter.removesuffix("s")
    amount = money(int(unit), price.currency or "usd") if unit >= 100 else f"{unit.normalize()}¢"
    return f"{amount} per {meter}"


def _describe(prices: list[Price], product: Product) -> tuple[str, str, bool, str]:
    """(price label, period label, seat based?, section) for a product's prices."""
    if not prices:
        return "", "", False, "one_time"
    interval = product.recurring_interval or prices[0].recurring_interval or ""
    period = {"month": "per month", "year": "per year"}.get(interval, "one time")
    by_kind = {p.amount_type: p for p in prices}
    if "seat_based" in by_kind:
        price = by_kind["seat_based"]
        tiers = ((price.data or {}).get("seat_tiers") or {}).get("tiers") or []
        per_seat = tiers[0].get("price_per_seat") if tiers else price.amount
        return money(per_seat, price.currency or "usd"), f"per seat, {period}", True, "team"
    if "metered_unit" in by_kind:
        metered = _unit_label(by_kind["metered_unit"])
        base = by_kind.get("fixed")
        if base is not None and base.amount:
            return money(base.amount, base.currency), f"{period} + {metered}", False, "metered"
        return metered, period, False, "metered"
    section = "individual" if product.is_recurring else "one_time"
    price = prices[0]
    data = price.data or {}
    if price.amount_type == "custom":
        minimum = data.get("minimum_amount")
        label = f"from {money(minimum, price.currency)}" if minimum else "Pay what you want"
        return label, period, False, section
    if price.amount_type == "free" or price.amount == 0:
        return "Free", period, False, section
    return money(price.amount, price.currency or "usd"), period, False, section


def build_plans() -> dict[str, list[Plan]]:
    """Active products grouped by section, cheapest first; two queries in all."""
    products = Product.objects.active().prefetch_related("prices", "benefits")
    sections: dict[str, list[Plan]] = {key: [] for key, _, _ in SECTIONS}
    for product in products:
        label, period, seat_based, section = _describe(_active_prices(product), product)
        features = [b.description for b in product.benefits.all() if b.description]
        plan = Plan(product, section, label, period, features, seat_based)
        sections[section].append(plan)
    for plans in sections.values():
        plans.sort(key=lambda p: (p.product.recurring_interval == "year", p.product.name))
    monthly = [p for p in sections["individual"] if p.product.recurring_interval == "month"]
    if monthly:
        monthly[0].highlight = True
    return sections


KIND_LABELS = {"team": "For teams", "metered": "Pay as you go", "one_time": "Buy once"}


def page_groups(plans: dict[str, list[Plan]]) -> dict[str, list[Plan]]:
    """The pricing page's two rows: the Pro plans, then everything else (labelled)."""
    extras = [plan for key in ("team", "metered", "one_time") for plan in plans.get(key, [])]
    return {"pro": plans.get("individual", []), "extras": extras}


def metered_product() -> Product | None:
    """The pay-as-you-go product (a metered price), if the catalog has one."""
    return Product.objects.active().filter(prices__amount_type="metered_unit").distinct().first()


def seat_products() -> list[Product]:
    """Products sold per seat (the team plans)."""
    return list(Product.objects.active().filter(prices__amount_type="seat_based").distinct())


def swap_targets(current: Product | None) -> list[Product]:
    """Plans a Pro subscriber may switch to: the other individual recurring plans."""
    plans = build_plans()["individual"]
    return [p.product for p in plans if current is None or p.product.pk != current.pk]


def meter_usage(customer) -> list[dict]:
    """Usage meters from the last mirrored customer state, with their names."""
    from django_polar.usage import meters_of

    return meters_of(customer)
