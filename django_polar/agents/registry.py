"""What a tool is (name, tag, JSON schema, description, function) and which a token sees.

Tools register themselves with ``@tool(...)`` in ``reads.py`` and ``writes.py`` (the
package imports both, so the registry is full whenever any part of it is imported). The list
a token sees is computed when it is asked for, from the token's current rights: read-only
tokens never see a write tool, a tag filter keeps only its tags, and a customer-scoped
token never sees tools that cannot be bound to one customer.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from ..errors import AgentToolError
from ..models import AgentToken

#: Every tag a tool can carry (a token's tag filter must name these).
TAGS = (
    "customers",
    "subscriptions",
    "orders",
    "benefits",
    "products",
    "usage",
    "portal",
    "discounts",
    "checkouts",
    "refunds",
)


@dataclass(frozen=True)
class Tool:
    name: str
    tag: str
    description: str
    #: JSON Schema of the arguments (``customer_id`` is dropped for customer-scoped tokens).
    parameters: dict[str, Any]
    func: Callable[..., dict[str, Any]]
    write: bool = False
    #: False: the tool cannot be bound to one customer (finding customers, discounts).
    customer_scopable: bool = True
    #: Extra parameters only a customer-scoped token gets.
    scoped_parameters: dict[str, Any] = field(default_factory=dict)

    def schema(self, token: AgentToken) -> dict[str, Any]:
        """The JSON Schema this token sees."""
        schema = copy.deepcopy(self.parameters)
        props = schema.setdefault("properties", {})
        if token.is_customer_scoped:
            props.pop("customer_id", None)
            props.update(copy.deepcopy(self.scoped_parameters))
            schema["required"] = [r for r in schema.get("required", []) if r != "customer_id"]
            schema.pop("anyOf", None)  # "customer_id or ..." no longer applies
        if not schema.get("required"):
            schema.pop("required", None)
        schema["additionalProperties"] = False
        return schema

    def allowed(self, token: AgentToken) -> bool:
        if self.write and not token.can_write:
            return False
        if token.tags and self.tag not in token.tags:
            return False
        return not (token.is_customer_scoped and not self.customer_scopable)


REGISTRY: dict[str, Tool] = {}


def tool(
    name: str,
    *,
    tag: str,
    description: str,
    parameters: dict[str, Any] | None = None,
    write: bool = False,
    customer_scopable: bool = True,
    scoped_parameters: dict[str, Any] | None = None,
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register ``func(scope, **arguments) -> dict`` as the tool ``name``."""
    assert tag in TAGS, tag

    def register(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        REGISTRY[name] = Tool(
            name=name,
            tag=tag,
            description=" ".join(description.split()),
            parameters={"type": "object", "properties": {}, **(parameters or {})},
            func=func,
            write=write,
            customer_scopable=customer_scopable,
            scoped_parameters=scoped_parameters or {},
        )
        return func

    return register


def tools_for(token: AgentToken) -> list[Tool]:
    """The tools this token may use, in registration order."""
    return [t for t in REGISTRY.values() if t.allowed(token)]


def get_tool(name: str) -> Tool | None:
    return REGISTRY.get(name)


# -- argument checking: the small JSON Schema subset the tools use ---------------------


def check_arguments(schema: dict[str, Any], arguments: Any) -> dict[str, Any]:
    """Validate ``arguments`` against ``schema``; returns them with dates parsed.

    Errors name the argument and what is expected, so the assistant can correct itself.
    """
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise AgentToolError("Arguments must be a JSON object.")
    props = schema.get("properties", {})
    unknown = sorted(set(arguments) - set(props))
    if unknown:
        raise AgentToolError(
            f"Unknown argument(s): {', '.join(unknown)}. Known: {', '.join(props) or 'none'}."
        )
    missing = [r for r in schema.get("required", []) if arguments.get(r) is None]
    if missing:
        raise AgentToolError(f"Missing required argument(s): {', '.join(missing)}.")
    for group in schema.get("anyOf", []):
        needed = group.get("required", [])
        if needed and all(arguments.get(n) is not None for n in needed):
            break
    else:
        if schema.get("anyOf"):
            options = " or ".join(
                "+".join(g.get("required", [])) for g in schema["anyOf"] if g.get("required")
            )
            raise AgentToolError(f"Give {options}.")
    return {
        key: _check_value(key, props[key], value)
        for key, value in arguments.items()
        if value is not None
    }


def _check_value(key: str, spec: dict[str, Any], value: Any) -> Any:
    kind = spec.get("type")
    if kind == "array":
        if not isinstance(value, list):
            raise AgentToolError(f"{key} must be a list.")
        if len(value) < spec.get("minItems", 0) or len(value) > spec.get("maxItems", 10**6):
            raise AgentToolError(
                f"{key} must have {spec.get('minItems', 0)} to {spec.get('maxItems')} items."
            )
        return [_check_value(f"{key}[{i}]", spec["items"], v) for i, v in enumerate(value)]
    if kind == "boolean":
        if not isinstance(value, bool):
            raise AgentToolError(f"{key} must be true or false.")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise AgentToolError(f"{key} must be a whole number.")
        low, high = spec.get("minimum"), spec.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            raise AgentToolError(f"{key} must be between {low} and {high}.")
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise AgentToolError(f"{key} must be a string.")
        if "enum" in spec and value not in spec["enum"]:
            raise AgentToolError(f"{key} must be one of: {', '.join(spec['enum'])}.")
        if len(value) > spec.get("maxLength", 10_000) or len(value) < spec.get("minLength", 0):
            raise AgentToolError(
                f"{key} must be {spec.get('minLength', 0)} to {spec.get('maxLength')} characters."
            )
        fmt = spec.get("format")
        if fmt == "uuid":
            try:
                return str(uuid.UUID(value))
            except ValueError:
                raise AgentToolError(f"{key} must be a Polar id (a UUID).") from None
        if fmt in ("date", "date-time"):
            return _parse_when(key, value)
        return value
    return value


def _parse_when(key: str, value: str) -> Any:
    wrong = AgentToolError(f"{key} must be an ISO date (2026-11-30) or date-time.")
    try:
        moment = parse_datetime(value)
        day = parse_date(value) if moment is None else None
    except ValueError:
        raise wrong from None
    if moment is None:
        if day is None:
            raise wrong
        moment = datetime.combine(day, time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
