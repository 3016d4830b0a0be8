"""The sync engine: rebuild and repair the mirror from Polar's list endpoints.

Webhooks get lost (a disabled endpoint, a broken deploy, an app installed on an existing
organization), so every mirror table can be rebuilt from the API:

    from django_polar.sync import Syncer
    results = Syncer(prune=True).run(["products", "customers"])

How it stays fast and safe:

* Page 1 of a list tells ``max_page``; the other pages are fetched by a small thread pool
  over the shared, thread-safe client, at most ``max_in_flight`` pages at a time (memory
  does not grow with the number of objects).
* A ``Pacer`` (``pacing``) spaces request starts so the run stays under Polar's 300 requests/minute;
  a 429 that outlives the client's own retries pauses every worker for ``Retry-After``.
* Only the calling thread writes: each page goes through ``mirror.upsert_many`` (the same
  version guard as webhooks, so a sync never overwrites a newer webhook) in its own
  transaction. Ctrl-C rolls back the page being written and nothing else.
* A page whose bulk write fails is replayed object by object under savepoints, so one bad
  object is counted as failed and the rest of the page is still written.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from . import mirror
from .client import PAGE_LIMIT, PolarClient, get_client
from .errors import (
    PolarAuthenticationError,
    PolarError,
    PolarNetworkError,
    PolarNotFoundError,
    PolarRateLimitError,
    PolarServerError,
    StoredRowMissing,
    redact,
)
from .mirror import UpsertCounts, archive_missing, version_of
from .models import Benefit, BenefitGrant, Customer, Order, Price, Product, Refund, Subscription
from .models.convert import as_uuid

# Pacing lives in ``pacing`` (reconcile shares it); these names are importable from here too.
from .pacing import DEFAULT_CONCURRENCY, DEFAULT_RATE_PER_MINUTE, Pacer, fetch_concurrently

logger = logging.getLogger("django_polar.sync")

J = TypeVar("J")
R = TypeVar("R")

#: How often one page is retried by the engine after the client gave up on it.
PAGE_ATTEMPTS = 3
#: Error messages kept per kind (the counts are always complete).
MAX_ERRORS_KEPT = 20


@dataclass(frozen=True)
class Kind:
    """One syncable Polar list: where it lives and which mirror function applies it."""

    name: str
    path: str
    mirror_kind: str
    prunable: bool = False


SYNC_KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("benefits", "/v1/benefits/", "benefit", prunable=True),
        Kind("products", "/v1/products/", "product", prunable=True),
        Kind("customers", "/v1/customers/", "customer"),
        Kind("subscriptions", "/v1/subscriptions/", "subscription"),
        Kind("orders", "/v1/orders/", "order"),
        Kind("refunds", "/v1/refunds/", "refund"),
        Kind("benefit-grants", "/v1/benefit-grants/", "benefit_grant"),
        Kind("members", "/v1/members/", "member"),
        # Not a paged list: one GET /v1/customer-seats per mirrored seat-based subscription.
        Kind("seats", "/v1/customer-seats", "seat"),
    )
}
#: ``polar_sync all`` order: what others point at comes first (fewer nested upserts).
ALL_KINDS: tuple[str, ...] = tuple(SYNC_KINDS)
#: ``polar_sync`` without arguments: the catalog (products carry their prices and benefits).
DEFAULT_KINDS: tuple[str, ...] = ("benefits", "products")


def resolve_kinds(names: Iterable[str]) -> list[str]:
    """Validate kind names (``all`` expands), keeping dependency order, no duplicates."""
    wanted: set[str] = set()
    for name in names:
        name = name.strip().lower().replace("_", "-")
        if name == "all":
            wanted.update(ALL_KINDS)
        elif name in SYNC_KINDS:
            wanted.add(name)
        else:
            raise ValueError(f"unknown kind {name!r}; choose from {', '.join(ALL_KINDS)} or 'all'")
    return [name for name in ALL_KINDS if name in wanted] or list(DEFAULT_KINDS)


_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_SINCE_DAYS = 36_500


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """``--since``: an ISO date/datetime (UTC when naive) or a span back from now (``36h``)."""
    match = _RELATIVE.match(value)
    if match:
        amount, unit = match.groups()
        try:
            return (now or timezone.now()) - timedelta(**{_UNITS[unit]: int(amount)})
        except OverflowError:  # 99999999999d: before year 1
            raise ValueError(
                f"--since {value[:30]!r} reaches back before year 1; give a span of at most "
                f"{MAX_SINCE_DAYS} days, or a date"
            ) from None
    parsed = parse_datetime(value.strip())
    if parsed is None:
        day = parse_date(value.strip())
        if day is not None:
            parsed = datetime(day.year, day.month, day.day)
    if parsed is None:
        raise ValueError(
            f"--since {value!r} is neither a date (2026-10-01), a datetime "
            "(2026-10-01T12:00:00Z) nor a span such as 30m, 12h, 7d or 2w"
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def _item_time(item: dict[str, Any]) -> datetime | None:
    """The object's version for ``--since``, aware like ``since`` (the mirror's own rule)."""
    return version_of(item)


@dataclass
class KindResult:
    """What one kind's run did. ``failed`` counts objects (including those on lost pages)."""

    kind: str
    total: int = 0
    pages: int = 0
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_older: int = 0
    filtered: int = 0
    failed: int = 0
    pruned: int = 0
    api_calls: int = 0
    elapsed: float = 0.0
    #: Seconds the calling thread spent writing pages (the rest it waited for Polar).
    write_seconds: float = 0.0
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def written(self) -> int:
        return self.created + self.updated + self.pruned

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.errors and not self.interrupted

    def note_error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(redact(message))
        logger.warning("polar sync %s: %s", self.kind, redact(message))

    def add_counts(self, counts: Any) -> None:
        self.created += _count(counts, "created")
        self.updated += _count(counts, "updated")
        self.unchanged += _count(counts, "unchanged")
        self.skipped_older += _count(counts, "skipped_older", "skipped")
        self.failed += _count(counts, "failed")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fetched": self.fetched,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped_older": self.skipped_older,
            "filtered": self.filtered,
            "failed": self.failed,
            "pruned": self.pruned,
            "api_calls": self.api_calls,
            "elapsed": round(self.elapsed, 3),
            "write_seconds": round(self.write_seconds, 3),
        }


def _count(counts: Any, *names: str) -> int:
    """Read a count from upsert_many's result, whether a mapping or an object."""
    for name in names:
        value = counts.get(name) if isinstance(counts, dict) else getattr(counts, name, None)
        if value is not None:
            return int(value)
    return 0


def _expected_items(page: int, total: int, limit: int) -> int:
    return max(0, min(limit, total - (page - 1) * limit))


class _PageLost(Exception):
    """A page could not be fetched after every retry."""

    def __init__(self, page: int, cause: PolarError) -> None:
        super().__init__(f"page {page}: {cause}")
        self.page = page
        self.cause = cause


class Syncer:
    """Runs kinds one after another with one pacer, one client and one thread pool size.

    ``results`` is filled as kinds finish (and holds the partial kind after Ctrl-C), so a
    caller can always print what was done.
    """

    def __init__(
        self,
        *,
        client: PolarClient | None = None,
        rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_in_flight: int | None = None,
        since: datetime | None = None,
        prune: bool = False,
        dry_run: bool = False,
        page_limit: int = PAGE_LIMIT,
        on_progress: Callable[[KindResult], None] | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = client or get_client()
        self.pacer = pacer or Pacer(rate_per_minute)
        self.concurrency = concurrency
        self.max_in_flight = max(max_in_flight or 2 * concurrency, concurrency)
        self.since = since
        self.prune = prune
        self.dry_run = dry_run
        self.page_limit = page_limit
        self.on_progress = on_progress
        self._sleep = sleep
        self._calls_lock = threading.Lock()
        self.results: list[KindResult] = []

    # -- the run ----------------------------------------------------------------------------

    def run(self, kinds: Iterable[str]) -> list[KindResult]:
        for name in resolve_kinds(kinds):
            self.sync_kind(name)
        return self.results

    def sync_kind(self, name: str) -> KindResult:
        """Fetch every page of one kind and apply it; per-object failures are counted."""
        kind = SYNC_KINDS[name]
        result = KindResult(kind=name)
        self.results.append(result)
        if name == "seats":
            return self._sync_seats(kind, result)
        seen: set[str] | None = set() if self.prune and kind.prunable else None
        listed_from = timezone.now()
        try:
            try:
                first = self._fetch(kind, 1, result)
            except _PageLost as lost:
                if isinstance(lost.cause, PolarAuthenticationError):
                    raise lost.cause from None
                result.note_error(f"could not list {name}: {lost.cause}")
                result.failed += 1
                return result
            pagination = first.get("pagination") or {}
            result.total = int(pagination.get("total_count") or 0)
            result.pages = int(pagination.get("max_page") or 0)
            self._apply(kind, first.get("items") or [], result, seen)
            del first
            pages_lost = self._fetch_rest(kind, result, seen)
            if seen is not None:
                if pages_lost or result.failed:
                    result.note_error("not pruned: some pages or objects failed")
                else:
                    self._prune(kind, seen, result, listed_from)
        except KeyboardInterrupt:
            result.interrupted = True
            self.pacer.stop()
            raise
        finally:
            result.elapsed = time.monotonic() - result.started
            self._progress(result)
        return result

    def _fetch_rest(self, kind: Kind, result: KindResult, seen: set[str] | None) -> int:
        """Pages 2..max_page, concurrently, at most ``max_in_flight`` held at once."""
        lost = 0
        finished = fetch_concurrently(
            range(2, result.pages + 1),
            lambda page: self._fetch(kind, page, result),
            concurrency=self.concurrency,
            max_in_flight=self.max_in_flight,
            name=f"polar-sync-{kind.name}",
        )
        for page, future in finished:
            try:
                body = future.result()
            except _PageLost as exc:
                lost += 1
                result.failed += _expected_items(page, result.total, self.page_limit)
                result.note_error(f"page {page} of {kind.name} lost: {exc.cause}")
                continue
            self._apply(kind, body.get("items") or [], result, seen)
        return lost

    # -- fetching (worker threads; never touches the database) ------------------------------

    def _sync_seats(self, kind: Kind, result: KindResult) -> KindResult:
        """The seats of every mirrored seat-based subscription (Polar lists seats per
        subscription only); a subscription whose list fails is counted and skipped."""
        subscription_ids = list(
            Subscription.objects.filter(seats__isnull=False).values_list("pk", flat=True)
        )
        try:
            for subscription_id in subscription_ids:
                self.pacer.acquire()
                result.api_calls += 1
                try:
                    body = self.client.list_seats(str(subscription_id))
                except PolarAuthenticationError:
                    raise
                except PolarError as exc:
                    result.note_error(f"seats of subscription {subscription_id}: {exc}")
                    result.failed += 1
                    continue
                items = [s for s in body.get("seats") or [] if isinstance(s, dict)]
                result.total += len(items)
                self._apply(kind, items, result, None)
        finally:
            result.elapsed = time.monotonic() - result.started
            self._progress(result)
        return result

    def _fetch(self, kind: Kind, page: int, result: KindResult) -> dict[str, Any]:
        for attempt in range(1, PAGE_ATTEMPTS + 1):
            self.pacer.acquire()
            with self._calls_lock:
                result.api_calls += 1
            try:
                return self.client.get_page(kind.path, page=page, limit=self.page_limit)
            except PolarRateLimitError as exc:
                # The client already waited and retried; slow every worker down.
                wait_for = exc.retry_after if exc.retry_after is not None else float(attempt)
                self.pacer.pause(wait_for)
                if attempt == PAGE_ATTEMPTS:
                    raise _PageLost(page, exc) from None
            except (PolarServerError, PolarNetworkError) as exc:
                if attempt == PAGE_ATTEMPTS:
                    raise _PageLost(page, exc) from None
                self._sleep(min(2.0**attempt, 30.0))
            except PolarError as exc:  # 4xx other than 429: retrying cannot help
                raise _PageLost(page, exc) from None
            except ValueError as exc:  # a body that is not JSON
                raise _PageLost(page, PolarError(f"unreadable answer: {exc}")) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- writing (calling thread only) ------------------------------------------------------

    def _apply(
        self, kind: Kind, items: list[dict[str, Any]], result: KindResult, seen: set[str] | None
    ) -> None:
        started = time.monotonic()
        result.fetched += len(items)
        if seen is not None:
            seen.update(str(item.get("id")) for item in items)
        valid = [item for item in items if as_uuid(item.get("id")) is not None]
        if len(valid) < len(items):
            result.failed += len(items) - len(valid)
            result.note_error(f"{len(items) - len(valid)} object(s) without a valid Polar id")
            items = valid
        if self.since is not None:
            kept = [item for item in items if (_item_time(item) or self.since) >= self.since]
            result.filtered += len(items) - len(kept)
            items = kept
        if items:
            try:
                with transaction.atomic():
                    counts = self._write_checked(kind, items)
                    if self.dry_run:
                        transaction.set_rollback(True)
                result.add_counts(counts)
            except Exception:
                logger.info("bulk write of a %s page failed; retrying one by one", kind.name)
                self._apply_one_by_one(kind, items, result)
        result.write_seconds += time.monotonic() - started
        self._progress(result)

    def write_page(self, kind: Kind, items: list[dict[str, Any]]) -> Any:
        """Write one page (inside its transaction); subclasses may wrap it to look closer."""
        return mirror.upsert_many(kind.mirror_kind, items)

    def _write_checked(self, kind: Kind, items: list[dict[str, Any]]) -> Any:
        """``write_page``, then make sure every object really has its row.

        Whatever the mirror reports, an object of the page without a row afterwards (a
        database that silently skipped an insert) makes the write fail, so the page is
        replayed one by one and the culprit counted as failed instead of lost quietly.
        """
        counts = self.write_page(kind, items)
        ids = {as_uuid(item.get("id")) for item in items}
        model = mirror.KINDS[kind.mirror_kind]
        valid = [pk for pk in ids if pk is not None]  # as Django's __in would drop None
        stored = set(model._default_manager.filter(pk__in=valid).values_list("pk", flat=True))
        if len(stored) < len(ids):
            missing = ", ".join(sorted(str(pk) for pk in ids - stored)[:5])
            raise StoredRowMissing(f"not stored by the database: {missing}")
        return counts

    def _apply_one_by_one(
        self, kind: Kind, items: list[dict[str, Any]], result: KindResult
    ) -> None:
        with transaction.atomic():
            for item in items:
                try:
                    with transaction.atomic():
                        counts = self._write_checked(kind, [item])
                    result.add_counts(counts)
                except Exception as exc:
                    result.failed += 1
                    result.note_error(
                        f"{kind.mirror_kind} {item.get('id', '?')}: {type(exc).__name__}: {exc}"
                    )
            if self.dry_run:
                transaction.set_rollback(True)

    def _prune(self, kind: Kind, seen: set[str], result: KindResult, listed_from: datetime) -> None:
        """Mark catalog rows that Polar no longer lists as archived (never delete history),
        through the mirror; rows a webhook wrote since the listing began are kept."""
        result.pruned = archive_missing(
            kind.mirror_kind, seen, dry_run=self.dry_run, unchanged_since=listed_from
        )

    def _progress(self, result: KindResult) -> None:
        if self.on_progress is not None:
            result.elapsed = time.monotonic() - result.started
            self.on_progress(result)


# -- refreshing chosen rows (the admin's "re-sync from Polar") -------------------------------


@dataclass
class RefreshReport(UpsertCounts):
    """What re-fetching some rows did: the mirror's counts (created, updated, unchanged,
    skipped_older, failed), plus objects gone from Polar and errors."""

    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add_counts(self, counts: UpsertCounts) -> None:
        for counter in fields(UpsertCounts):
            setattr(self, counter.name, getattr(self, counter.name) + getattr(counts, counter.name))


def _refetch_plan(
    model: type, rows: Iterable[Any]
) -> list[tuple[str, Callable[[PolarClient], list[dict[str, Any]]], str]]:
    """(mirror kind, fetch, label) per API call needed to refresh ``rows`` of ``model``."""

    def one(getter: str, pk: Any) -> Callable[[PolarClient], list[dict[str, Any]]]:
        return lambda client: [getattr(client, getter)(str(pk))]

    def grants_of(
        customer_id: Any, wanted: set[str]
    ) -> Callable[[PolarClient], list[dict[str, Any]]]:
        def fetch(client: PolarClient) -> list[dict[str, Any]]:
            grants = client.list_benefit_grants(customer_id=str(customer_id))
            return [grant for grant in grants if str(grant.get("id")) in wanted]

        return fetch

    def refund(pk: Any) -> Callable[[PolarClient], list[dict[str, Any]]]:
        def fetch(client: PolarClient) -> list[dict[str, Any]]:
            # Polar has no GET /v1/refunds/{id}; the list filters by ``id``
            # (refund/endpoints.py). Keep only that refund all the same: a page of other
            # refunds must never be mirrored as this one.
            items = client.get_page("/v1/refunds/", id=str(pk))["items"]
            return [item for item in items if str(item.get("id")) == str(pk)]

        return fetch

    simple = {
        Customer: ("customer", "get_customer"),
        Product: ("product", "get_product"),
        Benefit: ("benefit", "get_benefit"),
        Subscription: ("subscription", "get_subscription"),
        Order: ("order", "get_order"),
    }
    if model in simple:
        kind, getter = simple[model]
        return [(kind, one(getter, row.pk), f"{kind} {row.pk}") for row in rows]
    if model is Price:
        product_ids = sorted({str(row.product_id) for row in rows})
        return [("product", one("get_product", pk), f"product {pk}") for pk in product_ids]
    if model is Refund:
        return [("refund", refund(row.pk), f"refund {row.pk}") for row in rows]
    if model is BenefitGrant:
        by_customer: dict[str, set[str]] = {}
        for row in rows:
            by_customer.setdefault(str(row.customer_id), set()).add(str(row.pk))
        return [
            ("benefit_grant", grants_of(customer, wanted), f"grants of customer {customer}")
            for customer, wanted in sorted(by_customer.items())
        ]
    raise ValueError(f"{model.__name__} rows cannot be refreshed from Polar")


def refresh_rows(
    model: type, rows: Iterable[Any], *, client: PolarClient | None = None
) -> RefreshReport:
    """Fetch each row's object from Polar again and apply it through the mirror (guarded)."""
    client = client or get_client()
    report = RefreshReport()
    for kind, fetch, label in _refetch_plan(model, list(rows)):
        try:
            items = fetch(client)
        except PolarNotFoundError:
            report.missing.append(label)
            continue
        except PolarError as exc:
            report.errors.append(redact(f"{label}: {exc}"))
            continue
        if not items:
            report.missing.append(label)
            continue
        try:
            with transaction.atomic():
                report.add_counts(mirror.upsert_many(kind, items))
        except Exception as exc:
            report.errors.append(redact(f"{label}: {type(exc).__name__}: {exc}"))
    return report
