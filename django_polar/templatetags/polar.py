"""``{% load polar %}``: the embed script, checkout buttons and billing-state filters.

    {% polar_embed_script %}
    {% polar_checkout_button "pro-monthly" "Upgrade" theme="dark" class="btn" %}
    {% if user|subscribed %} ... {% endif %}
    {% if user|subscribed:"swimming" %} ... {% endif %}
    {% if user|subscribed_to_product:product %} ... {% endif %}   (the "default" type)
    {% if user|has_benefit:benefit_id %} ... {% endif %}
    <a href="{% polar_portal_url %}">Billing</a>

Rendering never calls Polar: a button for a product points at the app's checkout view,
which creates the session when clicked. Everything rendered is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django import template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from ..billable import Billable
from ..checkout import CheckoutBuilder
from ..conf import polar_settings
from ..models import DEFAULT_TYPE, Product, resolve_product_id

register = template.Library()

THEMES = ("light", "dark")


@register.simple_tag
def polar_embed_script(src: str | None = None) -> SafeString:
    """The pinned ``@polar-sh/checkout`` embed script (POLAR["EMBED_SCRIPT_URL"])."""
    html = render_to_string(
        "django_polar/embed_script.html", {"src": src or polar_settings.EMBED_SCRIPT_URL}
    )
    return mark_safe(html.strip())  # noqa: S308 - rendered by an autoescaping template


def checkout_href(target: Any, **query: Any) -> str:
    """Where a checkout button points: a given checkout's URL, or our checkout view.

    A CheckoutBuilder is accepted only once its session exists (the view read
    ``builder.url`` or ``builder.session``): rendering never calls Polar.
    """
    if isinstance(target, CheckoutBuilder):
        if not target.created:
            raise template.TemplateSyntaxError(
                "polar_checkout_button got a checkout that is not created yet, and templates "
                "never call Polar. Create it in the view (read builder.url) before rendering, "
                "or pass a product slug/id so the button points at the app's checkout view."
            )
        return target.url  # an explicit, already created checkout
    if isinstance(target, Mapping) and target.get("url"):
        return str(target["url"])  # a Polar checkout (or checkout link) object
    if isinstance(target, str) and target.startswith(("https://", "http://")):
        return target
    if isinstance(target, Product):
        product = str(target.pk)
    else:
        resolve_product_id(target)  # unknown slugs fail loudly while developing
        product = str(target)
    url = reverse("django_polar:checkout", args=[product])
    params = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{url}?{urlencode(params)}" if params else url


@register.simple_tag(takes_context=True)
def polar_checkout_button(
    context: template.Context,
    target: Any,
    label: str = "Buy",
    theme: str = "light",
    **attrs: Any,
) -> SafeString:
    """``<a data-polar-checkout ...>`` for a product (slug, id, Product) or a checkout.

    Keyword arguments: ``theme`` ("light"/"dark"), ``class``, ``id``, and for product
    buttons ``seats`` and ``next`` (passed to the checkout view). A placeholder product
    (see ``Product.objects.placeholders``) renders nothing: it is not for sale.
    """
    if theme not in THEMES:
        raise template.TemplateSyntaxError(f"polar_checkout_button theme must be one of {THEMES}.")
    unknown = set(attrs) - {"class", "id", "seats", "next"}
    if unknown:
        raise template.TemplateSyntaxError(
            f"polar_checkout_button does not accept {', '.join(sorted(unknown))}."
        )
    if isinstance(target, Product) and target.is_placeholder:
        return mark_safe("")
    href = checkout_href(target, seats=attrs.get("seats"), next=attrs.get("next"))
    request = context.get("request")
    if request is not None:
        # The embed script opens ``new URL(href)`` without a base: it must be absolute.
        href = request.build_absolute_uri(href)
    html = render_to_string(
        "django_polar/checkout_button.html",
        {
            "href": href,
            "label": label,
            "theme": theme,
            "css_class": attrs.get("class"),
            "element_id": attrs.get("id"),
        },
    )
    return mark_safe(html.strip())  # noqa: S308 - rendered by an autoescaping template


@register.simple_tag
def polar_portal_url(next: str | None = None) -> str:
    """The app's customer-portal view (it creates the Polar session when followed)."""
    url = reverse("django_polar:portal")
    return f"{url}?{urlencode({'next': next})}" if next else url


@register.simple_tag
def polar_checkout_url(product: Any) -> str:
    """The app's checkout view for a product (slug, id or Product)."""
    return checkout_href(product)


def _billable(value: Any) -> Billable | None:
    return value if isinstance(value, Billable) and value.pk is not None else None


@register.filter
def subscribed(billable: Any, type: str | None = DEFAULT_TYPE) -> bool:
    """``user|subscribed`` or ``team|subscribed:"swimming"`` (False for anonymous users)."""
    b = _billable(billable)
    return b.subscribed(type=type or DEFAULT_TYPE) if b else False


@register.filter
def subscribed_to_product(billable: Any, product: Any) -> bool:
    """``user|subscribed_to_product:product``: a valid subscription of the "default" type
    to ``product`` (like ``Billable.subscribed_to_product``). A filter takes one argument,
    so for another type ask the billable in the view: ``subscribed_to_product(p, type=...)``.
    """
    b = _billable(billable)
    return b.subscribed_to_product(product) if b else False


@register.filter
def on_trial(billable: Any, type: str = DEFAULT_TYPE) -> bool:
    b = _billable(billable)
    return b.on_trial(type or DEFAULT_TYPE) if b else False


@register.filter
def on_grace_period(billable: Any, type: str = DEFAULT_TYPE) -> bool:
    b = _billable(billable)
    return b.on_grace_period(type or DEFAULT_TYPE) if b else False


@register.filter
def has_benefit(billable: Any, benefit: Any) -> bool:
    """``user|has_benefit:benefit_id``."""
    b = _billable(billable)
    return b.has_benefit(benefit) if b else False
