"""``manage.py polar_products``: the catalog as a table, from Polar or from the mirror.

    manage.py polar_products            # live, from Polar's API
    manage.py polar_products --local    # what the database holds (no API call)
    manage.py polar_products --active   # hide archived products

The ids are what POLAR["PRODUCTS"] maps slugs to.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from ...client import get_client
from ...errors import PolarError
from ...models import Product
from ..base import PolarCommand
from ..display import describe_price, table

HEADERS = ("id", "name", "prices", "recurring", "archived")


def _recurring(data: dict[str, Any]) -> str:
    if not data.get("is_recurring"):
        return "no"
    count = data.get("recurring_interval_count") or 1
    interval = data.get("recurring_interval") or "?"
    return f"every {count} {interval}s" if count > 1 else f"{interval}ly".replace("dayly", "daily")


def product_row(data: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """One table row from a Polar product JSON (the API's or the mirror's ``data``)."""
    interval = data.get("recurring_interval") if data.get("is_recurring") else None
    prices = "; ".join(describe_price(price, interval) for price in data.get("prices") or [])
    return (
        str(data.get("id", "")),
        str(data.get("name", "")),
        prices or "-",
        _recurring(data),
        "yes" if data.get("is_archived") else "no",
    )


class Command(PolarCommand):
    help = "List Polar products (id, name, prices, recurring, archived) from Polar or the mirror."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--local", action="store_true", help="Read the local mirror instead of calling Polar."
        )
        parser.add_argument("--active", action="store_true", help="Leave out archived products.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["local"]:
            products = self._local(active=options["active"])
            source = "local mirror"
        else:
            try:
                products = self._remote(active=options["active"])
            except PolarError as exc:
                raise CommandError(str(exc)) from None
            source = "Polar"
        if not products:
            hint = " Run `manage.py polar_sync` to fill the mirror." if options["local"] else ""
            self.stdout.write(f"No products ({source}).{hint}")
            return
        for line in table(HEADERS, [product_row(data) for data in products]):
            self.stdout.write(line)
        self.stdout.write(f"{len(products)} product(s) from the {source}.")

    def _remote(self, *, active: bool) -> list[dict[str, Any]]:
        params = {"is_archived": False} if active else {}
        products = list(get_client().list_products(**params))
        return sorted(products, key=lambda p: (bool(p.get("is_archived")), str(p.get("name", ""))))

    def _local(self, *, active: bool) -> list[dict[str, Any]]:
        queryset = Product.objects.prefetch_related("prices").order_by("is_archived", "name")
        if active:
            queryset = queryset.active()
        rows = []
        for product in queryset:
            data = dict(product.data or {})
            # The columns are the truth for the flags (a prune sets them without a snapshot).
            data.update(
                id=str(product.pk),
                name=product.name,
                is_archived=product.is_archived,
                is_recurring=product.is_recurring,
                recurring_interval=product.recurring_interval,
            )
            if not data.get("prices"):
                data["prices"] = [
                    {**(price.data or {}), "amount_type": price.amount_type,
                     "price_amount": price.amount, "price_currency": price.currency,
                     "is_archived": price.is_archived}
                    for price in product.prices.all()
                ]  # fmt: skip
            rows.append(data)
        return rows
