"""Entitlements: which benefits a billable holds, and project code run when that changes.

    user.has_benefit("discord")            # a Polar benefit id, or the benefit's metadata
                                           # "key"/"slug" (feature flags carry no other key)
    user.benefits()                        # the active grants, with their properties

    @on_benefit_granted("discord")
    def invite(billable, benefit, customer, transition): ...

    @on_benefit_revoked("discord")
    def kick(billable, benefit, customer, transition): ...

A benefit can come from several subscriptions or orders: it is held while any of its
grants is granted and not revoked, so one revocation never removes what another grant
gives. Whenever the mirror changes a customer's grants, ``record_transitions`` compares
what the customer holds with ``BenefitAccess`` and writes one ``BenefitTransition`` per
flip, in the mirror's transaction; ``run_due`` then runs each registered hook once per
transition (the ones that finished are remembered, so a retry runs only the others),
with backoff on failure. ``replay`` runs a transition's hooks again on purpose.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from . import mirror
from .models import (
    Benefit,
    BenefitAccess,
    BenefitGrant,
    BenefitTransition,
    Customer,
    TransitionKind,
)
from .retry import backoff

logger = logging.getLogger("django_polar.entitlements")

#: A hook is retried this many times before its transition is left failed (``replay``).
MAX_ATTEMPTS = 8

Hook = Callable[..., Any]
_hooks: dict[str, list[tuple[str, Hook]]] = {TransitionKind.GRANTED: [], TransitionKind.REVOKED: []}


def benefit_keys(benefit: Benefit) -> set[str]:
    """The names a benefit answers to: its Polar id and its metadata ``key``/``slug``."""
    metadata = (benefit.data or {}).get("metadata") or {}
    keys = {str(benefit.pk)}
    keys.update(str(metadata[k]) for k in ("key", "slug") if metadata.get(k))
    return keys


def benefit_q(key: Any) -> models.Q:
    """Benefits named by ``key``: a Polar id, a Benefit row, or a metadata key/slug."""
    values = [key] if isinstance(key, str | Benefit) or not isinstance(key, Iterable) else key
    q = models.Q(pk__in=[])
    for value in values:
        if isinstance(value, Benefit):
            q |= models.Q(pk=value.pk)
            continue
        text = str(value)
        q |= models.Q(data__metadata__key=text) | models.Q(data__metadata__slug=text)
        try:
            q |= models.Q(pk=uuid.UUID(text))
        except ValueError:
            pass
    return q


def _register(kind: str, key: str) -> Callable[[Hook], Hook]:
    def decorate(func: Hook) -> Hook:
        name = f"{func.__module__}.{func.__qualname__}"
        _hooks[kind] = [(k, f) for k, f in _hooks[kind] if _name(f) != name] + [(key, func)]
        return func

    return decorate


def _name(func: Hook) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def on_benefit_granted(key: str = "*") -> Callable[[Hook], Hook]:
    """Run ``func(billable, benefit, customer, transition)`` when a customer starts holding
    the benefit named ``key`` (Polar id or metadata key/slug; ``"*"``: any benefit).

    A claimed seat's benefit is its member's: ``billable`` is the member's own billable
    (``transition.member_id`` is set), ``customer`` the billing customer that pays."""
    return _register(TransitionKind.GRANTED, key)


def on_benefit_revoked(key: str = "*") -> Callable[[Hook], Hook]:
    """Run ``func(billable, benefit, customer, transition)`` when a customer's last grant of
    the benefit is revoked (a seat member's: its own billable, as for granted)."""
    return _register(TransitionKind.REVOKED, key)


def hooks_for(transition: BenefitTransition) -> list[Hook]:
    keys = benefit_keys(transition.benefit) | {"*"}
    return [func for key, func in _hooks[transition.kind] if key in keys]


# -- detecting transitions (inside the mirror's transaction) --------------------------------


def record_transitions(customer_ids: Iterable[Any]) -> list[BenefitTransition]:
    """Compare what each customer holds now with what it held; write the flips.

    A claimed seat's grants belong to the billing customer *for the seat's member*
    (``member_id``): they are tracked per member, so their transitions are the member's
    (its hooks get the member's own billable), never the billing manager's."""
    created = []
    for customer_id in {c for c in customer_ids if c is not None}:
        with transaction.atomic():
            held = set(
                BenefitGrant.objects.granted()
                .filter(customer_id=customer_id)
                .values_list("benefit_id", "member_id")
            )
            known = {
                (a.benefit_id, a.member_id): a
                for a in BenefitAccess.objects.select_for_update().filter(customer_id=customer_id)
            }
            for key in sorted(held | set(known), key=str):
                benefit_id, member_id = key
                access = known.get(key)
                active = key in held
                if access is not None and access.active == active:
                    continue
                if access is None and not active:
                    continue
                if access is None:
                    BenefitAccess.objects.create(
                        customer_id=customer_id,
                        benefit_id=benefit_id,
                        member_id=member_id,
                        active=True,
                    )
                else:
                    access.active = active
                    access.save(update_fields=["active", "changed_at"])
                kind = TransitionKind.GRANTED if active else TransitionKind.REVOKED
                created.append(
                    BenefitTransition.objects.create(
                        customer_id=customer_id,
                        benefit_id=benefit_id,
                        member_id=member_id,
                        kind=kind,
                    )
                )
    if created:
        transaction.on_commit(run_due, robust=True)
    return created


def customer_id_of(obj: Any) -> Any:
    """The customer a mirrored row belongs to (a Customer, or a row with ``customer_id``)."""
    if isinstance(obj, Customer):
        return obj.pk
    return getattr(obj, "customer_id", None)


# -- running hooks ------------------------------------------------------------------------------


def due(now: Any = None) -> models.QuerySet[BenefitTransition]:
    now = now or timezone.now()
    ready = models.Q(next_attempt_at__isnull=True) | models.Q(next_attempt_at__lte=now)
    return BenefitTransition.objects.filter(
        ready, finished_at__isnull=True, attempts__lt=MAX_ATTEMPTS
    )


def run_due() -> int:
    """Run the hooks of every due transition, oldest first; returns how many finished."""
    finished = 0
    for pk in list(due().values_list("pk", flat=True)):
        if run(pk):
            finished += 1
    return finished


def run(pk: int, *, force: bool = False) -> bool:
    """Run the hooks of one transition that have not finished (all of them: ``force``).

    The row is locked while its hooks run (``SKIP LOCKED`` on PostgreSQL: a transition
    another worker is running is skipped), so a hook never runs twice at once.
    """
    with transaction.atomic():
        rows = BenefitTransition.objects.select_related("benefit", "customer").filter(pk=pk)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        else:
            rows = rows.select_for_update()
        transition = rows.first()
        if transition is None or (transition.finished_at is not None and not force):
            return False
        if force:
            transition.done = []
        billable = (
            mirror.billable_of_member(transition.member_id)
            if transition.member_id
            else mirror.billable_of(transition.customer)
        )
        error = ""
        for func in hooks_for(transition):
            name = _name(func)
            if name in transition.done:
                continue
            try:
                with transaction.atomic():
                    func(
                        billable=billable,
                        benefit=transition.benefit,
                        customer=transition.customer,
                        transition=transition,
                    )
            except Exception:
                error = f"{name}: {traceback.format_exc()}"
                logger.warning("Benefit hook %s failed for transition %s", name, pk, exc_info=True)
                break
            transition.done = [*transition.done, name]
        transition.attempts += 1
        transition.last_error = error[:5000]
        now = timezone.now()
        if error:
            transition.next_attempt_at = now + backoff(transition.attempts)
        else:
            transition.next_attempt_at = None
            transition.finished_at = now
        transition.save()
    return not error


def replay(pk: int) -> bool:
    """Run every hook of a transition again (after fixing a hook, or on purpose)."""
    return run(pk, force=True)
