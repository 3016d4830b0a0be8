"""What a customer may see of their own billing objects (and nothing more).

Raw Polar JSON, metadata, internal ids of other systems and organization data are never
exposed; amounts stay integer minor units with their currency.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from ..checkout import MAX_SEATS, MIN_SEATS
from ..models import Benefit, BenefitGrant, Order, Price, Product, Subscription
from ..models.subscription import CancellationReason

#: Grant properties a customer may see, per benefit type (anything else stays server side).
VISIBLE_GRANT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "license_keys": ("license_key_id", "display_key"),
    "downloadables": ("files",),
    "meter_credit": ("last_credited_units", "last_credited_at"),
}


#: Polar's enums (2026-10 spec: SubscriptionStatus, OrderStatus, OrderBillingReason,
#: BenefitType, RecurringInterval, SubscriptionProrationBehavior, the price amount types),
#: declared so the schema names every value a client must handle.
SUBSCRIPTION_STATUSES = [
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
]
ORDER_STATUSES = ["draft", "pending", "paid", "refunded", "partially_refunded", "void"]
BILLING_REASONS = [
    "purchase",
    "subscription_create",
    "subscription_cycle",
    "subscription_update",
    "subscription_meter_cycle",
]
BENEFIT_TYPES = [
    "custom",
    "discord",
    "github_repository",
    "downloadables",
    "license_keys",
    "meter_credit",
    "feature_flag",
    "slack_shared_channel",
]
RECURRING_INTERVALS = ["day", "week", "month", "year"]
PRORATIONS = ["invoice", "prorate", "next_period", "reset"]
AMOUNT_TYPES = ["fixed", "custom", "free", "seat_based", "metered_unit"]
CANCELLATION_REASONS = [reason.value for reason in CancellationReason]


def interval_field() -> serializers.ChoiceField:
    """A recurring interval; null for a one-time product or price."""
    return serializers.ChoiceField(choices=RECURRING_INTERVALS, allow_null=True, read_only=True)


class ProductSummarySerializer(serializers.ModelSerializer):
    recurring_interval = interval_field()

    class Meta:
        model = Product
        fields = ("id", "name", "is_recurring", "recurring_interval")
        read_only_fields = fields


class PriceSerializer(serializers.ModelSerializer):
    amount_type = serializers.ChoiceField(choices=AMOUNT_TYPES, read_only=True)
    recurring_interval = interval_field()

    class Meta:
        model = Price
        fields = ("id", "amount_type", "amount", "currency", "recurring_interval")
        read_only_fields = fields


class BenefitSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(choices=BENEFIT_TYPES, read_only=True)

    class Meta:
        model = Benefit
        fields = ("id", "type", "description")
        read_only_fields = fields


class ProductSerializer(serializers.ModelSerializer):
    prices = serializers.SerializerMethodField(help_text="Active prices only.")
    benefits = BenefitSerializer(many=True, read_only=True)
    recurring_interval = interval_field()

    class Meta:
        model = Product
        fields = (
            "id",
            "name",
            "description",
            "is_recurring",
            "recurring_interval",
            "prices",
            "benefits",
        )
        read_only_fields = fields

    @extend_schema_field(PriceSerializer(many=True))
    def get_prices(self, product: Product) -> list[dict[str, Any]]:
        active = [p for p in product.prices.all() if not p.is_archived]
        return list(PriceSerializer(active, many=True).data)


class PendingUpdateSerializer(serializers.Serializer):
    """A change Polar applies at the next renewal (a swap with proration next_period)."""

    applies_at = serializers.DateTimeField(read_only=True, allow_null=True)
    product_id = serializers.UUIDField(read_only=True, allow_null=True)
    seats = serializers.IntegerField(read_only=True, allow_null=True)


#: The schema of ``pending_update`` written out: an object or null. (A nullable
#: reference to a component is ``allOf`` + ``nullable`` in OpenAPI 3.0, which validators
#: read as "never null".)
PENDING_UPDATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "nullable": True,
    "description": "A change Polar applies at the next renewal (a swap with proration "
    "next_period), or null when none is scheduled.",
    "properties": {
        "applies_at": {"type": "string", "format": "date-time", "nullable": True},
        "product_id": {
            "type": "string",
            "format": "uuid",
            "nullable": True,
            "description": "The product it moves to; null: the product stays.",
        },
        "seats": {
            "type": "integer",
            "nullable": True,
            "description": "The new seat count; null: the seats stay.",
        },
    },
    "required": ["applies_at", "product_id", "seats"],
}


class SubscriptionSerializer(serializers.ModelSerializer):
    product = ProductSummarySerializer(read_only=True)
    status = serializers.ChoiceField(choices=SUBSCRIPTION_STATUSES, read_only=True)
    recurring_interval = interval_field()
    # DRF's metaclass moves declared fields off the class, so Serializer.is_valid survives.
    is_valid = serializers.SerializerMethodField(help_text="Grants access now.")  # type: ignore[assignment]
    on_grace_period = serializers.SerializerMethodField(
        help_text="Canceled at period end, with the end still ahead."
    )
    customer_cancellation_reason = serializers.ChoiceField(
        choices=CANCELLATION_REASONS,
        allow_blank=True,
        read_only=True,
        help_text="The customer's reason for canceling (empty: none given).",
    )
    next_payment_attempt_at = serializers.SerializerMethodField(
        help_text="Past due only: when Polar next retries the failed payment."
    )
    pending_update = serializers.SerializerMethodField(
        help_text="A change scheduled for the next renewal, or null."
    )

    class Meta:
        model = Subscription
        fields = (
            "id",
            "type",
            "status",
            "product",
            "amount",
            "currency",
            "recurring_interval",
            "current_period_start",
            "current_period_end",
            "trial_start",
            "trial_end",
            "cancel_at_period_end",
            "canceled_at",
            "started_at",
            "ends_at",
            "ended_at",
            "seats",
            "is_valid",
            "on_grace_period",
            "customer_cancellation_reason",
            "customer_cancellation_comment",
            "pause_at_period_end",
            "paused_at",
            "resumes_at",
            "past_due_at",
            "next_payment_attempt_at",
            "pending_update",
            "created_at",
        )
        read_only_fields = fields

    def get_is_valid(self, subscription: Subscription) -> bool:
        return subscription.valid()

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_payment_attempt_at(self, subscription: Subscription) -> Any:
        when = subscription.next_payment_attempt_at()
        return serializers.DateTimeField().to_representation(when) if when else None

    @extend_schema_field(PENDING_UPDATE_SCHEMA)
    def get_pending_update(self, subscription: Subscription) -> dict[str, Any] | None:
        pending = subscription.pending_update
        return dict(PendingUpdateSerializer(pending).data) if pending else None

    def get_on_grace_period(self, subscription: Subscription) -> bool:
        return bool(subscription.on_grace_period())


class OrderSerializer(serializers.ModelSerializer):
    product = ProductSummarySerializer(read_only=True, allow_null=True)
    subscription_id = serializers.UUIDField(read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=ORDER_STATUSES, read_only=True)
    billing_reason = serializers.ChoiceField(
        choices=BILLING_REASONS, allow_blank=True, read_only=True
    )
    invoice_url = serializers.SerializerMethodField(
        help_text="API URL that answers with the invoice PDF's URL (generated on demand)."
    )

    class Meta:
        model = Order
        fields = (
            "id",
            "created_at",
            "product",
            "subscription_id",
            "status",
            "paid",
            "billing_reason",
            "subtotal_amount",
            "discount_amount",
            "tax_amount",
            "total_amount",
            "refunded_amount",
            "currency",
            "invoice_number",
            "invoice_url",
        )
        read_only_fields = fields

    def get_invoice_url(self, order: Order) -> str:
        request = self.context.get("request")
        return reverse("polar-api-order-invoice", args=[order.pk], request=request)


class BenefitGrantSerializer(serializers.ModelSerializer):
    benefit = BenefitSerializer(read_only=True)
    subscription_id = serializers.UUIDField(read_only=True, allow_null=True)
    order_id = serializers.UUIDField(read_only=True, allow_null=True)
    properties = serializers.SerializerMethodField(
        help_text="What the customer needs to use the benefit, e.g. a license key's display key.",
    )

    class Meta:
        model = BenefitGrant
        fields = ("id", "benefit", "granted_at", "subscription_id", "order_id", "properties")
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_properties(self, grant: BenefitGrant) -> dict[str, Any]:
        visible = VISIBLE_GRANT_PROPERTIES.get(grant.benefit.type, ())
        props = grant.properties or {}
        return {key: props[key] for key in visible if key in props}


class MeterSerializer(serializers.Serializer):
    """One usage meter from the mirrored customer state."""

    meter_id = serializers.UUIDField()
    name = serializers.CharField(allow_blank=True)
    consumed_units = serializers.FloatField()
    credited_units = serializers.IntegerField()
    balance = serializers.FloatField()


class CustomerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.CharField()
    name = serializers.CharField(allow_blank=True)


class BillingStateSerializer(serializers.Serializer):
    customer = CustomerSerializer(allow_null=True)
    subscribed = serializers.BooleanField(help_text='A valid "default" subscription exists.')
    subscriptions = SubscriptionSerializer(many=True, help_text="Subscriptions granting access.")
    benefits = BenefitGrantSerializer(many=True)
    meters = MeterSerializer(many=True)


# -- requests ------------------------------------------------------------------------------


class Text(serializers.CharField):
    """A string field that takes strings only: DRF's ``CharField`` turns ``0`` into ``"0"``,
    which the schema (``type: string``) promises to refuse. It keeps whitespace, too: DRF
    trims by default, so ``" "`` would be a 400 "may not be blank" that ``minLength: 1``
    does not announce; a view that wants a value trimmed trims it itself."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}],
        "nullable": True,
    }
)
class CustomFieldValue(serializers.Field):
    """A custom field's value as Polar takes it: a string (text, select, an ISO date), an
    integer, a boolean or null; anything else is a 400 here rather than Polar's 422."""

    default_error_messages = {"invalid": "A custom field value is a string, integer or boolean."}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool | int | str) and not (isinstance(data, str) and "\x00" in data):
            return data
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class BillingAddressSerializer(serializers.Serializer):
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$", help_text="ISO 3166-1 alpha-2 country code (Polar checks it sells there)."
    )
    line1 = Text(max_length=255, required=False, allow_blank=True)
    line2 = Text(max_length=255, required=False, allow_blank=True)
    postal_code = Text(max_length=32, required=False, allow_blank=True)
    city = Text(max_length=255, required=False, allow_blank=True)
    state = Text(
        max_length=64, required=False, allow_blank=True, help_text="Required in the US and Canada."
    )


class CheckoutRequestSerializer(serializers.Serializer):
    products = serializers.ListField(
        child=Text(min_length=1, max_length=64),
        min_length=1,
        max_length=10,
        help_text="Polar product ids or configured slugs; each must be an active product.",
    )
    seats = serializers.IntegerField(min_value=MIN_SEATS, max_value=MAX_SEATS, required=False)
    success_url = Text(
        min_length=1,
        max_length=2048,
        required=False,
        help_text="A URL on this site (relative or same host).",
    )
    return_url = Text(
        min_length=1,
        max_length=2048,
        required=False,
        help_text="A URL on this site (relative or same host).",
    )
    embed_origin = Text(
        min_length=1,
        max_length=255,
        required=False,
        help_text="Origin of the page embedding the checkout (https://host[:port]); its host "
        "must be one of this site's (ALLOWED_HOSTS). Default: the request's origin.",
    )
    min_seats = serializers.IntegerField(
        min_value=MIN_SEATS,
        max_value=MAX_SEATS,
        required=False,
        help_text="Fewest seats the buyer may choose (seat-based products).",
    )
    max_seats = serializers.IntegerField(
        min_value=MIN_SEATS,
        max_value=MAX_SEATS,
        required=False,
        help_text="Most seats the buyer may choose (seat-based products).",
    )
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        required=False,
        help_text="Bill in this currency (e.g. eur); the product needs a price in it.",
    )
    locale = serializers.RegexField(
        r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$",
        required=False,
        help_text="The checkout's language (BCP 47, e.g. fr); Polar honours it where the "
        "organization has checkout localization, else shows en.",
    )
    billing_address = BillingAddressSerializer(required=False, help_text="Prefilled address.")
    tax_id = Text(
        min_length=1,
        max_length=64,
        required=False,
        help_text="VAT number, EIN ...; validated by Polar against billing_address.country.",
    )
    business_name = Text(
        min_length=1,
        max_length=256,
        required=False,
        help_text="Buy as a business with this billing name (Polar then asks for the full "
        "billing address).",
    )
    custom_field_data = serializers.DictField(
        child=CustomFieldValue(allow_null=True),
        required=False,
        help_text="Values of the product's custom fields, by slug (string, number, boolean).",
    )
    upgrade_subscription = serializers.UUIDField(
        required=False,
        help_text="Upgrade this free subscription of the requester instead of adding one.",
    )


class CheckoutResponseSerializer(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class PortalRequestSerializer(serializers.Serializer):
    return_url = Text(
        min_length=1,
        max_length=2048,
        required=False,
        help_text="A URL on this site (relative or same host).",
    )


class PortalResponseSerializer(serializers.Serializer):
    url = serializers.CharField()


class SwapRequestSerializer(serializers.Serializer):
    product = Text(min_length=1, max_length=64, help_text="Polar product id or slug.")
    proration = serializers.ChoiceField(
        choices=PRORATIONS,
        required=False,
        help_text="How Polar bills the change (default: the organization's setting).",
    )


class CancelRequestSerializer(serializers.Serializer):
    """Why the customer cancels, in their own words (Polar shows them in its portal)."""

    reason = serializers.ChoiceField(choices=CANCELLATION_REASONS, required=False)
    comment = Text(required=False, allow_blank=True, max_length=5000)


class PauseRequestSerializer(serializers.Serializer):
    resumes_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When Polar resumes it (after the current period end); "
        "absent or null: paused until resumed.",
    )


class InvoiceSerializer(serializers.Serializer):
    url = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["ready", "generating"])


class LicenseKeyActivateSerializer(serializers.Serializer):
    """What a desktop app sends to activate its license key on one device."""

    key = Text(min_length=1, max_length=255)
    # Polar names the field ``label``; DRF collects declared fields off the class, so the
    # name shadowing ``Field.label`` in the stubs is harmless at run time.
    label = Text(  # type: ignore[assignment]
        min_length=1, max_length=255, help_text="The device, as the user sees it."
    )
    conditions = serializers.DictField(
        required=False, help_text="Values the key must match when validated (e.g. a machine id)."
    )
    meta = serializers.DictField(required=False, help_text="Stored with the activation.")


class LicenseKeyActivationSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Store it on the device; validate with it later.")
    license_key_id = serializers.UUIDField()
    label = serializers.CharField()  # type: ignore[assignment]  # Polar's name; see above
    meta = serializers.DictField()
    created_at = serializers.DateTimeField()


class ErrorSerializer(serializers.Serializer):
    """The one shape of every error of this API (4xx and 5xx)."""

    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for invalid input (400): messages per field of the request "
        "(nested fields joined with dots, e.g. products.0).",
    )
