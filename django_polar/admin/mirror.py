"""Admin for the mirror models: read-mostly, because Polar is the source of truth.

Rows cannot be added, edited or deleted here (a local edit would be overwritten by the
next webhook, and would lie until then). Staff can look, search by email, external id
or Polar id, open the object in Polar's dashboard, and re-sync chosen rows from Polar.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any, ClassVar

from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..client import get_client
from ..conf import polar_settings
from ..errors import PolarError
from ..models import (
    Benefit,
    BenefitGrant,
    CheckoutClaim,
    Customer,
    Order,
    Price,
    Product,
    Refund,
    Subscription,
    UsageEvent,
)
from ..money import format_amount
from ..sync import refresh_rows
from .dashboard import billing_dashboard
from .display import pretty_json
from .readonly import ReadOnlyAdminMixin

logger = logging.getLogger("django_polar.admin")

ORG_SLUG_CACHE_SECONDS = 24 * 3600
#: More rows than this are left to ``manage.py polar_sync`` (one API call each, in-request).
MAX_RESYNC_ROWS = 100


def organization_slug() -> str | None:
    """The organization's slug for dashboard links, asked of Polar once and cached."""
    key = f"django_polar:org_slug:{polar_settings.base_url}"
    slug = cache.get(key)
    if slug:
        return slug
    try:
        page = get_client().get_page("/v1/organizations/", limit=1)
    except (PolarError, ImproperlyConfigured) as exc:
        logger.warning("Could not look up the organization slug: %s", exc)
        return None
    items = page.get("items") or []
    slug = items[0].get("slug") if items else None
    if slug:
        cache.set(key, slug, ORG_SLUG_CACHE_SECONDS)
    return slug


#: Where each object lives in Polar's dashboard, below ``<dashboard>/<org slug>/``.
DASHBOARD_PATHS: dict[type, str] = {
    Customer: "customers/{id}",
    Product: "products/{id}",
    Price: "products/{product_id}",
    Benefit: "products/benefits/{id}",
    Subscription: "sales/subscriptions/{id}",
    Order: "sales/{id}",
    BenefitGrant: "customers/{customer_id}",
    Refund: "sales/{order_id}",
}


def dashboard_url(obj: Any, slug: str | None) -> str:
    """The object's page in Polar's dashboard (sandbox or production, per settings)."""
    base = polar_settings.dashboard_url.rstrip("/")
    if not slug:
        return base
    template = DASHBOARD_PATHS[type(obj)]
    return f"{base}/{slug}/" + template.format(
        id=obj.pk,
        product_id=getattr(obj, "product_id", ""),
        customer_id=getattr(obj, "customer_id", ""),
        order_id=getattr(obj, "order_id", ""),
    )


def admin_link(obj: Any, text: Any = None) -> str:
    """A link to ``obj``'s admin page ('-' for None)."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


class PolarMirrorAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shared behaviour: view-only rows, pretty JSON, dashboard link, re-sync action."""

    actions = ["resync_from_polar"]
    exclude: ClassVar[tuple[str, ...]] = ("data",)
    #: Columns holding other Polar ids that a pasted UUID should also match.
    polar_id_fields: tuple[str, ...] = ()
    show_full_result_count = False

    def has_resync_permission(self, request: HttpRequest) -> bool:
        """Re-syncing writes rows, so it needs the model's change permission."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "polar_dashboard", "raw_json")

    @admin.display(description=_("Polar object (JSON)"))
    def raw_json(self, obj: Any) -> str:
        return pretty_json(obj.data)

    @admin.display(description=_("In Polar"))
    def polar_dashboard(self, obj: Any) -> str:
        opts = self.opts
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_dashboard", args=[obj.pk])
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            url,
            _("Open in Polar's dashboard"),
        )

    def get_urls(self) -> list[Any]:
        opts = self.opts
        name = f"{opts.app_label}_{opts.model_name}_dashboard"
        view = self.admin_site.admin_view(self.dashboard_redirect)
        return [path("<path:object_id>/dashboard/", view, name=name), *super().get_urls()]

    def dashboard_redirect(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """Resolve the org slug only when someone clicks, so pages never wait on Polar."""
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        try:
            pk = uuid.UUID(object_id)
        except ValueError:
            from django.http import Http404

            raise Http404("Not a Polar id.") from None
        obj = get_object_or_404(self.model, pk=pk)
        return HttpResponseRedirect(dashboard_url(obj, organization_slug()))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """A pasted Polar id matches the row or any related id column, by index."""
        try:
            polar_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        query = Q(pk=polar_id)
        for name in self.polar_id_fields:
            query |= Q(**{name: polar_id})
        return queryset.filter(query), False

    @admin.action(description=_("Re-sync selected from Polar"), permissions=["resync"])
    def resync_from_polar(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.count()
        if count > MAX_RESYNC_ROWS:
            self.message_user(
                request,
                _("%(count)d rows selected; re-sync at most %(max)d at a time here, or run "
                  "`manage.py polar_sync` for everything.") % {"count": count, "max": MAX_RESYNC_ROWS},
                messages.WARNING,
            )  # fmt: skip
            return
        report = refresh_rows(self.model, queryset)
        done = report.created + report.updated + report.unchanged + report.skipped_older
        self.message_user(
            request,
            _("Re-synced %(done)d from Polar: %(updated)d updated, %(unchanged)d unchanged, "
              "%(older)d kept (local copy newer).")
            % {"done": done, "updated": report.updated + report.created,
               "unchanged": report.unchanged, "older": report.skipped_older},
            messages.SUCCESS if not (report.errors or report.missing or report.failed)
            else messages.WARNING,
        )  # fmt: skip
        if report.failed:
            self.message_user(
                request,
                _("%(failed)d object(s) from Polar could not be stored; see the log.")
                % {"failed": report.failed},
                messages.ERROR,
            )
        if report.missing:
            self.message_user(
                request,
                _("Not found in Polar: %s") % ", ".join(report.missing[:10]),
                messages.WARNING,
            )
        for error in report.errors[:10]:
            self.message_user(request, error, messages.ERROR)


class PriceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Price
    fields = ("id", "amount_type", "display_amount", "recurring_interval", "is_archived")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description=_("Amount"))
    def display_amount(self, obj: Price) -> str:
        return format_amount(obj.amount, obj.currency)


class SubscriptionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Subscription
    fields = ("id", "product", "type", "status", "current_period_end", "cancel_at_period_end")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("product")


@admin.register(Customer)
class CustomerAdmin(PolarMirrorAdmin):
    list_display = (
        "email",
        "name",
        "external_id",
        "type",
        "billable_link",
        "is_live",
        "created_at",
    )
    list_filter = ("type", ("deleted_at", admin.EmptyFieldListFilter), "billable_type")
    search_fields = ("email", "external_id", "name")
    ordering = ("-created_at",)
    inlines = (SubscriptionInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("billable_type")

    @admin.display(description=_("Billable"))
    def billable_link(self, obj: Customer) -> str:
        if not obj.billable_id or obj.billable_type is None:
            return "-"
        model = obj.billable_type.model_class()
        if model is None or not self.admin_site.is_registered(model):
            return f"{obj.billable_type.app_label}.{obj.billable_type.model}:{obj.billable_id}"
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.billable_id])
        return format_html('<a href="{}">{} {}</a>', url, opts.verbose_name, obj.billable_id)

    @admin.display(description=_("Live"), boolean=True)
    def is_live(self, obj: Customer) -> bool:
        return obj.deleted_at is None


@admin.register(Product)
class ProductAdmin(PolarMirrorAdmin):
    list_display = (
        "name",
        "prices_summary",
        "is_recurring",
        "recurring_interval",
        "is_archived",
        "created_at",
    )
    list_filter = ("is_archived", "is_recurring", "recurring_interval")
    search_fields = ("name", "description")
    ordering = ("is_archived", "name")
    inlines = (PriceInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("prices")

    @admin.display(description=_("Prices"))
    def prices_summary(self, obj: Product) -> str:
        prices = [p for p in obj.prices.all() if not p.is_archived]
        return (
            ", ".join(
                format_amount(p.amount, p.currency) if p.amount is not None else p.amount_type
                for p in prices
            )
            or "-"
        )


@admin.register(Price)
class PriceAdmin(PolarMirrorAdmin):
    list_display = (
        "id",
        "product",
        "amount_type",
        "display_amount",
        "recurring_interval",
        "is_archived",
    )
    list_filter = ("amount_type", "is_archived", "currency")
    search_fields = ("product__name",)
    polar_id_fields = ("product_id",)
    list_select_related = ("product",)

    @admin.display(description=_("Amount"), ordering="amount")
    def display_amount(self, obj: Price) -> str:
        return format_amount(obj.amount, obj.currency)


@admin.register(Benefit)
class BenefitAdmin(PolarMirrorAdmin):
    list_display = ("description", "type", "is_deleted", "created_at")
    list_filter = ("type", "is_deleted")
    search_fields = ("description",)


@admin.register(Subscription)
class SubscriptionAdmin(PolarMirrorAdmin):
    list_display = (
        "id", "customer_link", "product", "type", "status", "display_amount",
        "current_period_end", "cancel_at_period_end",
    )  # fmt: skip
    list_filter = (
        "status", "type", "cancel_at_period_end", "customer_cancellation_reason",
        "pause_at_period_end", "product", "recurring_interval",
    )  # fmt: skip
    search_fields = ("customer__email", "customer__external_id", "customer__name")
    polar_id_fields = ("customer_id", "product_id", "checkout_id")
    list_select_related = ("customer", "product")

    def get_urls(self) -> list[URLPattern]:
        """The billing dashboard lives beside the subscriptions it sums up."""
        view = self.admin_site.admin_view(partial(billing_dashboard, site=self.admin_site))
        return [path("dashboard/", view, name="django_polar_dashboard"), *super().get_urls()]

    @admin.display(description=_("Customer"), ordering="customer__email")
    def customer_link(self, obj: Subscription) -> str:
        return admin_link(obj.customer)

    @admin.display(description=_("Amount"), ordering="amount")
    def display_amount(self, obj: Subscription) -> str:
        per = f"/{obj.recurring_interval}" if obj.recurring_interval else ""
        return format_amount(obj.amount, obj.currency) + per


@admin.register(Order)
class OrderAdmin(PolarMirrorAdmin):
    list_display = (
        "invoice_number", "customer_link", "product", "status", "billing_reason",
        "display_total", "created_at",
    )  # fmt: skip
    list_filter = ("status", "billing_reason", "paid", "product")
    search_fields = ("invoice_number", "customer__email", "customer__external_id")
    polar_id_fields = ("customer_id", "product_id", "subscription_id", "checkout_id")
    list_select_related = ("customer", "product")

    @admin.display(description=_("Customer"), ordering="customer__email")
    def customer_link(self, obj: Order) -> str:
        return admin_link(obj.customer)

    @admin.display(description=_("Total"), ordering="total_amount")
    def display_total(self, obj: Order) -> str:
        return format_amount(obj.total_amount, obj.currency)


@admin.register(BenefitGrant)
class BenefitGrantAdmin(PolarMirrorAdmin):
    list_display = (
        "id",
        "customer_link",
        "benefit",
        "is_granted",
        "is_revoked",
        "granted_at",
        "revoked_at",
    )
    list_filter = ("is_granted", "is_revoked", "benefit__type", "benefit")
    search_fields = ("customer__email", "customer__external_id", "benefit__description")
    polar_id_fields = ("customer_id", "benefit_id", "subscription_id", "order_id")
    list_select_related = ("customer", "benefit")
    exclude = ("data", "properties")

    @admin.display(description=_("Customer"), ordering="customer__email")
    def customer_link(self, obj: BenefitGrant) -> str:
        return admin_link(obj.customer)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "pretty_properties")

    @admin.display(description=_("Properties"))
    def pretty_properties(self, obj: BenefitGrant) -> str:
        return pretty_json(obj.properties)


@admin.register(Refund)
class RefundAdmin(PolarMirrorAdmin):
    list_display = ("id", "order_link", "status", "reason", "display_amount", "created_at")
    list_filter = ("status", "reason", "revoke_benefits")
    search_fields = ("order__invoice_number",)
    polar_id_fields = ("order_id", "customer_id", "subscription_id")
    list_select_related = ("order",)

    @admin.display(description=_("Order"))
    def order_link(self, obj: Refund) -> str:
        return admin_link(obj.order) if obj.order_id else "-"

    @admin.display(description=_("Amount"), ordering="amount")
    def display_amount(self, obj: Refund) -> str:
        return format_amount(obj.amount, obj.currency)


@admin.register(CheckoutClaim)
class CheckoutClaimAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Guest checkouts and who claimed them (read-only; the token is never stored)."""

    list_display = ("checkout_id", "created_at", "claimed_at", "claimed_by", "customer_id")
    list_filter = (("claimed_at", admin.EmptyFieldListFilter),)
    search_fields = ("checkout_id", "claimed_by")
    exclude = ("token_hash",)


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The usage outbox: what was metered and whether Polar has it (read-only)."""

    list_display = (
        "name",
        "customer",
        "external_customer_id",
        "timestamp",
        "ingested_at",
        "attempts",
    )
    list_filter = ("name", ("ingested_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "external_customer_id", "customer__email")
    list_select_related = ("customer",)
    exclude = ("metadata",)
    readonly_fields = ("pretty_metadata",)

    @admin.display(description=_("Metadata"))
    def pretty_metadata(self, obj: UsageEvent) -> str:
        return pretty_json(obj.metadata)


__all__ = [
    "BenefitAdmin",
    "BenefitGrantAdmin",
    "CustomerAdmin",
    "OrderAdmin",
    "PolarMirrorAdmin",
    "PriceAdmin",
    "ProductAdmin",
    "RefundAdmin",
    "SubscriptionAdmin",
    "UsageEventAdmin",
    "admin_link",
    "dashboard_url",
    "pretty_json",
]
