"""Mirror models of Polar objects, the webhook inbox and the usage outbox."""

from .agent import AgentCall, AgentCallOutcome, AgentToken
from .catalog import Benefit, Meter, Price, Product, resolve_product_id
from .claim import CheckoutClaim
from .customer import Customer, CustomerType
from .entitlement import BenefitAccess, BenefitTransition, TransitionKind
from .grant import BenefitGrant
from .order import Order, OrderStatus
from .refund import Refund
from .seat import Member, Seat, SeatStatus
from .subscription import (
    DEFAULT_TYPE,
    SUBSCRIPTION_TYPE_KEY,
    CancellationReason,
    PendingUpdate,
    Subscription,
    SubscriptionStatus,
)
from .usage import UsageEvent, UsageIngest
from .webhook import WebhookEvent, WebhookEventStatus

__all__ = [
    "DEFAULT_TYPE",
    "SUBSCRIPTION_TYPE_KEY",
    "AgentCall",
    "AgentCallOutcome",
    "AgentToken",
    "Benefit",
    "BenefitAccess",
    "BenefitGrant",
    "BenefitTransition",
    "CancellationReason",
    "CheckoutClaim",
    "Customer",
    "CustomerType",
    "Member",
    "Meter",
    "Order",
    "OrderStatus",
    "PendingUpdate",
    "Price",
    "Product",
    "Refund",
    "Seat",
    "SeatStatus",
    "Subscription",
    "SubscriptionStatus",
    "TransitionKind",
    "UsageEvent",
    "UsageIngest",
    "WebhookEvent",
    "WebhookEventStatus",
    "resolve_product_id",
]
