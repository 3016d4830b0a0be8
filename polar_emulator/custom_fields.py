"""Custom fields: the organization's fields, attached to products, and the values a
checkout collects (``custom_field_data``, keyed by slug), validated as Polar does.

Polar builds a pydantic model from the attached fields (custom_field/data.py
``validate_custom_field_data``; models/custom_field.py ``get_field_definition``): keys
that are no field's slug are dropped, values are checked by type, and "required" is
enforced only when the checkout is confirmed (``validate_required=False`` at create and
update). The values then travel onto the order and the subscription.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .errors import APIError, invalid, not_found
from .store import iso, parse_iso
from .validation import Body, check_uuid, expected_one_of

if TYPE_CHECKING:
    from .core import Emulator

TYPES = ("text", "number", "date", "checkbox", "select")
SLUG_RE = re.compile(r"^[a-z0-9-_]+$")
# models/custom_field.py: numbers are Int32 unless bounded by ge/le.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class CustomFields:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def create(self, data: Any) -> dict[str, Any]:
        """POST /v1/custom-fields/ (custom_field/service.py ``create``): the slug is unique
        in the organization among fields not deleted."""
        body = Body(data)
        kind = body.choice("type", TYPES, required=True)
        slug = body.str("slug", required=True, nullable=False, min_length=1)
        if not SLUG_RE.match(slug):
            raise invalid(
                ["body", "slug"],
                "String should match pattern '^[a-z0-9-_]+$'",
                "string_pattern_mismatch",
            )
        name = body.str("name", required=True, nullable=False, min_length=1)
        properties = body.get("properties", {})
        if not isinstance(properties, dict):
            raise invalid(["body", "properties"], "Input should be a valid dictionary", "dict_type")
        if kind == "select":
            options = properties.get("options")
            if not isinstance(options, list) or not options:
                raise invalid(["body", "properties", "options"], "Field required", "missing")
        if any(f["slug"] == slug for f in self.st.custom_fields.values()):
            raise invalid(
                ["body", "slug"], "Custom field with this slug already exists.", value=slug
            )
        field = {
            "id": self.st.new_id(),
            "created_at": iso(self.emu.clock.now()),
            "modified_at": None,
            "metadata": body.metadata() or {},
            "type": kind,
            "slug": slug,
            "name": name,
            "organization_id": self.st.organization["id"],
            "properties": dict(properties),
        }
        self.st.custom_fields[field["id"]] = field
        return field

    def get(self, field_id: str) -> dict[str, Any]:
        field = self.st.custom_fields.get(check_uuid(field_id, ["path", "id"]))
        if field is None:
            raise not_found("Custom field not found")
        return field

    def attach(self, body: Body) -> list[dict[str, Any]]:
        """A product's ``attached_custom_fields`` (``AttachedCustomFieldCreate`` items),
        in the order given."""
        value = body.get("attached_custom_fields", [])
        if not isinstance(value, list):
            raise invalid(
                ["body", "attached_custom_fields"], "Input should be a valid list", "list_type"
            )
        attached = []
        for order, item in enumerate(value):
            entry = Body(item, ("body", "attached_custom_fields", order))
            field_id = entry.uuid("custom_field_id", required=True)
            required = entry.bool("required", required=True)
            if field_id not in self.st.custom_fields:
                raise invalid(
                    ["body", "attached_custom_fields", order, "custom_field_id"],
                    "Custom field does not exist.",
                    value=field_id,
                )
            attached.append({"custom_field_id": field_id, "order": order, "required": required})
        return attached

    def validate(
        self,
        attached: list[dict[str, Any]],
        data: Any,
        *,
        validate_required: bool,
        loc: tuple[Any, ...] = ("body", "custom_field_data"),
    ) -> dict[str, Any]:
        """custom_field/data.py ``validate_custom_field_data``: the values of the attached
        fields (others dropped), every error reported at once."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise invalid(list(loc), "Input should be a valid dictionary", "dict_type")
        errors: list[dict[str, Any]] = []
        out: dict[str, Any] = {}
        for attachment in attached:
            field = self.st.custom_fields[attachment["custom_field_id"]]
            slug = field["slug"]
            required = validate_required and attachment["required"]
            if slug not in data:
                if required:
                    errors.append({"loc": [*loc, slug], "msg": "Field required", "type": "missing"})
                continue
            try:
                out[slug] = _check(field, data[slug], required)
            except _FieldError as e:
                errors.append(
                    {"loc": [*loc, slug], "msg": e.msg, "type": e.type, "input": data[slug]}
                )
        if errors:
            raise APIError(422, {"detail": errors})
        return out


class _FieldError(Exception):
    def __init__(self, msg: str, type_: str) -> None:
        super().__init__(msg)
        self.msg, self.type = msg, type_


def _check(field: dict[str, Any], value: Any, required: bool) -> Any:
    """One value against models/custom_field.py's field definition (pydantic, lax mode)."""
    props = field["properties"]
    kind = field["type"]
    if value is None:
        if required or kind == "checkbox":
            names = {"text": "string", "number": "integer", "date": "datetime"}
            if kind == "checkbox":
                raise _FieldError("Input should be a valid boolean", "bool_type")
            if kind == "select":
                raise _FieldError(
                    expected_one_of([o["value"] for o in props["options"]]), "literal_error"
                )
            raise _FieldError(f"Input should be a valid {names[kind]}", f"{names[kind]}_type")
        return None
    if kind == "text":
        if not isinstance(value, str):
            raise _FieldError("Input should be a valid string", "string_type")
        low, high = props.get("min_length"), props.get("max_length")
        if low is not None and len(value) < low:
            raise _FieldError(
                f"String should have at least {low} character{'s' if low != 1 else ''}",
                "string_too_short",
            )
        if high is not None and len(value) > high:
            raise _FieldError(
                f"String should have at most {high} character{'s' if high != 1 else ''}",
                "string_too_long",
            )
        return value
    if kind == "number":
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _FieldError("Input should be a valid integer", "int_type")
        ge = INT32_MIN if props.get("ge") is None else props["ge"]
        le = INT32_MAX if props.get("le") is None else props["le"]
        if value < ge:
            raise _FieldError(
                f"Input should be greater than or equal to {ge}", "greater_than_equal"
            )
        if value > le:
            raise _FieldError(f"Input should be less than or equal to {le}", "less_than_equal")
        return value
    if kind == "checkbox":
        if not isinstance(value, bool):
            raise _FieldError("Input should be a valid boolean", "bool_type")
        if required and value is not True:
            raise _FieldError("Input should be True", "literal_error")
        return value
    if kind == "select":
        options = [o["value"] for o in props["options"]]
        if value not in options:
            raise _FieldError(expected_one_of(options), "literal_error")
        return value
    # date: a datetime (pydantic accepts an ISO string), dumped in JSON mode; the date
    # bounds (ge/le as timestamps) are not checked by the emulator.
    if not isinstance(value, str):
        raise _FieldError("Input should be a valid datetime", "datetime_type")
    try:
        when = parse_iso(value if "T" in value else f"{value}T00:00:00Z")
    except ValueError:
        raise _FieldError("Input should be a valid datetime", "datetime_parsing") from None
    # pydantic's JSON dump: seconds precision unless there are microseconds, UTC as Z.
    return iso(when) if when.microsecond else when.strftime("%Y-%m-%dT%H:%M:%SZ")
