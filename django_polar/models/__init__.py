"""Mirror models of Polar objects, the webhook inbox and the usage outbox."""

from .catalog import Benefit, Price, Product, resolve_product_id
from .customer import Customer, CustomerType
from .grant import BenefitGrant
from .order import Order, OrderStatus
from .refund import Refund
from .seat import Member, Seat, SeatStatus
from .subscription import (
    DEFAULT_TYPE,
    SUBSCRIPTION_TYPE_KEY,
    Subscription,
    SubscriptionStatus,
)
from .usage import UsageEvent
from .webhook import WebhookEvent, WebhookEventStatus

__all__ = [
    "DEFAULT_TYPE",
    "SUBSCRIPTION_TYPE_KEY",
    "Benefit",
    "BenefitGrant",
    "Customer",
    "CustomerType",
    "Member",
    "Order",
    "OrderStatus",
    "Price",
    "Product",
    "Refund",
    "Seat",
    "SeatStatus",
    "Subscription",
    "SubscriptionStatus",
    "UsageEvent",
    "WebhookEvent",
    "WebhookEventStatus",
    "resolve_product_id",
]
