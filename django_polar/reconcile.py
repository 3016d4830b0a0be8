"""Repair customers from Polar's customer-state endpoint, and say what changed.

The customer state lists a customer's active subscriptions and granted benefits. Applying
it (``mirror.apply_customer_state``) creates what is missing and marks what it no longer
lists as ended; a subscription ended that way is then fetched on its own, so the mirror
holds its real status (``past_due``, ``canceled``...) rather than a guess.

    from django_polar.reconcile import Reconciler
    for outcome in Reconciler().run(Customer.objects.live()): print(outcome.changes)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import mirror
from .client import PolarClient, get_client
from .errors import PolarError, PolarNotFoundError, redact
from .models import BenefitGrant, Customer, Subscription, SubscriptionStatus
from .pacing import DEFAULT_CONCURRENCY, DEFAULT_RATE_PER_MINUTE, Pacer, fetch_concurrently

ENDED_BY_STATE = (SubscriptionStatus.CANCELED,)


@dataclass(frozen=True)
class Target:
    """Whom to reconcile: a Polar customer id, or an external id (a billable's)."""

    label: str
    customer_id: str | None = None
    external_id: str | None = None


@dataclass
class ReconcileResult:
    """One customer's result: the changes (human-readable), or why nothing was done."""

    target: Target
    changes: list[str] = field(default_factory=list)
    missing: bool = False
    error: str | None = None


@dataclass
class _State:
    subscriptions: dict[str, tuple[Any, ...]]
    grants: dict[str, bool]
    names: dict[str, str]


def _snapshot(customer_id: Any) -> _State:
    subs = Subscription.objects.filter(customer_id=customer_id).select_related("product")
    grants = BenefitGrant.objects.filter(customer_id=customer_id).select_related("benefit")
    names: dict[str, str] = {}
    sub_state: dict[str, tuple[Any, ...]] = {}
    for sub in subs:
        sub_state[str(sub.pk)] = (sub.status, sub.cancel_at_period_end, sub.current_period_end)
        names[str(sub.pk)] = sub.product.name if sub.product_id and sub.product.name else ""
    grant_state: dict[str, bool] = {}
    for grant in grants:
        grant_state[str(grant.pk)] = grant.is_granted and not grant.is_revoked
        names[str(grant.pk)] = grant.benefit.description or grant.benefit.type
    return _State(sub_state, grant_state, names)


def _describe_sub(values: tuple[Any, ...]) -> str:
    status, cancel_at_period_end, period_end = values
    text = str(status)
    if cancel_at_period_end:
        text += " (cancels at period end)"
    if period_end:
        text += f", period ends {period_end:%Y-%m-%d}"
    return text


def diff(before: _State, after: _State) -> list[str]:
    """Readable lines for what changed between two snapshots of one customer."""
    lines = []
    for pk, values in after.subscriptions.items():
        name = f" ({after.names[pk]})" if after.names.get(pk) else ""
        old = before.subscriptions.get(pk)
        if old is None:
            lines.append(f"subscription {pk}{name}: added, {_describe_sub(values)}")
        elif old != values:
            lines.append(
                f"subscription {pk}{name}: {_describe_sub(old)} -> {_describe_sub(values)}"
            )
    for pk, granted in after.grants.items():
        name = f" ({after.names[pk]})" if after.names.get(pk) else ""
        old_granted = before.grants.get(pk)
        if old_granted is None:
            lines.append(f"benefit grant {pk}{name}: added, {'granted' if granted else 'revoked'}")
        elif old_granted != granted:
            lines.append(
                f"benefit grant {pk}{name}: "
                f"{'granted -> revoked' if old_granted else 'revoked -> granted'}"
            )
    return lines


class Reconciler:
    """Fetches states concurrently (paced) and applies them one customer per transaction."""

    def __init__(
        self,
        *,
        client: PolarClient | None = None,
        rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
        concurrency: int = DEFAULT_CONCURRENCY,
        dry_run: bool = False,
        pacer: Pacer | None = None,
    ) -> None:
        self.client = client or get_client()
        self.pacer = pacer or Pacer(rate_per_minute)
        self.concurrency = concurrency
        self.dry_run = dry_run

    def run(self, targets: Iterable[Target]) -> Iterator[ReconcileResult]:
        """Yield one ReconcileResult per target, as their states arrive."""
        finished = fetch_concurrently(
            targets, self._fetch_state, concurrency=self.concurrency, name="polar-reconcile"
        )
        for target, future in finished:
            try:
                state, fetched_at = future.result()
            except PolarNotFoundError:
                yield ReconcileResult(target, missing=True)
                continue
            except PolarError as exc:
                yield ReconcileResult(target, error=redact(str(exc)))
                continue
            yield self._apply(target, state, fetched_at)

    def _fetch_state(self, target: Target) -> tuple[dict[str, Any], datetime]:
        self.pacer.acquire()
        # The state is at least as new as the moment we asked: it dates the snapshot.
        fetched_at = timezone.now()
        if target.customer_id:
            return self.client.get_customer_state(target.customer_id), fetched_at
        return self.client.get_customer_state_by_external_id(str(target.external_id)), fetched_at

    def _apply(
        self, target: Target, state: dict[str, Any], fetched_at: datetime
    ) -> ReconcileResult:
        outcome = ReconcileResult(target)
        try:
            with transaction.atomic():
                before = _snapshot(state.get("id"))
                customer = mirror.apply_customer_state(state, event_time=fetched_at)
                self._refetch_ended(before, customer, outcome)
                outcome.changes = diff(before, _snapshot(customer.pk))
                if self.dry_run:
                    transaction.set_rollback(True)
        except PolarError as exc:
            outcome.error = redact(str(exc))
        except Exception as exc:  # a malformed state must not stop the other customers
            outcome.error = redact(f"{type(exc).__name__}: {exc}")
        return outcome

    def _refetch_ended(self, before: _State, customer: Customer, outcome: ReconcileResult) -> None:
        """Subscriptions the state stopped listing: fetch their real status from Polar."""
        ended = Subscription.objects.filter(customer=customer, status__in=ENDED_BY_STATE).exclude(
            pk__in=[
                pk for pk, values in before.subscriptions.items() if values[0] in ENDED_BY_STATE
            ]
        )
        for sub in ended.filter(pk__in=list(before.subscriptions)):
            self.pacer.acquire()
            try:
                mirror.upsert_subscription(self.client.get_subscription(str(sub.pk)))
            except PolarNotFoundError:
                continue
            except PolarError as exc:
                outcome.error = redact(f"subscription {sub.pk}: {exc}")


def targets_for_customers(customers: Iterable[Customer]) -> Iterator[Target]:
    for customer in customers:
        yield Target(label=str(customer), customer_id=str(customer.pk))


def target_for_billable(billable: Any) -> Target:
    """A billable's target: by its external id, so a customer not mirrored yet is found too."""
    external_id = billable.get_polar_external_id()
    return Target(label=f"{billable._meta.label_lower}:{billable.pk}", external_id=external_id)
