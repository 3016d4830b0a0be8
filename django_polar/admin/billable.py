"""Show a billable's Polar customer and subscriptions on the project's own admin pages.

    from django_polar.admin.billable import PolarBillableAdminMixin, PolarCustomerInline

    @admin.register(User)
    class UserAdmin(PolarBillableAdminMixin, auth_admin.UserAdmin):
        inlines = [PolarCustomerInline]          # optional: the linked customer row

The mixin adds a read-only "Polar billing" field (customer link, subscriptions with
status) that finds the customer the way the app does (external id, then stored link),
so it also works for customers that arrived by webhook before being linked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from ..models import Customer
from .mirror import admin_link
from .readonly import ReadOnlyAdminMixin

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise


class PolarCustomerInline(ReadOnlyAdminMixin, GenericTabularInline):
    """The Polar customer linked to this billable (read-only)."""

    model = Customer
    ct_field = "billable_type"
    ct_fk_field = "billable_id"
    # Billable links are recorded per concrete-or-proxy model (for_concrete_model=False).
    for_concrete_model = False
    fields = ("id", "email", "external_id", "type", "deleted_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name = _("Polar customer")
    verbose_name_plural = _("Polar customer")


class PolarBillableAdminMixin:
    """Adds a read-only ``polar_billing`` field to a billable model's admin."""

    polar_billing_fieldset_title = _("Polar billing")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        return (*fields, "polar_billing") if obj is not None else fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets = list(super().get_fieldsets(request, obj))  # type: ignore[misc]
        listed = any("polar_billing" in (opts.get("fields") or ()) for _name, opts in fieldsets)
        if obj is not None and not listed:
            fieldsets.append((self.polar_billing_fieldset_title, {"fields": ("polar_billing",)}))
        return fieldsets

    @admin.display(description=_("Polar billing"))
    def polar_billing(self, obj: Any) -> str | StrPromise:
        customer = getattr(obj, "polar_customer", None)
        if customer is None:
            return _("No Polar customer yet (one is created at the first checkout).")
        subscriptions = list(
            customer.subscriptions.select_related("product").order_by("-created_at")[:20]
        )
        rows = format_html_join(
            "",
            "<li>{} &middot; {} &middot; {}</li>",
            ((admin_link(sub, sub.product), sub.type, sub.status) for sub in subscriptions),
        )
        listing = format_html("<ul>{}</ul>", rows) if subscriptions else _("no subscriptions")
        return format_html(
            "{} ({})<br>{}", admin_link(customer), customer.external_id or "-", listing
        )
