"""The billing dashboard in the admin: figures from the mirror (``metrics.compute``), no
Polar call, charts drawn server-side (``charts.bar_chart``)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from .. import metrics
from ..money import format_amount
from .charts import bar_chart


def _money(currency: str) -> Callable[[int], str]:
    return lambda value: format_amount(value, currency)


def billing_dashboard(request: HttpRequest, site: AdminSite) -> HttpResponse:
    """Staff who may view subscriptions see the dashboard (it shows no customer's data);
    ``site.admin_view`` has already sent anyone else to the login page."""
    if not request.user.has_perm("django_polar.view_subscription"):
        return HttpResponse(status=403)
    figures = metrics.compute()
    revenue_charts = [
        (
            currency,
            bar_chart(
                f"revenue-{currency}",
                [
                    (month.strftime("%b %Y"), row.get(currency, 0))
                    for month, row in figures.revenue_by_month
                ],
                _money(currency),
            ),
        )
        for currency in figures.currencies
    ]
    windows = [
        (
            window,
            bar_chart(
                f"movement-{window.days}",
                [
                    (str(_("New")), window.new),
                    (str(_("Canceled")), window.canceled),
                    (str(_("Past due")), window.past_due),
                ],
            ),
        )
        for window in figures.windows
    ]
    context = {
        **site.each_context(request),
        "title": _("Billing dashboard"),
        "figures": figures,
        "mrr": [
            (currency, format_amount(value, currency)) for currency, value in figures.mrr.items()
        ],
        "plans_chart": bar_chart("active-by-plan", figures.active_by_plan),
        "windows": windows,
        "revenue_charts": revenue_charts,
    }
    return TemplateResponse(request, "admin/django_polar/dashboard.html", context)
