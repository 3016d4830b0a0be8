"""Pricing and the account page: Jotter's billing UI, read from django-polar's mirror.

Only the buttons call Polar (cancel, resume, change plan, invoice, portal); drawing a page
never does.
"""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from django_polar.errors import PolarError
from django_polar.models import Product

from ..forms import SwapForm
from ..pricing import build_plans, meter_usage, money, page_groups, swap_targets

logger = logging.getLogger(__name__)


def pricing(request: HttpRequest) -> HttpResponse:
    subscription = None
    if request.user.is_authenticated:
        subscription = request.user.subscription()
    context = {
        "groups": page_groups(build_plans()),
        "subscription": subscription if subscription and subscription.valid() else None,
        "next_url": request.GET.get("next", ""),
        "nav": "pricing",
    }
    return render(request, "notes/pricing.html", context)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    subscription = user.subscription()
    orders = list(user.orders.select_related("product")[:25])
    grants = list(user.benefit_grants.select_related("benefit").order_by("-granted_at"))
    other_subscriptions = [
        s for s in user.subscriptions.select_related("product") if s.valid() and s != subscription
    ]
    context = {
        "subscription": subscription,
        "other_subscriptions": other_subscriptions,
        "orders": [(o, money(o.total_amount, o.currency)) for o in orders],
        "grants": grants,
        "meters": meter_usage(user.polar_customer),
        "swap_targets": swap_targets(subscription.product if subscription else None),
        "teams": user.owned_teams.all(),
        "nav": "account",
    }
    return render(request, "notes/account.html", context)


def _own_subscription(request: HttpRequest, pk):
    subscription = request.user.subscriptions.filter(pk=pk).select_related("product").first()
    if subscription is None:
        raise Http404("No such subscription.")
    return subscription


def _act(request: HttpRequest, action, done: str) -> HttpResponseRedirect:
    try:
        action()
    except PolarError as exc:
        logger.error("Subscription change failed: %s", exc)
        messages.error(
            request, "Billing is unavailable right now; nothing changed. Please try again."
        )
    else:
        messages.success(request, done)
    return redirect("notes:account")


@login_required
@require_POST
def cancel(request: HttpRequest, pk) -> HttpResponse:
    subscription = _own_subscription(request, pk)
    if not subscription.valid() or subscription.cancel_at_period_end:
        messages.info(request, "This subscription is not running or is already canceled.")
        return redirect("notes:account")
    return _act(
        request,
        subscription.cancel,
        "Your subscription is canceled; Pro stays on until the period ends.",
    )


@login_required
@require_POST
def resume(request: HttpRequest, pk) -> HttpResponse:
    subscription = _own_subscription(request, pk)
    if not subscription.on_grace_period():
        messages.info(request, "Only a canceled subscription that has not ended can be resumed.")
        return redirect("notes:account")
    return _act(request, subscription.resume, "Welcome back: your subscription continues.")


@login_required
@require_POST
def swap(request: HttpRequest, pk) -> HttpResponse:
    subscription = _own_subscription(request, pk)
    form = SwapForm(request.POST)
    allowed = {p.pk for p in swap_targets(subscription.product)}
    if (
        not form.is_valid()
        or form.cleaned_data["product"] not in allowed
        or not subscription.valid()
    ):
        messages.error(request, "Pick one of the plans offered.")
        return redirect("notes:account")
    product = Product.objects.get(pk=form.cleaned_data["product"])
    return _act(request, lambda: subscription.swap(product), f"You are now on {product.name}.")


@login_required
def invoice(request: HttpRequest, pk) -> HttpResponse:
    """Redirect to the order's invoice PDF (Polar generates it on first request)."""
    order = get_object_or_404(request.user.orders, pk=pk, paid=True)
    try:
        url = order.invoice_url()
    except PolarError as exc:
        logger.error("Invoice for order %s failed: %s", order.pk, exc)
        url = None
    if not url:
        messages.info(request, "The invoice is being generated; try again in a moment.")
        return redirect("notes:account")
    return HttpResponseRedirect(url)
