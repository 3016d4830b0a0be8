"""Usage metering: the outbox of usage events, the flusher that sends them, meters, credits.

    user.record_usage("ai_summary", {"characters": 1200})   # one INSERT, nothing else
    with user.meter_time("render"):                        # elapsed seconds
        render()
    user.record_llm_usage("summaries", model="gpt-4o", input_tokens=812, output_tokens=96)
    usage.flush()                                          # what the task / cron runs
    user.has_credits("api-calls")                          # the gate, from the mirror

Recording writes one row in the caller's transaction: a rolled-back request bills nothing,
a Polar outage loses nothing, and no request waits on Polar. Once the transaction
commits, one flush is requested (``USAGE_SENDING``). The flusher claims pending rows
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional claim everywhere), so
concurrent flushers never send one row twice, and sends them up to 1,000 per
``POST /v1/events/ingest`` with each row's stable ``external_id``: a row resent after a
lost answer or a crashed flusher is one Polar de-duplicates.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import connection, models, transaction
from django.utils import timezone

from polar_emulator import usage as meter_rules

from . import mirror, signals
from .client import get_client
from .conf import polar_settings
from .errors import (
    CustomerConflictError,
    InvalidUsageEvent,
    PolarError,
    PolarRateLimitError,
    PolarValidationError,
)
from .identity import billables_from_external_ids
from .models import Customer, Meter, Price, UsageEvent, UsageIngest
from .retry import backoff

if TYPE_CHECKING:
    from .billable import Billable

logger = logging.getLogger("django_polar.usage")

#: Events per ``POST /v1/events/ingest``.
MAX_INGEST_BATCH = 1000
#: How long a flusher owns the rows it claimed; a claim older than this (its flusher
#: died between sending and marking) is taken again, and Polar de-duplicates the resend.
CLAIM_LEASE = timedelta(minutes=5)
#: A flush run pauses for a 429's Retry-After only while it stays under this budget.
FLUSH_DEADLINE = 120.0

# -- validation: Polar's EventCreateExternalCustomer / EventMetadataInput ---------------------
# server/polar/event/schemas.py (name <= 128, EventMetadataInput: _cost, _llm, other values
# MetadataValue), server/polar/kit/metadata.py (keys 1..40 chars, at most 50 pairs, strings
# 1..500 chars, int, float, bool), the spec's CostMetadata-Input and LLMMetadata.
NAME_MAX = 128
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
LLM_INT_KEYS = ("input_tokens", "output_tokens", "total_tokens")


def validate_event(name: Any, metadata: Any = None) -> dict[str, Any]:
    """``metadata`` as Polar will store it, or ``InvalidUsageEvent`` naming the problem."""
    if not isinstance(name, str) or not name or len(name) > NAME_MAX:
        raise InvalidUsageEvent(
            f"A usage event name must be a string of 1 to {NAME_MAX} characters; got {name!r}."
        )
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidUsageEvent("Usage event metadata must be a dict.")
    if len(metadata) > METADATA_MAX_KEYS:
        raise InvalidUsageEvent(
            f"Usage event metadata holds at most {METADATA_MAX_KEYS} keys; got {len(metadata)}."
        )
    clean: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= METADATA_KEY_MAX:
            raise InvalidUsageEvent(
                f"Usage event metadata keys are strings of 1 to {METADATA_KEY_MAX} "
                f"characters; got {key!r}."
            )
        if key == "_cost":
            clean[key] = _valid_cost(value)
        elif key == "_llm":
            clean[key] = _valid_llm(value)
        else:
            clean[key] = _valid_value(key, value)
    return clean


def _valid_value(key: str, value: Any) -> Any:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidUsageEvent(f"Usage event metadata {key!r} must be a finite number.")
        return value
    if isinstance(value, str):
        if not 1 <= len(value) <= METADATA_VALUE_MAX:
            raise InvalidUsageEvent(
                f"Usage event metadata {key!r} must be a string of 1 to "
                f"{METADATA_VALUE_MAX} characters."
            )
        return value
    raise InvalidUsageEvent(
        f"Usage event metadata {key!r} must be a string, integer, float or boolean; "
        f"got {type(value).__name__}."
    )


def _valid_cost(value: Any) -> dict[str, Any]:
    """``{"amount": cents (up to 17 digits, 12 decimals), "currency": "usd"}``."""
    if not isinstance(value, Mapping) or set(value) - {"amount", "currency"}:
        raise InvalidUsageEvent('"_cost" must be {"amount": <cents>, "currency": "usd"}.')
    amount = value.get("amount")
    try:
        exact = Decimal(str(amount)) if not isinstance(amount, bool) else None
    except InvalidOperation:
        exact = None
    if exact is None or not exact.is_finite():
        raise InvalidUsageEvent('"_cost.amount" must be a number of cents.')
    exponent = exact.normalize().as_tuple().exponent
    places = max(-int(exponent), 0)
    whole = len(str(int(abs(exact)))) if abs(exact) >= 1 else 0
    if places > 12 or whole > 5:
        raise InvalidUsageEvent(
            '"_cost.amount" takes up to 17 digits with 12 decimal places (cents).'
        )
    if value.get("currency") != "usd":
        raise InvalidUsageEvent('"_cost.currency" must be "usd" (Polar supports only usd).')
    return {"amount": amount, "currency": "usd"}


def _valid_llm(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidUsageEvent('"_llm" must be a dict (vendor, model, token counts).')
    for key in ("vendor", "model"):
        if not isinstance(value.get(key), str):
            raise InvalidUsageEvent(f'"_llm.{key}" is required and must be a string.')
    for key in (*LLM_INT_KEYS, "cached_input_tokens"):
        if key == "cached_input_tokens" and key not in value:
            continue
        count = value.get(key)
        if not isinstance(count, int) or isinstance(count, bool):
            raise InvalidUsageEvent(f'"_llm.{key}" is required and must be an integer.')
    for key in ("prompt", "response"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise InvalidUsageEvent(f'"_llm.{key}" must be a string or None.')
    return dict(value)


# -- recording ---------------------------------------------------------------------------------


def build_event(
    billable: Billable,
    name: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    timestamp: datetime | None = None,
    external_id: str | None = None,
) -> UsageEvent:
    """An unsaved, validated row for ``billable`` (``record`` and ``record_many`` save it)."""
    clean = validate_event(name, metadata)
    if external_id is not None and (not isinstance(external_id, str) or not external_id):
        raise InvalidUsageEvent("A usage event external_id must be a non-empty string.")
    if external_id is not None and len(external_id) > 255:
        raise InvalidUsageEvent("A usage event external_id holds at most 255 characters.")
    if timestamp is not None and timezone.is_naive(timestamp):
        raise InvalidUsageEvent("A usage event timestamp must be timezone-aware.")
    row = UsageEvent(
        name=name,
        external_customer_id=billable.get_polar_external_id(),
        metadata=clean,
        timestamp=timestamp or timezone.now(),
    )
    if external_id is not None:
        row.external_id = external_id
    return row


def record(
    billable: Billable,
    name: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    timestamp: datetime | None = None,
    external_id: str | None = None,
) -> UsageEvent:
    """Save one usage event in the caller's transaction; one flush follows the commit."""
    row = build_event(billable, name, metadata, timestamp=timestamp, external_id=external_id)
    row.save(force_insert=True)
    request_flush()
    return row


def record_many(billable: Billable, events: Iterable[str | Mapping[str, Any]]) -> list[UsageEvent]:
    """Save many events in one INSERT; each item is a name or a dict with ``name`` and
    optionally ``metadata``, ``timestamp``, ``external_id``. All are validated first:
    one bad event saves none."""
    rows = []
    for item in events:
        if isinstance(item, str):
            rows.append(build_event(billable, item))
            continue
        if not isinstance(item, Mapping) or set(item) - {
            "name",
            "metadata",
            "timestamp",
            "external_id",
        }:
            raise InvalidUsageEvent(
                "Each event is a name or a dict of name, metadata, timestamp, external_id."
            )
        rows.append(
            build_event(
                billable,
                item.get("name"),  # type: ignore[arg-type]
                item.get("metadata"),
                timestamp=item.get("timestamp"),
                external_id=item.get("external_id"),
            )
        )
    UsageEvent.objects.bulk_create(rows, batch_size=500)
    if rows:
        request_flush()
    return rows


class _FlushAfterCommit:
    """The one on-commit callback of a transaction that recorded usage."""

    def __init__(self) -> None:
        self.done = False

    def __call__(self) -> None:
        self.done = True
        mode = polar_settings.USAGE_SENDING
        if mode == "inline":
            flush()
        elif mode == "task":
            signals.usage_flush_requested.send(sender=UsageEvent)


def request_flush() -> None:
    """Ask for one flush after the current transaction commits (coalesced: a transaction
    recording 10,000 events asks once; in autocommit every event is its own commit)."""
    pending = getattr(connection, "_polar_usage_flush", None)
    if pending is not None and not pending.done:
        queued = [entry[1] for entry in connection.run_on_commit]
        if pending in queued:
            return
    callback = _FlushAfterCommit()
    connection._polar_usage_flush = callback  # type: ignore[attr-defined]
    transaction.on_commit(callback, robust=True)


@contextmanager
def meter_time(
    billable: Billable,
    name: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    key: str = "seconds",
) -> Iterator[dict[str, Any]]:
    """Record ``name`` with the block's elapsed seconds in ``metadata[key]`` (also when
    it raises: the time was spent). The yielded dict may gain metadata inside the block."""
    extra: dict[str, Any] = dict(metadata or {})
    validate_event(name, {**extra, key: 0.0})
    started = time.perf_counter()
    try:
        yield extra
    finally:
        extra[key] = round(time.perf_counter() - started, 6)
        record(billable, name, extra)


def llm_metadata(
    *,
    model: str,
    input_tokens: int,
    output_tokens: int,
    vendor: str = "",
    cached_input_tokens: int | None = None,
    cost_cents: float | Decimal | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Polar's conventions for LLM usage (its LLM ingestion strategy): flat
    ``inputTokens``/``outputTokens``/``totalTokens``/``model``/``provider`` keys a meter sums,
    the structured ``_llm`` object, and ``_cost`` (cents, usd) when given."""
    total = input_tokens + output_tokens
    metadata: dict[str, Any] = {
        **extra,
        "strategy": "LLM",
        "model": model,
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": total,
    }
    llm: dict[str, Any] = {
        "vendor": vendor or model.split("/", 1)[0],
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": total,
    }
    if vendor:
        metadata["provider"] = vendor
    if cached_input_tokens is not None:
        metadata["cachedInputTokens"] = cached_input_tokens
        llm["cached_input_tokens"] = cached_input_tokens
    metadata["_llm"] = llm
    if cost_cents is not None:
        metadata["_cost"] = cost(cost_cents)
    return metadata


def cost(cents: float | Decimal | int) -> dict[str, Any]:
    """The ``_cost`` metadata Polar's cost insights read: an amount in cents, in usd."""
    amount = float(cents) if isinstance(cents, Decimal) else cents
    return _valid_cost({"amount": amount, "currency": "usd"})


# -- the outbox --------------------------------------------------------------------------------


def pending_events() -> models.QuerySet[UsageEvent]:
    """Usage events Polar has not acknowledged yet, oldest first."""
    return UsageEvent.objects.filter(ingested_at__isnull=True).order_by("timestamp", "pk")


def _due(now: datetime) -> models.Q:
    free = models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lt=now)
    ready = models.Q(next_attempt_at__isnull=True) | models.Q(next_attempt_at__lte=now)
    return models.Q(ingested_at__isnull=True) & free & ready


def claim(limit: int, *, now: datetime | None = None) -> list[UsageEvent]:
    """Take up to ``limit`` due rows for this flusher, oldest first.

    On PostgreSQL the candidates are locked with ``SKIP LOCKED`` so a concurrent flusher
    takes others; everywhere, the claim re-checks that the row is still free, so a row
    is only ever owned by one flusher at a time.
    """
    now = now or timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        candidates = UsageEvent.objects.filter(_due(now)).order_by("pk")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        UsageEvent.objects.filter(_due(now), pk__in=ids).update(
            claim=token, claimed_until=now + CLAIM_LEASE
        )
    return list(UsageEvent.objects.filter(claim=token).order_by("pk"))


@dataclass
class FlushReport:
    """What one flush did. ``retry_at``: when to try again (Polar refused or failed)."""

    sent: int = 0
    calls: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    waiting: int = 0
    failed: int = 0
    retry_at: datetime | None = None
    errors: list[str] = field(default_factory=list)


class _Stop(Exception):
    """Polar is failing or throttling: end this run, retry the rows at ``retry_at``."""

    def __init__(self, retry_at: datetime, wait: float | None = None) -> None:
        self.retry_at = retry_at
        self.wait = wait


def flush(
    *,
    batch_size: int = MAX_INGEST_BATCH,
    limit: int | None = None,
    deadline: float = FLUSH_DEADLINE,
    sleep: Any = time.sleep,
) -> FlushReport:
    """Send every due row, ``batch_size`` per request, until none is left, Polar fails, or
    ``limit`` rows were sent. Never raises for Polar's errors: they are recorded on the rows
    (``attempts``, ``last_error``) and in the report. A 429 pauses for its ``Retry-After``
    while the run stays under ``deadline`` seconds, then ends with ``retry_at``."""
    batch_size = max(1, min(batch_size, MAX_INGEST_BATCH))
    report = FlushReport()
    started = time.monotonic()
    client = get_client()
    while limit is None or report.sent < limit:
        size = batch_size if limit is None else min(batch_size, limit - report.sent)
        batch = claim(size)
        if not batch:
            break
        try:
            batch = _with_customers(batch, report)
            if batch:
                _send(client, batch, report)
        except _Stop as stop:
            _release(batch)
            if stop.wait is not None and time.monotonic() - started + stop.wait < deadline:
                sleep(stop.wait)
                continue
            report.retry_at = stop.retry_at
            break
    return report


def _release(batch: list[UsageEvent]) -> None:
    UsageEvent.objects.filter(
        pk__in=[e.pk for e in batch], claim__in={e.claim for e in batch}
    ).update(claim=None, claimed_until=None)


def _with_customers(batch: list[UsageEvent], report: FlushReport) -> list[UsageEvent]:
    """Create the Polar customer of billables that have none, before their events go out
    (Polar only meters events of a known customer). Rows whose customer cannot be created
    wait, with the reason in ``last_error``; the others are returned."""
    wanted = {e.external_customer_id for e in batch if e.external_customer_id}
    known = dict(
        Customer.objects.live().filter(external_id__in=wanted).values_list("external_id", "pk")
    )
    missing = wanted - set(known)
    held: dict[str, str] = {}
    if missing:
        for external_id, billable in billables_from_external_ids(missing).items():
            create = getattr(billable, "get_or_create_polar_customer", None)
            if create is None:  # a BillableIdentity without the mixin: send as is
                continue
            try:
                known[external_id] = create().pk
            except (PolarValidationError, CustomerConflictError) as exc:
                held[external_id] = f"Waiting for a Polar customer: {exc}"
            except PolarError as exc:  # Polar is down: the whole run waits
                reason = f"Creating the Polar customer failed: {exc}"
                _fail(batch, reason, retry=False)
                report.failed += len(batch)
                report.errors.append(reason)
                raise _Stop(timezone.now() + backoff(max(e.attempts for e in batch) + 1)) from None
    if held:
        now = timezone.now()
        for external_id, reason in held.items():
            rows = [e for e in batch if e.external_customer_id == external_id]
            attempts = max(e.attempts for e in rows) + 1
            UsageEvent.objects.filter(pk__in=[e.pk for e in rows]).update(
                attempts=models.F("attempts") + 1,
                last_error=reason[:2000],
                next_attempt_at=now + backoff(attempts),
                claim=None,
                claimed_until=None,
            )
            report.waiting += len(rows)
            report.errors.append(reason)
    for external_id, pk in known.items():
        unlinked = [
            e.pk for e in batch if e.external_customer_id == external_id and not e.customer_id
        ]
        if unlinked:
            UsageEvent.objects.filter(pk__in=unlinked).update(customer_id=pk)
    return [e for e in batch if e.external_customer_id not in held]


def _body(event: UsageEvent) -> dict[str, Any]:
    return {
        "name": event.name,
        "external_customer_id": event.external_customer_id,
        "external_id": str(event.external_id),
        "timestamp": event.timestamp.isoformat(),
        "metadata": event.metadata,
    }


def _send(client: Any, batch: list[UsageEvent], report: FlushReport) -> None:
    """One ``POST /v1/events/ingest`` for ``batch``; a 422 sets the named rows aside (they
    wait with Polar's reason and back off) and sends the others again."""
    sent_at = timezone.now()  # ingested_at: when the acknowledged request went out
    try:
        answer = client.ingest_events([_body(e) for e in batch]) or {}
    except PolarValidationError as exc:
        bad = _rejected(exc, batch)
        if not bad and len(batch) > 1:  # no row named: halve until the bad one is alone
            half = len(batch) // 2
            _send(client, batch[:half], report)
            _send(client, batch[half:], report)
            return
        bad = bad or batch
        _fail(bad, str(exc), retry=True)
        report.rejected += len(bad)
        report.errors.append(str(exc))
        rest = [e for e in batch if e not in bad]
        if rest:
            _send(client, rest, report)
        return
    except PolarRateLimitError as exc:
        wait = float(exc.retry_after or 60)
        _fail(batch, str(exc), retry=False)
        report.failed += len(batch)
        report.errors.append(str(exc))
        raise _Stop(timezone.now() + timedelta(seconds=wait), wait) from None
    except PolarError as exc:  # 5xx, network, authentication: Polar cannot take them now
        _fail(batch, str(exc), retry=False)
        report.failed += len(batch)
        report.errors.append(str(exc))
        raise _Stop(timezone.now() + backoff(max(e.attempts for e in batch) + 1)) from None
    inserted = int(answer.get("inserted") or 0)
    duplicates = int(answer.get("duplicates") or 0)
    with transaction.atomic():
        UsageEvent.objects.filter(pk__in=[e.pk for e in batch]).update(
            ingested_at=sent_at,
            attempts=models.F("attempts") + 1,
            last_error="",
            next_attempt_at=None,
            claim=None,
            claimed_until=None,
        )
        UsageIngest.objects.create(events=len(batch), inserted=inserted, duplicates=duplicates)
    report.calls += 1
    report.sent += len(batch)
    report.inserted += inserted
    report.duplicates += duplicates


def _rejected(exc: PolarValidationError, batch: list[UsageEvent]) -> list[UsageEvent]:
    """The rows a 422 names: ``loc`` is ``["body", "events", <index>, ...]``."""
    indices = set()
    for error in exc.errors:
        loc = list(error.get("loc") or [])
        if len(loc) >= 3 and loc[:2] == ["body", "events"] and isinstance(loc[2], int):
            indices.add(loc[2])
    return [batch[i] for i in sorted(indices) if i < len(batch)]


def _fail(rows: list[UsageEvent], error: str, *, retry: bool) -> None:
    """Record a failed attempt; ``retry``: this row (not Polar) is the problem, so it
    backs off on its own while the others keep flowing."""
    logger.warning("Sending %d usage event(s) to Polar failed: %s", len(rows), error)
    values: dict[str, Any] = {
        "attempts": models.F("attempts") + 1,
        "last_error": error[:2000],
        "claim": None,
        "claimed_until": None,
    }
    if retry:
        attempts = max(e.attempts for e in rows) + 1
        values["next_attempt_at"] = timezone.now() + backoff(attempts)
    UsageEvent.objects.filter(pk__in=[e.pk for e in rows]).update(**values)


# -- meters and credits ------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterBalance:
    """One meter of a billable, from the mirrored customer state plus local usage.

    ``consumed``/``credited``/``balance`` are Polar's as of the state; ``unsent`` is what
    was recorded here since (not in Polar's figures yet); ``available`` subtracts it.
    """

    meter_id: str
    name: str
    consumed: float
    credited: float
    balance: float
    unsent: float = 0.0

    @property
    def available(self) -> float:
        return self.balance - self.unsent

    def as_dict(self) -> dict[str, Any]:
        return {
            "meter_id": self.meter_id,
            "name": self.name,
            "consumed_units": self.consumed,
            "credited_units": self.credited,
            "balance": self.balance,
        }


def meter_names() -> dict[str, str]:
    """Meter id -> name: mirrored meters, then the metered prices of the catalog."""
    rows = Price.objects.filter(amount_type="metered_unit").values_list(
        "data__meter__id", "data__meter__name"
    )
    names = {str(meter_id): name or "" for meter_id, name in rows if meter_id}
    names.update({str(pk): name for pk, name in Meter.objects.values_list("pk", "name")})
    return names


def meters_of(customer: Customer | None) -> list[dict[str, Any]]:
    """Usage meters from the last mirrored customer state (``active_meters``), as dicts."""
    return [m.as_dict() for m in balances(customer)]


def balances(customer: Customer | None) -> list[MeterBalance]:
    raw = ((customer.data or {}).get("active_meters") or []) if customer else []
    names = meter_names() if raw else {}
    return [
        MeterBalance(
            meter_id=str(m.get("meter_id")),
            name=names.get(str(m.get("meter_id")), ""),
            consumed=float(m.get("consumed_units") or 0),
            credited=float(m.get("credited_units") or 0),
            balance=float(m.get("balance") or 0),
        )
        for m in raw
        if isinstance(m, dict) and m.get("meter_id")
    ]


def refresh(billable: Billable) -> Customer | None:
    """Fetch the customer state (meters, grants) and the meter definitions from Polar."""
    customer = billable.polar_customer
    if customer is None:
        return None
    client = get_client()
    for data in client.list_meters():
        mirror.upsert_meter(data)
    fetched_at = timezone.now()
    return mirror.apply_customer_state(
        client.get_customer_state(str(customer.pk)), event_time=fetched_at
    )


def meters(billable: Billable, *, refresh_state: bool = False) -> list[MeterBalance]:
    """The billable's meters with what was recorded locally since the state."""
    customer = refresh(billable) if refresh_state else billable.polar_customer
    found = balances(customer)
    if not found:
        return []
    definitions = {str(m.pk): m for m in Meter.objects.filter(pk__in=[b.meter_id for b in found])}
    if len(definitions) < len(found):  # a meter never seen: one request, then mirrored
        for data in get_client().list_meters():
            meter = mirror.upsert_meter(data)
            definitions[str(meter.pk)] = meter
    events = list(_unsent_events(billable, customer))
    return [
        MeterBalance(**{**b.__dict__, "unsent": _units(definitions.get(b.meter_id), events)})
        for b in found
    ]


def meter(
    billable: Billable, name_or_id: str, *, refresh_state: bool = False
) -> MeterBalance | None:
    """One meter by its Polar id or its name (None when the billable has no such meter)."""
    wanted = str(name_or_id)
    for balance in meters(billable, refresh_state=refresh_state):
        if wanted in (balance.meter_id, balance.name):
            return balance
    return None


def has_credits(billable: Billable, meter_name_or_id: str, units: float = 1) -> bool:
    """Whether ``units`` more fit in the meter's balance (Polar does not block usage past
    it: the app must). Reads the mirror; no Polar call per check."""
    balance = meter(billable, meter_name_or_id)
    return balance is not None and balance.available >= units


def _unsent_events(billable: Billable, customer: Customer | None) -> models.QuerySet[UsageEvent]:
    """Events recorded here that the customer state does not count yet: unsent ones, and
    those sent after the state was true."""
    qs = UsageEvent.objects.filter(external_customer_id=billable.get_polar_external_id())
    state_at = customer.state_at if customer else None
    if state_at is None:
        return qs.filter(ingested_at__isnull=True)
    return qs.filter(models.Q(ingested_at__isnull=True) | models.Q(ingested_at__gt=state_at))


def _units(meter: Meter | None, events: list[UsageEvent]) -> float:
    """Apply a Polar meter (its filter and aggregation) to local events, with the
    emulator's evaluator of Polar's meter rules (pure functions, no Django)."""
    if meter is None:
        return 0.0
    data = meter.data or {}
    filt = data.get("filter") or {"conjunction": "and", "clauses": []}
    shaped = [
        {
            "name": e.name,
            "timestamp": e.timestamp.isoformat(),
            "source": "user",
            "metadata": e.metadata or {},
        }
        for e in events
    ]
    hits = [e for e in shaped if meter_rules.matches(filt, e)]
    return meter_rules.aggregate(data.get("aggregation") or {"func": "count"}, hits)
