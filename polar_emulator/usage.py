"""Usage billing: ingested events, meters (filter + aggregation), customer meter balances."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from .errors import invalid
from .store import iso, parse_iso
from .validation import Body

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
            metadata = e.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise invalid(
                    ["body", "events", i, "metadata"],
                    "Input should be a valid dictionary",
                    "dict_type",
                )
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
                    "parent_id": e.str("parent_id"),
                    "label": name,
                    "name": name,
                    "source": "user",
                    "metadata": metadata,
                    "_external_id": external_id,
                }
            )
        for event in staged:
            self.st.events[event["id"]] = event
            customer = self.st.customers.get(event["customer_id"] or "")
            if customer is not None and customer["first_user_event_at"] is None:
                customer["first_user_event_at"] = event["timestamp"]
        touched = {e["customer_id"] for e in staged if e["customer_id"]}
        for customer_id in touched:
            for meter in self.st.meters.values():
                self.customer_meter(customer_id, meter["id"])
            self.emu.state_changed(customer_id)
        return {"inserted": len(staged), "duplicates": duplicates}

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

    def credit(self, customer_id: str, meter_id: str, units: int) -> None:
        cm = self.customer_meter(customer_id, meter_id)
        assert cm is not None  # create=True: made when missing
        cm["_credited"] += units
        cm["modified_at"] = iso(self.emu.clock.now())

    def reset(self, customer_id: str, meter_id: str) -> None:
        cm = self.customer_meter(customer_id, meter_id)
        assert cm is not None  # create=True: made when missing
        cm["_reset_at"] = iso(self.emu.clock.now())
        cm["_credited"] = 0
        cm["modified_at"] = cm["_reset_at"]

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
