"""HTTP routing: (method, path, query, body) -> handler -> (status, JSON) with Polar's
pagination, filters and error bodies. No transport concerns live here."""

from __future__ import annotations

import heapq
import math
import operator
import re
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from . import portal_team, spec_tables
from .errors import APIError, insufficient_scope, invalid, not_found
from .scopes import required as required_scopes
from .store import parse_iso
from .validation import check_uuid, expected_one_of, query_bool, query_datetime, query_int

if TYPE_CHECKING:
    from .core import Emulator

Query = dict[str, list[str]]
Params = dict[str, str]
Handler = Callable[["Emulator", Params, Query, Any], tuple[int, Any]]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
PATTERNS: dict[Handler, str] = {}  # handler -> its path template, as the spec writes it


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    regex = re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(fn: Handler) -> Handler:
        ROUTES.append((method, regex, fn))
        PATTERNS[fn] = pattern
        return fn

    return register


def dispatch(
    emu: Emulator,
    method: str,
    path: str,
    query: Query,
    body: Any,
    *,
    scopes: frozenset[str] | None = None,
) -> tuple[int, Any]:
    """Run the handler of ``method path``. ``scopes``: what the caller's token holds
    (None: everything); an operation the spec gives none of them is a 403."""
    if not path.endswith("/") and not re.search(
        r"/(state|invoice|benefits|ingest|validate|activate|deactivate|confirm)$", path
    ):
        candidates = [path, path + "/"]
    else:
        candidates = [path, path.rstrip("/")]
    allowed = False
    for method_, regex, handler in ROUTES:
        for candidate in candidates:
            match = regex.match(candidate)
            if match:
                if method_ != method:
                    allowed = True
                    continue
                # Path parameters arrive percent-encoded (an external id may hold ':' or '/').
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                if scopes is not None:
                    needed = required_scopes(method, PATTERNS[handler])
                    if needed is not None and not needed & scopes:
                        raise insufficient_scope(needed)
                return handler(emu, params, check_sorting(method, PATTERNS[handler], query), body)
    # Polar (FastAPI/Starlette) answers a path it does not route, and an operation of the
    # spec the emulator does not implement, with exactly this body.
    if allowed:
        raise APIError(405, {"detail": "Method Not Allowed"})
    raise APIError(404, {"detail": "Not Found"})


def check_sorting(method: str, pattern: str, query: Query) -> Query:
    """Polar's ``SortingGetter`` (kit/sorting.py) types ``sorting`` as a list of the
    list's sort-property enum: any other criterion is FastAPI's 422 at
    ``["query", "sorting", i]``. A list without ``sorting`` ignores the parameter."""
    allowed = spec_tables.sorting(method, pattern)
    if allowed is None:
        return {k: v for k, v in query.items() if k != "sorting"} if "sorting" in query else query
    for i, criterion in enumerate(query.get("sorting") or []):
        if criterion not in allowed:
            raise invalid(["query", "sorting", i], expected_one_of(allowed), "enum", criterion)
    return query


# helpers ------------------------------------------------------------------------------
def one(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def flat(query: Query) -> dict[str, str]:
    return {k: v[-1] for k, v in query.items() if v}


def uuid_param(value: str, loc: list[Any]) -> str:
    return check_uuid(value, loc)


def uuids(query: Query, name: str) -> list[str] | None:
    values = query.get(name)
    if not values:
        return None
    return [check_uuid(v, ["query", name]) for v in values]


def metadata_filter(query: Query) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, values in query.items():
        m = re.match(r"^metadata\[(.+)\]$", key)
        if m:
            out[m.group(1)] = values
    return out


def metadata_ok(record: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if str(record.get("metadata", {}).get(key)).lower() not in [v.lower() for v in values]:
            return False
    return True


def paginate(
    emu: Emulator,
    query: Query,
    records: list[Any],
    render: Callable[[Any], Any],
    *,
    newest_first: bool = True,
    key: str = "created_at",
) -> tuple[int, Any]:
    """One page of ``records`` (given in creation order) as Polar's ``{items, pagination}``.

    Only the requested page is rendered. Records come in creation order and timestamps
    only grow, so the usual orders (by ``created_at`` either way) are a slice of the list
    or of its reverse: no sort of the whole collection under the emulator's lock.
    """
    params = flat(query)
    page = query_int(params, "page", 1, ge=1)
    limit = query_int(params, "limit", 10, ge=1, le=100)
    sorting = query.get("sorting")
    if sorting:
        # The first criterion decides; a property the records do not carry (a computed
        # one such as a product's ``price_amount``) falls back to the default key.
        field = sorting[0]
        newest_first = field.startswith("-")
        wanted = field.lstrip("-")
        key = wanted if records and wanted in records[0] else key
    # Creation times never decrease along a collection (records are stored with the
    # emulator clock's now, which only moves forward), so that order needs no check.
    chunk = page_slice(
        records, key, newest_first, (page - 1) * limit, page * limit, presorted=key == "created_at"
    )
    total = len(records)
    return 200, {
        "items": [render(r) for r in chunk],
        "pagination": {"total_count": total, "max_page": math.ceil(total / limit)},
    }


def page_slice(
    records: list[Any],
    key: str,
    descending: bool,
    start: int,
    stop: int,
    *,
    presorted: bool = False,
) -> list[Any]:
    """``sorted(records by (key, position), reverse=descending)[start:stop]``, cheaply.

    Already ordered by ``key`` (``presorted``, or found so by one linear check): a slice,
    O(limit). Otherwise only the first ``stop`` records are selected (a heap,
    O(n log stop)), never the whole collection sorted.
    """
    if start >= len(records):
        return []
    keys: list[tuple[int, float, str]] = []
    if not presorted:
        keys = [sort_key(r.get(key)) for r in records]
    if presorted or all(map(operator.le, keys, islice(keys, 1, None))):
        if not descending:
            return records[start:stop]
        end = len(records) - start
        return records[max(end - (stop - start), 0) : end][::-1]
    pick = heapq.nlargest if descending else heapq.nsmallest
    best = pick(stop, range(len(records)), key=lambda i: (keys[i], i))
    return [records[i] for i in best[start:stop]]


def sort_key(value: Any) -> tuple[int, float, str]:
    """None first, then numbers by value, then text."""
    if value is None:
        return (-1, 0.0, "")
    if isinstance(value, bool | int | float):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def when(active: object, test: Callable[[Any], bool]) -> Callable[[Any], bool] | None:
    """``test`` when its filter was asked for (``active`` is truthy), else None."""
    return test if active else None


def within(
    key: str, start: datetime | None, end: datetime | None, *, inclusive: bool = True
) -> Callable[[Any], bool] | None:
    """Records whose ``key`` timestamp is between ``start`` and ``end`` (either may be
    None); None (no filter) when neither was asked for."""
    if start is None and end is None:
        return None

    def test(record: Any) -> bool:
        moment = parse_iso(record[key])
        if inclusive:
            return (start is None or moment >= start) and (end is None or moment <= end)
        return (start is None or moment > start) and (end is None or moment < end)

    return test


def member(key: str, values: Collection[str] | None) -> Callable[[Any], bool] | None:
    """Records whose ``key`` is one of ``values``; None (no filter) when not asked for."""
    if values is None:
        return None
    return lambda record: record[key] in values


def select(records: Iterable[Any], *tests: Callable[[Any], bool] | None) -> list[Any]:
    """The records (in creation order) passing every asked-for test; no per-record work
    when no filter was asked for, so an unfiltered page stays O(limit)."""
    active = [t for t in tests if t is not None]
    if not active:
        return list(records)
    if len(active) == 1:
        return list(filter(active[0], records))
    return [r for r in records if all(t(r) for t in active)]


def by_customer(emu: Emulator, query: Query) -> set[str] | None:
    """customer_id / external_customer_id filters -> the set of matching customer ids."""
    ids = uuids(query, "customer_id")
    external = query.get("external_customer_id")
    if ids is None and not external:
        return None
    wanted = set(ids or [])
    for ext in external or []:
        customer = emu.customers.by_external_id(ext)
        if customer:
            wanted.add(customer["id"])
    return wanted


# organization ---------------------------------------------------------------------------
@route("GET", "/v1/organizations/")
def list_organizations(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return paginate(emu, query, [emu.store.organization], lambda o: emu.ser.organization())


@route("GET", "/v1/organizations/{id}")
def get_organization(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    if params["id"] != emu.store.organization["id"]:
        raise not_found("Organization not found")
    return 200, emu.ser.organization()


@route("PATCH", "/v1/organizations/{id}")
def update_organization(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    if uuid_param(params["id"], ["path", "id"]) != emu.store.organization["id"]:
        raise not_found("Organization not found")
    emu.organizations.update(body)
    return 200, emu.ser.organization()


# products ---------------------------------------------------------------------------------
@route("GET", "/v1/products/")
def list_products(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    products = list(emu.store.products.values())
    ids = uuids(query, "id")
    archived = query_bool(flat(query), "is_archived")
    recurring = query_bool(flat(query), "is_recurring")
    benefit_ids = uuids(query, "benefit_id")
    visibility = query.get("visibility")
    text = (one(query, "query") or "").lower()
    meta = metadata_filter(query)
    products = select(
        products,
        member("id", ids),
        when(archived is not None, lambda p: p["is_archived"] == archived),
        when(recurring is not None, lambda p: p["is_recurring"] == recurring),
        when(
            benefit_ids is not None, lambda p: bool(set(benefit_ids or ()) & set(p["_benefit_ids"]))
        ),
        member("visibility", visibility),
        when(text, lambda p: text in p["name"].lower()),
        when(meta, lambda p: metadata_ok(p, meta)),
    )
    return paginate(emu, query, products, lambda p: emu.ser.product(p["id"]))


@route("POST", "/v1/products/")
def create_product(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.product(emu.catalog.create_product(body)["id"])


@route("GET", "/v1/products/{id}")
def get_product(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.product(
        emu.catalog.get_product(uuid_param(params["id"], ["path", "id"]))["id"]
    )


@route("PATCH", "/v1/products/{id}")
def update_product(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    product_id = uuid_param(params["id"], ["path", "id"])
    return 200, emu.ser.product(emu.catalog.update_product(product_id, body)["id"])


@route("POST", "/v1/products/{id}/benefits")
def update_product_benefits(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    product_id = uuid_param(params["id"], ["path", "id"])
    return 200, emu.ser.product(emu.catalog.set_product_benefits(product_id, body)["id"])


# benefits ---------------------------------------------------------------------------------
@route("GET", "/v1/benefits/")
def list_benefits(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    types = query.get("type")
    text = (one(query, "query") or "").lower()
    benefits = [
        b
        for b in emu.store.benefits.values()
        if not b["is_deleted"]
        and (not types or b["type"] in types)
        and (not text or text in b["description"].lower())
    ]
    return paginate(emu, query, benefits, lambda b: emu.ser.benefit(b["id"]))


@route("POST", "/v1/benefits/")
def create_benefit(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.benefit(emu.catalog.create_benefit(body)["id"])


@route("GET", "/v1/benefits/{id}")
def get_benefit(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.benefit(
        emu.catalog.get_benefit(uuid_param(params["id"], ["path", "id"]))["id"]
    )


@route("PATCH", "/v1/benefits/{id}")
def update_benefit(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.benefit(
        emu.catalog.update_benefit(uuid_param(params["id"], ["path", "id"]), body)["id"]
    )


@route("DELETE", "/v1/benefits/{id}")
def delete_benefit(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    emu.catalog.delete_benefit(uuid_param(params["id"], ["path", "id"]))
    return 204, None


@route("GET", "/v1/benefits/{id}/grants")
def list_benefit_grants_of(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    benefit = emu.catalog.get_benefit(uuid_param(params["id"], ["path", "id"]))
    return _grants(emu, query, benefit["id"])


@route("GET", "/v1/benefit-grants/")
def list_benefit_grants(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return _grants(emu, query, None)


def _grants(emu: Emulator, query: Query, benefit_id: str | None) -> tuple[int, Any]:
    customers = by_customer(emu, query)
    granted = query_bool(flat(query), "is_granted")
    grants = select(
        emu.store.grants.values(),
        when(benefit_id is not None, lambda g: g["benefit_id"] == benefit_id),
        member("customer_id", customers),
        when(granted is not None, lambda g: g["is_granted"] == granted),
    )
    return paginate(emu, query, grants, lambda g: emu.ser.grant(g["id"]))


# customers --------------------------------------------------------------------------------
@route("GET", "/v1/customers/")
def list_customers(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    email = (one(query, "email") or "").lower()
    text = (one(query, "query") or "").lower()
    meta = metadata_filter(query)
    customers = select(
        emu.store.customers.values(),
        lambda c: c["deleted_at"] is None,
        when(email, lambda c: (c["email"] or "").lower() == email),
        when(
            text,
            lambda c: any(text in (c[f] or "").lower() for f in ("email", "name", "external_id")),
        ),
        when(meta, lambda c: metadata_ok(c, meta)),
    )
    return paginate(emu, query, customers, lambda c: emu.ser.customer(c["id"]))


@route("POST", "/v1/customers/")
def create_customer(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.customer(emu.customers.create(body)["id"])


@route("GET", "/v1/customers/external/{external_id}")
def get_customer_external(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    return 200, emu.ser.customer(emu.customers.get_external(params["external_id"])["id"])


@route("PATCH", "/v1/customers/external/{external_id}")
def update_customer_external(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    customer = emu.customers.get_external(params["external_id"])
    return 200, emu.ser.customer(
        emu.customers.update(customer, body, allow_external_id=False)["id"]
    )


@route("DELETE", "/v1/customers/external/{external_id}")
def delete_customer_external(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    customer = emu.customers.get_external(params["external_id"])
    emu.customers.delete(customer, anonymize=bool(query_bool(flat(query), "anonymize")))
    return 204, None


@route("GET", "/v1/customers/external/{external_id}/state")
def get_customer_state_external(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    return 200, emu.ser.customer_state(emu.customers.get_external(params["external_id"])["id"])


@route("GET", "/v1/customers/{id}")
def get_customer(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.customer(emu.customers.get(uuid_param(params["id"], ["path", "id"]))["id"])


@route("PATCH", "/v1/customers/{id}")
def update_customer(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customer = emu.customers.get(uuid_param(params["id"], ["path", "id"]))
    return 200, emu.ser.customer(emu.customers.update(customer, body)["id"])


@route("DELETE", "/v1/customers/{id}")
def delete_customer(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customer = emu.customers.get(uuid_param(params["id"], ["path", "id"]))
    # customer/endpoints.py ``delete``: ``anonymize: bool = Query(default=False)``.
    emu.customers.delete(customer, anonymize=bool(query_bool(flat(query), "anonymize")))
    return 204, None


@route("GET", "/v1/customers/{id}/state")
def get_customer_state(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.customer_state(
        emu.customers.get(uuid_param(params["id"], ["path", "id"]))["id"]
    )


@route("GET", "/v1/customers/{id}/payment-methods")
def list_payment_methods(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customer = emu.customers.get(uuid_param(params["id"], ["path", "id"]))
    return _payment_methods(emu, query, customer)


@route("GET", "/v1/customers/external/{external_id}/payment-methods")
def list_payment_methods_external(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    return _payment_methods(emu, query, emu.customers.get_external(params["external_id"]))


def _payment_methods(emu: Emulator, query: Query, customer: dict[str, Any]) -> tuple[int, Any]:
    """customer/endpoints.py list_payment_methods: the customer's saved cards."""
    methods = [m for m in emu.store.payment_methods.values() if m["customer_id"] == customer["id"]]
    return paginate(emu, query, methods, emu.payments.render_method)


@route("POST", "/v1/customer-sessions/")
def create_customer_session(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    return 201, emu.ser.customer_session(emu.customers.create_session(body)["id"])


# checkouts --------------------------------------------------------------------------------
@route("GET", "/v1/checkouts/")
def list_checkouts(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customers = by_customer(emu, query)
    statuses = query.get("status")
    products = uuids(query, "product_id")
    for checkout in emu.store.checkouts.values():
        emu.checkouts.expire_if_due(checkout)
    items = [
        c
        for c in emu.store.checkouts.values()
        if (customers is None or c["customer_id"] in customers)
        and (not statuses or c["status"] in statuses)
        and (products is None or c["product_id"] in products)
    ]
    return paginate(emu, query, items, lambda c: emu.ser.checkout(c["id"]))


@route("POST", "/v1/checkouts/")
def create_checkout(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.checkout(emu.checkouts.create(body)["id"])


@route("GET", "/v1/checkouts/client/{client_secret}")
def get_checkout_client(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    checkout = emu.checkouts.by_secret(params["client_secret"])
    emu.checkouts.expire_if_due(checkout)
    return 200, emu.ser.checkout(checkout["id"], public_view=True)


@route("PATCH", "/v1/checkouts/client/{client_secret}")
def update_checkout_client(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    checkout = emu.checkouts.by_secret(params["client_secret"])
    return 200, emu.ser.checkout(
        emu.checkouts.update_client(checkout, body)["id"], public_view=True
    )


@route("POST", "/v1/checkouts/client/{client_secret}/confirm")
def confirm_checkout_client(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    checkout = emu.checkouts.by_secret(params["client_secret"])
    out = emu.checkouts.confirm(checkout, body if body is not None else {})
    # checkout/service.py confirm: no customer session for a customer matched by email.
    out["customer_session_token"] = None
    if checkout.get("_customer_session", True):
        # ``create_customer_session``: a customer session, whatever the member model.
        session = emu.customers.new_session(emu.store.customers[checkout["customer_id"]], None)
        out["customer_session_token"] = session["token"]
    return 200, out


@route("GET", "/v1/checkouts/{id}")
def get_checkout(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    checkout = emu.checkouts.get(uuid_param(params["id"], ["path", "id"]))
    emu.checkouts.expire_if_due(checkout)
    return 200, emu.ser.checkout(checkout["id"])


@route("PATCH", "/v1/checkouts/{id}")
def update_checkout(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    checkout = emu.checkouts.get(uuid_param(params["id"], ["path", "id"]))
    return 200, emu.ser.checkout(emu.checkouts.update(checkout, body)["id"])


@route("POST", "/v1/checkout-links/")
def create_checkout_link(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.checkout_link(emu.checkouts.create_link(body)["id"])


@route("GET", "/v1/checkout-links/")
def list_checkout_links(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return paginate(
        emu,
        query,
        [k for k in emu.store.checkout_links.values() if not k.get("_deleted")],
        lambda k: emu.ser.checkout_link(k["id"]),
    )


@route("GET", "/v1/checkout-links/{id}")
def get_checkout_link(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.checkout_link(emu.checkouts.get_link(params["id"])["id"])


@route("PATCH", "/v1/checkout-links/{id}")
def update_checkout_link(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    link = emu.checkouts.get_link(params["id"])
    return 200, emu.ser.checkout_link(emu.checkouts.update_link(link, body)["id"])


@route("DELETE", "/v1/checkout-links/{id}")
def delete_checkout_link(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    emu.checkouts.delete_link(emu.checkouts.get_link(params["id"]))
    return 204, None


# custom fields ----------------------------------------------------------------------------
@route("GET", "/v1/custom-fields/")
def list_custom_fields(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return paginate(
        emu,
        query,
        list(emu.store.custom_fields.values()),
        lambda f: emu.ser.custom_field(f["id"]),
    )


@route("POST", "/v1/custom-fields/")
def create_custom_field(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.custom_field(emu.custom_fields.create(body)["id"])


@route("GET", "/v1/custom-fields/{id}")
def get_custom_field(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.custom_field(emu.custom_fields.get(params["id"])["id"])


# discounts --------------------------------------------------------------------------------
@route("GET", "/v1/discounts/")
def list_discounts(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return paginate(
        emu, query, list(emu.store.discounts.values()), lambda d: emu.ser.discount(d["id"])
    )


@route("POST", "/v1/discounts/")
def create_discount(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.discount(emu.catalog.create_discount(body)["id"])


@route("GET", "/v1/discounts/{id}")
def get_discount(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.discount(
        emu.catalog.get_discount(uuid_param(params["id"], ["path", "id"]))["id"]
    )


@route("PATCH", "/v1/discounts/{id}")
def update_discount(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.discount(
        emu.catalog.update_discount(uuid_param(params["id"], ["path", "id"]), body)["id"]
    )


@route("DELETE", "/v1/discounts/{id}")
def delete_discount(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    emu.catalog.delete_discount(uuid_param(params["id"], ["path", "id"]))
    return 204, None


# subscriptions ----------------------------------------------------------------------------
@route("GET", "/v1/subscriptions/")
def list_subscriptions(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customers = by_customer(emu, query)
    products = uuids(query, "product_id")
    active = query_bool(flat(query), "active")
    statuses = query.get("status")
    cape = query_bool(flat(query), "cancel_at_period_end")
    meta = metadata_filter(query)
    items = select(
        emu.store.subscriptions.values(),
        member("customer_id", customers),
        member("product_id", products),
        when(
            active is not None,
            # subscription/service.py ``list``: ``Subscription.active`` (trialing, active).
            lambda s: (s["status"] in ("active", "trialing")) == active,
        ),
        member("status", statuses),
        when(cape is not None, lambda s: s["cancel_at_period_end"] == cape),
        when(meta, lambda s: metadata_ok(s, meta)),
    )
    return paginate(emu, query, items, lambda s: emu.ser.subscription(s["id"]))


@route("POST", "/v1/subscriptions/")
def create_subscription(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.subscription(emu.subscriptions.create_free(body)["id"])


@route("GET", "/v1/subscriptions/{id}")
def get_subscription(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.subscription(
        emu.subscriptions.get(uuid_param(params["id"], ["path", "id"]))["id"]
    )


@route("PATCH", "/v1/subscriptions/{id}")
def update_subscription(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    sub = emu.subscriptions.get(uuid_param(params["id"], ["path", "id"]))
    return 200, emu.ser.subscription(emu.subscriptions.update(sub, body)["id"])


@route("DELETE", "/v1/subscriptions/{id}")
def revoke_subscription(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    sub = emu.subscriptions.get(uuid_param(params["id"], ["path", "id"]))
    emu.subscriptions.revoke(sub)
    return 200, emu.ser.subscription(sub["id"])


# orders & refunds ---------------------------------------------------------------------------
@route("GET", "/v1/orders/")
def list_orders(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customers = by_customer(emu, query)
    products = uuids(query, "product_id")
    subs = uuids(query, "subscription_id")
    checkouts = uuids(query, "checkout_id")
    statuses = query.get("status")
    billing = query.get("product_billing_type")
    meta = metadata_filter(query)
    items = select(
        emu.store.orders.values(),
        member("customer_id", customers),
        member("product_id", products),
        member("subscription_id", subs),
        member("checkout_id", checkouts),
        member("status", statuses),
        when(
            billing,
            lambda o: ("recurring" if o["subscription_id"] else "one_time") in (billing or ()),
        ),
        when(meta, lambda o: metadata_ok(o, meta)),
    )
    return paginate(emu, query, items, lambda o: emu.ser.order(o["id"]))


@route("GET", "/v1/orders/{id}")
def get_order(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.order(emu.orders.get(uuid_param(params["id"], ["path", "id"]))["id"])


@route("PATCH", "/v1/orders/{id}")
def update_order(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    order_id = uuid_param(params["id"], ["path", "id"])
    return 200, emu.ser.order(emu.orders.update(order_id, body)["id"])


@route("POST", "/v1/orders/{id}/invoice")
def generate_invoice(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    emu.orders.trigger_invoice(uuid_param(params["id"], ["path", "id"]))
    return 202, {}


@route("GET", "/v1/orders/{id}/receipt")
def get_receipt(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    receipt = emu.orders.receipt(uuid_param(params["id"], ["path", "id"]))
    return (202, None) if receipt is None else (200, receipt)


@route("GET", "/v1/orders/{id}/invoice")
def get_invoice(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.orders.invoice(uuid_param(params["id"], ["path", "id"]))


@route("POST", "/v1/refunds/")
def create_refund(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.refund(emu.orders.refund(body)["id"])


@route("GET", "/v1/refunds/")
def list_refunds(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    # refund/endpoints.py list: id, order_id, subscription_id, customer_id and
    # external_customer_id are multiple-value filters; succeeded a boolean.
    ids = uuids(query, "id")
    orders = uuids(query, "order_id")
    subs = uuids(query, "subscription_id")
    customers = by_customer(emu, query)
    succeeded = query_bool(flat(query), "succeeded")
    items = select(
        emu.store.refunds.values(),
        member("id", ids),
        member("order_id", orders),
        member("subscription_id", subs),
        member("customer_id", customers),
        when(succeeded is not None, lambda r: (r["status"] == "succeeded") == succeeded),
    )
    return paginate(emu, query, items, lambda r: emu.ser.refund(r["id"]))


# payments ---------------------------------------------------------------------------------
@route("GET", "/v1/payments/")
def list_payments(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    checkouts = uuids(query, "checkout_id")
    orders = uuids(query, "order_id")
    customers = by_customer(emu, query)
    statuses = query.get("status")
    methods = query.get("method")
    emails = {e.lower() for e in query.get("customer_email") or []}

    def email_of(payment: dict[str, Any]) -> str:
        return str(emu.store.customers[payment["_customer_id"]]["email"] or "").lower()

    items = select(
        emu.store.payments.values(),
        member("checkout_id", checkouts),
        member("order_id", orders),
        member("_customer_id", customers),
        member("status", statuses),
        member("method", methods),
        when(emails, lambda p: email_of(p) in emails),
    )
    return paginate(emu, query, items, emu.payments.render)


@route("GET", "/v1/payments/{id}")
def get_payment(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.payments.render(emu.payments.get(uuid_param(params["id"], ["path", "id"])))


# usage ------------------------------------------------------------------------------------
@route("POST", "/v1/events/ingest")
def ingest_events(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.usage.ingest(body)


@route("GET", "/v1/events/")
def list_events(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customers = by_customer(emu, query)
    names = query.get("name")
    external = set(query.get("external_customer_id") or [])
    meter_ids = uuids(query, "meter_id")
    sources = query.get("source")
    params_ = flat(query)
    # event/endpoints.py: "Filter events after / before this timestamp".
    start = query_datetime(params_, "start_timestamp")
    end = query_datetime(params_, "end_timestamp")
    parent = one(query, "parent_id")
    parent = uuid_param(parent, ["query", "parent_id"]) if parent is not None else None
    depth = query_int(params_, "depth", -1, ge=0, le=5) if "depth" in params_ else None
    from .usage import matches

    levels = emu.usage.levels(parent) if parent is not None or depth is not None else None
    wanted = customers or set()
    items = select(
        emu.store.events.values(),
        when(
            customers is not None,
            lambda e: e["customer_id"] in wanted or e["external_customer_id"] in external,
        ),
        member("name", names),
        member("source", sources),
        when(
            meter_ids is not None,
            lambda e: any(
                matches(emu.store.meters[m]["filter"], e)
                for m in meter_ids or ()
                if m in emu.store.meters
            ),
        ),
        within("timestamp", start, end),
        when(
            levels is not None,
            lambda e: (
                e["id"] in (levels or {}) and (depth is None or (levels or {})[e["id"]] <= depth)
            ),
        ),
    )
    return paginate(emu, query, items, lambda e: emu.ser.event(e["id"]), key="timestamp")


@route("GET", "/v1/events/names")
def list_event_names(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    """event/service.py list_names: one row per (name, source) with its occurrences and
    first and last timestamps; newest ``last_seen`` first by default."""
    customers = by_customer(emu, query)
    external = set(query.get("external_customer_id") or [])
    sources = query.get("source")
    text = (one(query, "query") or "").lower()
    wanted = customers or set()
    events = select(
        emu.store.events.values(),
        when(
            customers is not None,
            lambda e: e["customer_id"] in wanted or e["external_customer_id"] in external,
        ),
        member("source", sources),
        when(text, lambda e: text in e["name"].lower()),
    )
    return paginate(
        emu, query, emu.usage.names(events), lambda n: n, newest_first=True, key="last_seen"
    )


@route("GET", "/v1/events/{id}")
def get_event(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    event_id = uuid_param(params["id"], ["path", "id"])
    if event_id not in emu.store.events:
        raise not_found("Event not found")
    return 200, emu.ser.event(event_id)


@route("GET", "/v1/meters/")
def list_meters(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return paginate(emu, query, list(emu.store.meters.values()), lambda m: emu.ser.meter(m["id"]))


@route("POST", "/v1/meters/")
def create_meter(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, emu.ser.meter(emu.catalog.create_meter(body)["id"])


@route("GET", "/v1/meters/{id}")
def get_meter(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    meter_id = uuid_param(params["id"], ["path", "id"])
    if meter_id not in emu.store.meters:
        raise not_found("Meter not found")
    return 200, emu.ser.meter(meter_id)


@route("GET", "/v1/meters/{id}/quantities")
def get_meter_quantities(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    meter_id = uuid_param(params["id"], ["path", "id"])
    if meter_id not in emu.store.meters:
        raise not_found("Meter not found")
    return 200, emu.usage.quantities(meter_id, query)


@route("GET", "/v1/customer-meters/")
def list_customer_meters(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customers = by_customer(emu, query)
    meter_ids = uuids(query, "meter_id")
    items = [
        cm
        for cm in emu.usage.customer_meters()
        if (customers is None or cm["customer_id"] in customers)
        and (meter_ids is None or cm["meter_id"] in meter_ids)
    ]
    return paginate(emu, query, items, lambda cm: cm)


@route("GET", "/v1/customer-meters/{id}")
def get_customer_meter(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    meter_id = uuid_param(params["id"], ["path", "id"])
    found = next((cm for cm in emu.usage.customer_meters() if cm["id"] == meter_id), None)
    if found is None:
        raise not_found("Customer meter not found")
    return 200, found


# license keys -------------------------------------------------------------------------------
@route("GET", "/v1/license-keys/")
def list_license_keys(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    benefit_ids = uuids(query, "benefit_id")
    statuses = query.get("status")
    items = [
        k
        for k in emu.store.license_keys.values()
        if (benefit_ids is None or k["benefit_id"] in benefit_ids)
        and (not statuses or k["status"] in statuses)
    ]
    return paginate(emu, query, items, lambda k: emu.ser.license_key(k["id"]))


@route("GET", "/v1/license-keys/{id}")
def get_license_key(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    key = emu.license_keys.get(uuid_param(params["id"], ["path", "id"]))
    return 200, emu.ser.license_key(key["id"], activations=True)


@route("PATCH", "/v1/license-keys/{id}")
def update_license_key(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    key_id = uuid_param(params["id"], ["path", "id"])
    return 200, emu.ser.license_key(emu.license_keys.update(key_id, body)["id"])


@route("GET", "/v1/license-keys/{id}/activations/{activation_id}")
def get_license_key_activation(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    key = emu.license_keys.get(uuid_param(params["id"], ["path", "id"]))
    activation_id = uuid_param(params["activation_id"], ["path", "activation_id"])
    return 200, emu.ser.activation(emu.license_keys.activation_of(key, activation_id)["id"])


@route("POST", "/v1/license-keys/validate")
def validate_license_key(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.license_keys.validate(body)


@route("POST", "/v1/license-keys/activate")
def activate_license_key(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.activation(emu.license_keys.activate(body)["id"])


@route("POST", "/v1/license-keys/deactivate")
def deactivate_license_key(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    emu.license_keys.deactivate(body)
    return 204, None


# metrics ----------------------------------------------------------------------------------
@route("GET", "/v1/metrics/")
def get_metrics(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.metrics.get(query)


# customer seats (server/polar/customer_seat/endpoints.py) ----------------------------------
@route("POST", "/v1/customer-seats")
def assign_seat(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.seat(emu.seats.assign_from_body(body)["id"])


@route("GET", "/v1/customer-seats")
def list_seats(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.seats.list(one(query, "subscription_id"), one(query, "order_id"))


@route("DELETE", "/v1/customer-seats/{seat_id}")
def revoke_seat(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.seat(emu.seats.revoke(emu.seats.get(params["seat_id"]))["id"])


@route("POST", "/v1/customer-seats/{seat_id}/resend")
def resend_seat_invitation(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    return 200, emu.ser.seat(emu.seats.resend(emu.seats.get(params["seat_id"]))["id"])


@route("GET", "/v1/customer-seats/claim/{invitation_token}")
def get_seat_claim_info(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.seats.claim_info(params["invitation_token"])


@route("POST", "/v1/customer-seats/claim")
def claim_seat(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.seats.claim(body)


# the customer portal's seats (server/polar/customer_portal/endpoints/customer_seat.py):
# authenticated by the customer or member session token, not the organization's.
@route("GET", "/v1/customer-portal/seats")
def portal_list_seats(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, portal_team.list_seats(emu, emu.request_token, query)


@route("POST", "/v1/customer-portal/seats")
def portal_assign_seat(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.seat(portal_team.assign(emu, emu.request_token, body)["id"])


@route("DELETE", "/v1/customer-portal/seats/{seat_id}")
def portal_revoke_seat(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    seat = portal_team.own_seat(emu, emu.request_token, params["seat_id"])
    return 200, emu.ser.seat(emu.seats.revoke(seat)["id"])


@route("POST", "/v1/customer-portal/seats/{seat_id}/resend")
def portal_resend_seat_invitation(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    seat = portal_team.own_seat(emu, emu.request_token, params["seat_id"])
    return 200, emu.ser.seat(emu.seats.resend(seat)["id"])


# the customer portal's members (server/polar/customer_portal/endpoints/member.py): a
# member session of a team's owner or billing manager.
@route("GET", "/v1/customer-portal/members")
def portal_list_members(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customer, _ = portal_team.manager(emu, emu.request_token)
    records = [m for m in emu.store.members.values() if m["customer_id"] == customer["id"]]
    return paginate(emu, query, records, portal_team.portal_member, newest_first=False)


@route("POST", "/v1/customer-portal/members")
def portal_add_member(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 201, portal_team.portal_member(portal_team.add_member(emu, emu.request_token, body))


@route("PATCH", "/v1/customer-portal/members/{id}")
def portal_update_member(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    member = portal_team.update_member(emu, emu.request_token, params["id"], body)
    return 200, portal_team.portal_member(member)


@route("DELETE", "/v1/customer-portal/members/{id}")
def portal_remove_member(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    portal_team.remove_member(emu, emu.request_token, params["id"])
    return 204, None


# members (server/polar/member/endpoints.py) ------------------------------------------------
@route("GET", "/v1/members/")
def list_members(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customers = by_customer(emu, query)
    roles = query.get("role")
    records = select(
        emu.store.members.values(),
        member("customer_id", customers),
        member("role", roles),
    )
    return paginate(emu, query, records, lambda m: emu.ser.member(m["id"]))


@route("POST", "/v1/customers/{id}/members")
def create_member(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    customer = emu.customers.get(uuid_param(params["id"], ["path", "id"]))
    return 201, emu.ser.member(emu.seats.create_member(customer, body)["id"])


def _member(emu: Emulator, params: Params) -> dict[str, Any]:
    customer = emu.customers.get(uuid_param(params["id"], ["path", "id"]))
    return emu.seats.member(customer["id"], uuid_param(params["member_id"], ["path", "member_id"]))


@route("GET", "/v1/customers/{id}/members/{member_id}")
def get_member(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.member(_member(emu, params)["id"])


@route("PATCH", "/v1/customers/{id}/members/{member_id}")
def update_member(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    return 200, emu.ser.member(emu.seats.update_member(_member(emu, params), body)["id"])


@route("DELETE", "/v1/customers/{id}/members/{member_id}")
def delete_member(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    emu.seats.delete_member(_member(emu, params))
    return 204, None


# webhook endpoints and deliveries ---------------------------------------------------------
@route("GET", "/v1/webhooks/endpoints")
def list_webhook_endpoints(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    endpoints = emu.webhook_endpoints
    return paginate(emu, query, endpoints.api_endpoints(), endpoints.render)


@route("POST", "/v1/webhooks/endpoints")
def create_webhook_endpoint(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    endpoints = emu.webhook_endpoints
    return 201, endpoints.render(endpoints.create(body))


@route("GET", "/v1/webhooks/endpoints/{id}")
def get_webhook_endpoint(emu: Emulator, params: Params, query: Query, body: Any) -> tuple[int, Any]:
    endpoints = emu.webhook_endpoints
    return 200, endpoints.render(endpoints.get(uuid_param(params["id"], ["path", "id"])))


@route("PATCH", "/v1/webhooks/endpoints/{id}")
def update_webhook_endpoint(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    endpoints = emu.webhook_endpoints
    endpoint = endpoints.get(uuid_param(params["id"], ["path", "id"]))
    return 200, endpoints.render(endpoints.update(endpoint, body))


@route("PATCH", "/v1/webhooks/endpoints/{id}/secret")
def reset_webhook_endpoint_secret(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    endpoints = emu.webhook_endpoints
    endpoint = endpoints.get(uuid_param(params["id"], ["path", "id"]))
    return 200, endpoints.render(endpoints.reset_secret(endpoint))


@route("DELETE", "/v1/webhooks/endpoints/{id}")
def delete_webhook_endpoint(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    endpoints = emu.webhook_endpoints
    endpoints.delete(endpoints.get(uuid_param(params["id"], ["path", "id"])))
    return 204, None


@route("GET", "/v1/webhooks/deliveries")
def list_webhook_deliveries(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    """webhook/service.py list_deliveries: newest first, with its filters."""
    endpoints = emu.webhook_endpoints
    api_ids = {e.id for e in endpoints.api_endpoints()}
    wanted = uuids(query, "endpoint_id")
    params_ = flat(query)
    start = query_datetime(params_, "start_timestamp")
    end = query_datetime(params_, "end_timestamp")
    succeeded = query_bool(params_, "succeeded")
    text = (one(query, "query") or "").lower()
    code_class = one(query, "http_code_class")
    classes = ("2xx", "3xx", "4xx", "5xx")
    if code_class is not None and code_class not in classes:
        raise invalid(["query", "http_code_class"], expected_one_of(classes), "literal_error")
    types = query.get("event_type")
    known = tuple(spec_tables.tables()["webhook_event_types"])
    for i, t in enumerate(types or ()):
        if t not in known:  # WebhookEventType: an enum, 422 for an unknown one
            raise invalid(["query", "event_type", i], expected_one_of(known), "enum")
    events = emu.webhooks.webhook_events

    def matches_text(d: dict[str, Any]) -> bool:
        fields = (d["id"], d["_webhook_event_id"], str(d["http_code"]))
        return any(text in f.lower() for f in fields)

    items = select(
        emu.webhooks.deliveries,
        lambda d: d["_endpoint_id"] in api_ids,
        member("_endpoint_id", wanted),
        within("created_at", start, end, inclusive=False),
        when(succeeded is not None, lambda d: d["succeeded"] == succeeded),
        when(text, matches_text),
        when(
            code_class,
            lambda d: d["http_code"] is not None and str(d["http_code"])[0] == str(code_class)[0],
        ),
        when(types, lambda d: events[d["_webhook_event_id"]]["type"] in (types or ())),
    )
    return paginate(emu, query, items, endpoints.render_delivery)


@route("POST", "/v1/webhooks/events/{id}/redeliver")
def redeliver_webhook_event(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    event_id = uuid_param(params["id"], ["path", "id"])
    record = emu.webhooks.webhook_events.get(event_id)
    api_ids = {e.id for e in emu.webhook_endpoints.api_endpoints()}
    if record is None or record["_endpoint_id"] not in api_ids:
        raise not_found()
    emu.webhooks.redeliver(event_id)
    return 202, {}


# The customer-portal twins need no token and share the service with the organization
# endpoints (server/polar/customer_portal/endpoints/license_keys.py: validate, activate,
# deactivate call the same license_key_service methods).
@route("POST", "/v1/customer-portal/license-keys/validate")
def portal_validate_license_key(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    return validate_license_key(emu, params, query, body)


@route("POST", "/v1/customer-portal/license-keys/activate")
def portal_activate_license_key(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    return activate_license_key(emu, params, query, body)


@route("POST", "/v1/customer-portal/license-keys/deactivate")
def portal_deactivate_license_key(
    emu: Emulator, params: Params, query: Query, body: Any
) -> tuple[int, Any]:
    return deactivate_license_key(emu, params, query, body)


__all__ = ["ROUTES", "dispatch", "invalid"]
