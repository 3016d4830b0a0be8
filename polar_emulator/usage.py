"""Usage billing: ingested events, meters (filter + aggregation), customer meter balances."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import invalid
from .store import iso, parse_iso
from .validation import Body, check_metadata, query_datetime

INTERVALS = ("year", "month", "week", "day", "hour")
AGGREGATIONS = ("count", "sum", "max", "min", "avg", "unique")

if TYPE_CHECKING:
    from .core import Emulator


def _value(event: dict[str, Any], prop: str) -> Any:
    if prop == "name":
        return event["name"]
    if prop in ("timestamp", "source"):
        return event[prop]
    path = prop.removeprefix("metadata.")
    return event["metadata"].get(path)


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None:
        return op == "ne"
    if op in ("eq", "ne"):
        same = (
            str(left) == str(right)
            if isinstance(left, str) or isinstance(right, str)
            else left == right
        )
        return same if op == "eq" else not same
    if op in ("like", "not_like"):
        hit = str(right).strip("%").lower() in str(left).lower()
        return hit if op == "like" else not hit
    try:
        a, b = float(left), float(right)
    except (TypeError, ValueError):
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def check_event_metadata(value: Any, loc: list[Any]) -> dict[str, Any]:
    """event/schemas.py ``EventMetadataInput``: any key with a ``MetadataValue`` (a string of
    1..500 characters, an integer, a number or a boolean), plus the structured ``_cost``
    ({amount: decimal, currency: "usd"}) and ``_llm`` (vendor, model, token counts)."""
    if not isinstance(value, dict):
        raise invalid(loc, "Input should be a valid dictionary", "dict_type")
    plain = {k: v for k, v in value.items() if k not in ("_cost", "_llm")}
    # The 50-key cap of ordinary metadata does not apply (a TypedDict, not MetadataField).
    for key, item in plain.items():
        check_metadata({key: item}, loc)
    if "_cost" in value:
        cost = Body(value["_cost"], (*loc, "_cost"))
        amount = cost.get("amount", required=True)
        try:
            if isinstance(amount, bool):
                raise InvalidOperation
            number = Decimal(str(amount))
            if not number.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            raise invalid(
                [*loc, "_cost", "amount"], "Input should be a valid decimal", "decimal_parsing"
            ) from None
        digits = number.as_tuple()
        places = max(-int(digits.exponent), 0)
        if places > 12:
            raise invalid(
                [*loc, "_cost", "amount"],
                "Decimal input should have no more than 12 decimal places",
                "decimal_max_places",
            )
        if len(digits.digits) > 17:
            raise invalid(
                [*loc, "_cost", "amount"],
                "Decimal input should have no more than 17 digits in total",
                "decimal_max_digits",
            )
        currency = cost.str("currency", required=True, nullable=False)
        if "usd" not in currency:  # Field(pattern="usd"): a regex search
            raise invalid(
                [*loc, "_cost", "currency"],
                "String should match pattern 'usd'",
                "string_pattern_mismatch",
            )
    if "_llm" in value:
        llm = Body(value["_llm"], (*loc, "_llm"))
        llm.str("vendor", required=True, nullable=False)
        llm.str("model", required=True, nullable=False)
        llm.str("prompt")
        llm.str("response")
        for field in ("input_tokens", "output_tokens", "total_tokens"):
            if llm.int(field, required=True) is None:
                raise invalid([*loc, "_llm", field], "Input should be a valid integer", "int_type")
        llm.int("cached_input_tokens")
    return dict(value)


def truncate(moment: datetime, interval: str) -> datetime:
    """PostgreSQL's date_trunc for meter quantity buckets (meter/service.py)."""
    moment = moment.replace(minute=0, second=0, microsecond=0)
    if interval == "hour":
        return moment
    moment = moment.replace(hour=0)
    if interval == "week":
        return moment - timedelta(days=moment.weekday())
    if interval == "month":
        return moment.replace(day=1)
    if interval == "year":
        return moment.replace(month=1, day=1)
    return moment


def next_bucket(moment: datetime, interval: str) -> datetime:
    if interval == "hour":
        return moment + timedelta(hours=1)
    if interval == "day":
        return moment + timedelta(days=1)
    if interval == "week":
        return moment + timedelta(weeks=1)
    if interval == "month":
        year, month = divmod(moment.month, 12)
        return moment.replace(year=moment.year + year, month=month + 1)
    return moment.replace(year=moment.year + 1)


def matches(filt: dict[str, Any], event: dict[str, Any]) -> bool:
    results = []
    for clause in filt["clauses"]:
        if "conjunction" in clause:
            results.append(matches(clause, event))
        else:
            results.append(
                _compare(clause["operator"], _value(event, clause["property"]), clause["value"])
            )
    if not results:
        return True
    return all(results) if filt["conjunction"] == "and" else any(results)


def aggregate(aggregation: dict[str, Any], events: list[dict[str, Any]]) -> float:
    func = aggregation["func"]
    if func == "count":
        return float(len(events))
    values = []
    for event in events:
        raw = _value(event, aggregation["property"])
        if func == "unique":
            values.append(raw)
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            continue
        values.append(float(raw))
    if func == "unique":
        return float(len({str(v) for v in values if v is not None}))
    if not values:
        return 0.0
    return {
        "sum": sum(values),
        "max": max(values),
        "min": min(values),
        "avg": sum(values) / len(values),
    }[func]


class Usage:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def ingest(self, data: Any) -> dict[str, int]:
        body = Body(data)
        raw = body.get("events", required=True)
        if not isinstance(raw, list):
            raise invalid(["body", "events"], "Input should be a valid list", "list_type")
        staged = []
        seen = {e["_external_id"] for e in self.st.events.values() if e.get("_external_id")}
        duplicates = 0
        now = self.emu.clock.now()
        for i, item in enumerate(raw):
            e = Body(item, ("body", "events", i))
            name = e.str("name", required=True, nullable=False, max_length=128)
            customer_id = e.uuid("customer_id")
            external_customer_id = e.str("external_customer_id")
            if customer_id is None and external_customer_id is None:
                raise invalid(["body", "events", i, "customer_id"], "Field required", "missing")
            customer = None
            if customer_id is not None:
                customer = self.st.customers.get(customer_id)
                if customer is None or customer["deleted_at"] is not None:
                    raise invalid(["body", "events", i, "customer_id"], "Customer does not exist.")
            else:
                customer = self.emu.customers.by_external_id(external_customer_id)
            timestamp = e.datetime("timestamp") or now
            if timestamp > now:
                raise invalid(["body", "events", i, "timestamp"], "Timestamp must be in the past.")
            external_id = e.str("external_id")
            if external_id is not None and external_id in seen:
                duplicates += 1
                continue
            if external_id is not None:
                seen.add(external_id)
            metadata = check_event_metadata(
                e.get("metadata") or {}, ["body", "events", i, "metadata"]
            )
            parent_ref = e.str("parent_id")
            staged.append(
                {
                    "id": self.st.new_id(),
                    "timestamp": iso(timestamp),
                    "organization_id": self.st.organization["id"],
                    "customer_id": customer["id"] if customer else None,
                    "external_customer_id": customer["external_id"]
                    if customer
                    else external_customer_id,
                    "member_id": None,
                    "external_member_id": None,
                    "child_count": 0,
                    "parent_id": None,
                    "_parent_ref": parent_ref,
                    "label": name,
                    "name": name,
                    "source": "user",
                    "metadata": metadata,
                    "_external_id": external_id,
                }
            )
        for event in staged:
            self.st.events[event["id"]] = event
        for event in staged:
            self._link_parent(event)
        for event in staged:
            customer = self.st.customers.get(event["customer_id"] or "")
            if customer is not None and customer["first_user_event_at"] is None:
                customer["first_user_event_at"] = event["timestamp"]
        touched = {e["customer_id"] for e in staged if e["customer_id"]}
        for customer_id in touched:
            for meter in self.st.meters.values():
                self.customer_meter(customer_id, meter["id"])
            self.emu.state_changed(customer_id)
        return {"inserted": len(staged), "duplicates": duplicates}

    def _link_parent(self, event: dict[str, Any]) -> None:
        """``parent_id`` at ingestion is a Polar event id or an event's ``external_id``;
        the stored event points at the parent's id, and the parent counts its children."""
        ref = event.get("_parent_ref")
        if not ref:
            return
        parent = self.st.events.get(ref) or next(
            (e for e in self.st.events.values() if e.get("_external_id") == ref), None
        )
        if parent is None or parent["id"] == event["id"]:
            return
        event["parent_id"] = parent["id"]
        parent["child_count"] = parent.get("child_count", 0) + 1

    def levels(self, anchor: str | None) -> dict[str, int]:
        """Event id -> depth under ``anchor`` (its children are 0), or under the root
        events (which are 0) when there is no anchor: the ``parent_id``/``depth`` filters."""
        children: dict[str | None, list[str]] = {}
        for e in self.st.events.values():
            children.setdefault(e.get("parent_id"), []).append(e["id"])
        out: dict[str, int] = {}
        frontier = [(i, 0) for i in children.get(anchor, [])]
        while frontier:
            event_id, level = frontier.pop()
            if event_id in out:
                continue
            out[event_id] = level
            frontier.extend((c, level + 1) for c in children.get(event_id, []))
        return out

    def names(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``EventName`` rows: one per (name, source), oldest first by last occurrence."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for e in events:
            row = rows.setdefault(
                (e["name"], e["source"]),
                {
                    "name": e["name"],
                    "label": e["label"],
                    "source": e["source"],
                    "occurrences": 0,
                    "first_seen": e["timestamp"],
                    "last_seen": e["timestamp"],
                },
            )
            row["occurrences"] += 1
            row["first_seen"] = min(row["first_seen"], e["timestamp"])
            row["last_seen"] = max(row["last_seen"], e["timestamp"])
        return sorted(rows.values(), key=lambda r: r["last_seen"])

    def quantities(self, meter_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """GET /v1/meters/{id}/quantities: the meter's aggregation per time bucket between
        ``start_timestamp`` and ``end_timestamp`` (buckets truncated in ``timezone``),
        and over the whole range."""
        params = {k: v[-1] for k, v in query.items() if v}
        errors = [n for n in ("start_timestamp", "end_timestamp", "interval") if n not in params]
        if errors:
            raise invalid(["query", errors[0]], "Field required", "missing")
        start = query_datetime(params, "start_timestamp")
        end = query_datetime(params, "end_timestamp")
        assert start is not None and end is not None  # both required, checked above
        interval = Body(params, ("query",)).choice("interval", INTERVALS, required=True)
        try:
            zone = ZoneInfo(params.get("timezone", "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid(["query", "timezone"], "Invalid timezone", "value_error") from None
        meter = self.st.meters[meter_id]
        wanted = set(query.get("customer_id") or [])
        external = set(query.get("external_customer_id") or [])
        events = [
            e
            for e in self.st.events.values()
            if matches(meter["filter"], e)
            and start <= parse_iso(e["timestamp"]) <= end
            and (
                (not wanted and not external)
                or e["customer_id"] in wanted
                or e["external_customer_id"] in external
            )
        ]
        buckets: list[dict[str, Any]] = []
        cursor = truncate(start.astimezone(zone), interval)
        while cursor <= end.astimezone(zone) and len(buckets) < 10000:
            upper = next_bucket(cursor, interval)
            inside = [
                e for e in events if cursor <= parse_iso(e["timestamp"]).astimezone(zone) < upper
            ]
            buckets.append(
                {"timestamp": iso(cursor), "quantity": aggregate(meter["aggregation"], inside)}
            )
            cursor = upper
        return {"quantities": buckets, "total": aggregate(meter["aggregation"], events)}

    # customer meters --------------------------------------------------------------
    def customer_meter(
        self, customer_id: str, meter_id: str, *, create: bool = True
    ) -> dict[str, Any] | None:
        for cm in self.st.customer_meters.values():
            if cm["customer_id"] == customer_id and cm["meter_id"] == meter_id:
                return cm
        if not create:
            return None
        now = iso(self.emu.clock.now())
        cm = {
            "id": self.st.new_id(),
            "created_at": now,
            "modified_at": None,
            "customer_id": customer_id,
            "meter_id": meter_id,
            "_reset_at": None,
            "_credited": 0,
        }
        self.st.customer_meters[cm["id"]] = cm
        return cm

    def consumed(self, customer_id: str, meter_id: str, since: str | None) -> float:
        meter = self.st.meters[meter_id]
        customer = self.st.customers.get(customer_id)
        start = parse_iso(since) if since else None
        events = [
            e
            for e in self.st.events.values()
            if (
                e["customer_id"] == customer_id
                or (
                    customer
                    and customer["external_id"]
                    and e["external_customer_id"] == customer["external_id"]
                )
            )
            and (start is None or parse_iso(e["timestamp"]) >= start)
            and matches(meter["filter"], e)
        ]
        return aggregate(meter["aggregation"], events)

    def period_usage(self, customer_id: str, meter_id: str) -> tuple[float, int]:
        cm = self.customer_meter(customer_id, meter_id, create=False)
        reset_at = cm["_reset_at"] if cm else None
        return self.consumed(customer_id, meter_id, reset_at), (cm["_credited"] if cm else 0)

    def credit(
        self, customer_id: str, meter_id: str, units: int, *, rollover: bool = False
    ) -> None:
        cm = self.customer_meter(customer_id, meter_id)
        assert cm is not None  # create=True: made when missing
        cm["_credited"] += units
        if rollover:
            cm["_credited_rollover"] = cm.get("_credited_rollover", 0) + units
        cm["modified_at"] = iso(self.emu.clock.now())

    def reset(self, customer_id: str, meter_id: str) -> None:
        cm = self.customer_meter(customer_id, meter_id)
        assert cm is not None  # create=True: made when missing
        cm["_reset_at"] = iso(self.emu.clock.now())
        cm["_credited"] = 0
        cm["_credited_rollover"] = 0
        cm["modified_at"] = cm["_reset_at"]

    def cycle_credit(
        self, customer_id: str, meter_id: str, units: int, *, rollover: bool, last_credited_at: str
    ) -> None:
        """A meter credit benefit's new cycle (benefit/strategies/meter_credit/service.py
        ``cycle``): unless billing already reset the meter since the last credit, the
        meter resets, and what is left of rollover credits (never more than the balance:
        customer_meter/service.py ``get_rollover_units``) is credited again; then the
        benefit's units are credited."""
        cm = self.customer_meter(customer_id, meter_id)
        assert cm is not None  # create=True: made when missing
        if cm["_reset_at"] is None or parse_iso(cm["_reset_at"]) < parse_iso(last_credited_at):
            consumed, credited = self.period_usage(customer_id, meter_id)
            carried = max(0, min(int(credited - consumed), cm.get("_credited_rollover", 0)))
            self.reset(customer_id, meter_id)
            if carried > 0:
                self.credit(customer_id, meter_id, carried, rollover=True)
        self.credit(customer_id, meter_id, units, rollover=rollover)

    def metered_amount(self, price: dict[str, Any], units: float) -> int:
        amount = (Decimal(str(max(units, 0))) * Decimal(price["unit_amount"])).quantize(
            Decimal(1), ROUND_HALF_UP
        )
        cap = price.get("cap_amount")
        return int(min(amount, cap)) if cap is not None else int(amount)

    def customer_meters(
        self, *, customer_id: str | None = None, meter_id: str | None = None
    ) -> list[dict[str, Any]]:
        out = []
        for cm in self.st.customer_meters.values():
            if customer_id and cm["customer_id"] != customer_id:
                continue
            if meter_id and cm["meter_id"] != meter_id:
                continue
            customer = self.st.customers.get(cm["customer_id"])
            if customer is None or customer["deleted_at"] is not None:
                continue
            consumed, credited = self.period_usage(cm["customer_id"], cm["meter_id"])
            out.append(
                {
                    "id": cm["id"],
                    "created_at": cm["created_at"],
                    "modified_at": cm["modified_at"],
                    "customer_id": cm["customer_id"],
                    "meter_id": cm["meter_id"],
                    "consumed_units": float(consumed),
                    "credited_units": int(credited),
                    "balance": float(credited - consumed),
                    "customer": self.emu.ser.customer(cm["customer_id"]),
                    "meter": self.emu.ser.meter(cm["meter_id"]),
                }
            )
        return out
