"""Mirror models of Polar objects, the webhook inbox and the usage outbox."""

from .agent import AgentCall, AgentCallOutcome, AgentToken
from .catalog import Benefit, Price, Product, resolve_product_id
from .customer import Customer, CustomerType
from .grant import BenefitGrant
from .order import Order, OrderStatus
from .refund import Refund
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
    "AgentCall",
    "AgentCallOutcome",
    "AgentToken",
    "Benefit",
    "BenefitGrant",
    "Customer",
    "CustomerType",
    "Order",
    "OrderStatus",
    "Price",
    "Product",
    "Refund",
    "Subscription",
    "SubscriptionStatus",
    "UsageEvent",
    "WebhookEvent",
    "WebhookEventStatus",
    "resolve_product_id",
]
