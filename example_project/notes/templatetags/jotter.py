"""Small display helpers for Jotter's templates."""

from django import template
from django.urls import reverse

from django_polar.conf import polar_settings

from ..pricing import money as _money

register = template.Library()


@register.simple_tag
def polar_server() -> str:
    """Which Polar this site talks to ("emulator", "sandbox", ...), for the banner."""
    return str(polar_settings.SERVER)


@register.filter
def money(amount: int | None, currency: str = "usd") -> str:
    return _money(amount, currency)


BILLING_REASONS = {
    "purchase": "One-time purchase",
    "subscription_create": "New subscription",
    "subscription_cycle": "Renewal",
    "subscription_update": "Plan change",
}


@register.filter
def billing_reason(value: str) -> str:
    return BILLING_REASONS.get(value, value.replace("_", " ").capitalize())


@register.filter
def status_badge(subscription) -> str:
    """A CSS modifier for a subscription's status badge."""
    if subscription is None:
        return "grey"
    if subscription.on_grace_period() or subscription.past_due():
        return "warn"
    if subscription.valid():
        return "ok"
    return "bad"


@register.simple_tag(takes_context=True)
def absolute_url(context, view_name: str, *args) -> str:
    """An absolute URL: Polar's embed script opens ``new URL(href)`` with no base."""
    return context["request"].build_absolute_uri(reverse(view_name, args=args))
