"""What a token can reach: every customer, or the one customer it is bound to.

A customer-scoped token asking for another customer's object gets the same answer as
for an object that does not exist ("No order with id ..."): nothing is revealed.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.db.models import QuerySet

from ..errors import AgentToolError
from ..identity import billable_from_external_id
from ..models import AgentToken, BenefitGrant, Customer, Order, Subscription


class Scope:
    """The reach of one token for one call."""

    def __init__(self, token: AgentToken) -> None:
        self.token = token

    @property
    def scoped(self) -> bool:
        return self.token.is_customer_scoped

    @cached_property
    def bound_customer(self) -> Customer | None:
        """The customer of a customer-scoped token (None: not mirrored yet)."""
        external_id = self.token.customer_external_id
        billable = billable_from_external_id(external_id)
        found: Customer | None = getattr(billable, "polar_customer", None)
        if found is not None:
            return found
        return Customer.objects.live().filter(external_id=external_id).first()

    def customers(self) -> QuerySet[Customer]:
        rows = Customer.objects.live()
        if self.scoped:
            bound = self.bound_customer
            return rows.filter(pk=bound.pk) if bound else rows.none()
        return rows

    def customer(self, customer_id: str | None = None, external_id: str | None = None) -> Customer:
        """The customer a call is about: the bound one, or the one named by id."""
        if self.scoped:
            if self.bound_customer is None:
                raise AgentToolError(
                    "This customer has no billing record yet (no purchase, no subscription)."
                )
            return self.bound_customer
        if customer_id:
            found = self.customers().filter(pk=customer_id).first()
            if found is None:
                raise AgentToolError(f"No customer with id {customer_id}.")
            return found
        if external_id:
            found = self.customers().filter(external_id=external_id).first()
            if found is None:
                raise AgentToolError(f"No customer with external id {external_id!r}.")
            return found
        raise AgentToolError("Give customer_id (from find_customers) or external_id.")

    def _restrict(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(customer__in=self.customers()) if self.scoped else queryset

    def subscriptions(self) -> QuerySet[Subscription]:
        return self._restrict(Subscription.objects.select_related("product", "customer"))

    def orders(self) -> QuerySet[Order]:
        return self._restrict(Order.objects.select_related("product"))

    def grants(self) -> QuerySet[BenefitGrant]:
        return self._restrict(BenefitGrant.objects.granted().select_related("benefit"))

    def subscription(self, subscription_id: str) -> Subscription:
        found = self.subscriptions().filter(pk=subscription_id).first()
        if found is None:
            raise AgentToolError(f"No subscription with id {subscription_id}.")
        return found

    def order(self, order_id: str) -> Order:
        found = self.orders().filter(pk=order_id).first()
        if found is None:
            raise AgentToolError(f"No order with id {order_id}.")
        return found
