"""Request-body checks with Polar's (FastAPI/pydantic) 422 messages and locations."""

from __future__ import annotations

import builtins
import re
import uuid
from datetime import datetime
from typing import Any, Literal, overload

from .errors import APIError, invalid
from .store import parse_iso

# Polar validates emails with pydantic's EmailStr (the email-validator package, without a
# deliverability check): a dot-atom local part (internationalized letters allowed) and a
# domain of at least two labels. These mirror its rules and messages for the common cases.
ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]")
DOMAIN_CHAR = re.compile(r"[A-Za-z0-9.\-\u0080-\U0010ffff]")
SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9\-\u0080-\U0010ffff]{1,63}(?<!-)$")
MISSING = object()


class Body:
    """A JSON object body read field by field; every failure is a 422 at ["body", field]."""

    def __init__(self, data: Any, loc: tuple[Any, ...] = ("body",)) -> None:
        if not isinstance(data, dict):
            raise invalid(
                list(loc),
                "Input should be a valid dictionary or object to extract fields from",
                "model_attributes_type",
            )
        self.data = data
        self.loc = loc

    def has(self, name: str) -> bool:
        return name in self.data

    def _loc(self, name: str) -> list[Any]:
        return [*self.loc, name]

    def get(self, name: str, default: Any = None, *, required: bool = False) -> Any:
        if name not in self.data:
            if required:
                raise invalid(self._loc(name), "Field required", "missing")
            return default
        return self.data[name]

    def str(
        self,
        name: str,
        default: Any = None,
        *,
        required: bool = False,
        nullable: bool = True,
        min_length: int = 0,
        max_length: int | None = None,
    ) -> Any:
        value = self.get(name, default, required=required)
        if value is None and name in self.data and (nullable and not required):
            return None
        if value is None and name not in self.data:
            return default
        if not isinstance(value, str):
            raise invalid(self._loc(name), "Input should be a valid string", "string_type")
        if len(value) < min_length:
            raise invalid(
                self._loc(name),
                f"String should have at least {min_length} character{'s' if min_length != 1 else ''}",
                "string_too_short",
            )
        if max_length is not None and len(value) > max_length:
            raise invalid(
                self._loc(name),
                f"String should have at most {max_length} characters",
                "string_too_long",
            )
        return value

    def int(
        self,
        name: builtins.str,
        default: Any = None,
        *,
        required: builtins.bool = False,
        ge: builtins.int | None = None,
        le: builtins.int | None = None,
        gt: builtins.int | None = None,
    ) -> Any:
        value = self.get(name, default, required=required)
        if value is None:
            return default if name not in self.data else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(self._loc(name), "Input should be a valid integer", "int_type")
        if ge is not None and value < ge:
            raise invalid(
                self._loc(name),
                f"Input should be greater than or equal to {ge}",
                "greater_than_equal",
            )
        if gt is not None and value <= gt:
            raise invalid(self._loc(name), f"Input should be greater than {gt}", "greater_than")
        if le is not None and value > le:
            raise invalid(
                self._loc(name), f"Input should be less than or equal to {le}", "less_than_equal"
            )
        return value

    def bool(
        self, name: builtins.str, default: Any = None, *, required: builtins.bool = False
    ) -> Any:
        value = self.get(name, default, required=required)
        if value is None:
            return default if name not in self.data else None
        if not isinstance(value, bool):
            raise invalid(self._loc(name), "Input should be a valid boolean", "bool_type")
        return value

    def choice(
        self,
        name: builtins.str,
        choices: tuple[builtins.str, ...],
        default: Any = None,
        *,
        required: builtins.bool = False,
    ) -> Any:
        value = self.get(name, default, required=required)
        if value is None:
            return default if name not in self.data else None
        if value not in choices:
            raise invalid(self._loc(name), expected_one_of(choices), "enum")
        return value

    def uuid(
        self, name: builtins.str, default: Any = None, *, required: builtins.bool = False
    ) -> Any:
        value = self.get(name, default, required=required)
        if value is None:
            return default if name not in self.data else None
        return check_uuid(value, self._loc(name))

    def uuids(
        self, name: builtins.str, *, required: builtins.bool = False, min_items: builtins.int = 0
    ) -> Any:
        value = self.get(name, None, required=required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise invalid(self._loc(name), "Input should be a valid list", "list_type")
        if len(value) < min_items:
            raise invalid(
                self._loc(name),
                f"List should have at least {min_items} item after validation, not {len(value)}",
                "too_short",
            )
        return [check_uuid(v, [*self._loc(name), i]) for i, v in enumerate(value)]

    def email(self, name: builtins.str, *, required: builtins.bool = False) -> Any:
        value = self.str(name, required=required)
        problem = email_problem(value) if value is not None else None
        if problem is not None:
            raise invalid(
                self._loc(name),
                f"value is not a valid email address: {problem}",
                "value_error",
                value,
            )
        return value

    def url(self, name: builtins.str, *, required: builtins.bool = False) -> Any:
        value = self.str(name, required=required, min_length=1, max_length=2083)
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise invalid(
                self._loc(name),
                "Input should be a valid URL, relative URL without a base",
                "url_parsing",
            )
        return value

    @overload
    def datetime(self, name: builtins.str, *, required: Literal[True]) -> datetime: ...
    @overload
    def datetime(
        self, name: builtins.str, *, required: builtins.bool = False
    ) -> datetime | None: ...
    def datetime(self, name: builtins.str, *, required: builtins.bool = False) -> datetime | None:
        value = self.get(name, None, required=required)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise invalid(self._loc(name), "Input should be a valid datetime", "datetime_type")
        try:
            return parse_iso(value)
        except ValueError:
            raise invalid(
                self._loc(name),
                "Input should be a valid datetime, invalid character in year",
                "datetime_from_date_parsing",
            ) from None

    def metadata(
        self, name: builtins.str = "metadata", *, allow_float: builtins.bool = True
    ) -> dict[builtins.str, Any] | None:
        value = self.get(name)
        if value is None:
            return None
        return check_metadata(value, self._loc(name), allow_float=allow_float)

    @overload
    def object(self, name: builtins.str, *, required: Literal[True]) -> Body: ...
    @overload
    def object(self, name: builtins.str, *, required: builtins.bool = False) -> Body | None: ...
    def object(self, name: builtins.str, *, required: builtins.bool = False) -> Body | None:
        """The nested object ``name``; a required one that is null is Polar's 422
        (pydantic's model_attributes_type, raised by ``Body``)."""
        value = self.get(name, None, required=required)
        if value is None and not required:
            return None
        return Body(value, (*self.loc, name))


# kit/address.py USState and CASubdivision: the subdivisions Polar accepts for the two
# countries whose state it validates (ISO 3166-2 codes of the 50 states + DC, and the
# 13 provinces and territories).
US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC".split()
)
CA_SUBDIVISIONS = frozenset("AB BC MB NB NL NS NT NU ON PE QC SK YT".split())


def address(body: Body, name: str) -> dict[str, Any] | None:
    """Polar's ``AddressInput`` (kit/address.py): empty strings become None, the country
    is upper-cased and must be one of ``CountryAlpha2Input`` (every ISO country but the
    embargoed ones), and a US or CA state is prefixed (``CA`` -> ``US-CA``) and checked."""
    from .spec_tables import tables

    value = body.object(name)
    if value is None:
        return None
    out: dict[str, Any] = {}
    for field in ("line1", "line2", "postal_code", "city", "state"):
        text = value.str(field)
        out[field] = text or None
    country = value.get("country", required=True)
    if isinstance(country, str):
        country = country.upper()
    countries = tables()["countries"]
    if country not in countries:
        raise invalid([*value.loc, "country"], expected_one_of(countries), "enum", country)
    out["country"] = country
    state = out["state"]
    if state is not None and country in ("US", "CA"):
        if not state.startswith(f"{country}-"):
            state = out["state"] = f"{country}-{state}"
        valid = US_STATES if country == "US" else CA_SUBDIVISIONS
        if state.split("-", 1)[1] not in valid:
            kind = "US state" if country == "US" else "CA subdivision"
            raise invalid(list(value.loc), f"Value error, Invalid {kind}")
    return {k: out[k] for k in ("line1", "line2", "postal_code", "city", "state", "country")}


def expected_one_of(choices: tuple[str, ...] | list[str]) -> str:
    """Pydantic's enum message: ``Input should be 'a', 'b' or 'c'``."""
    if len(choices) == 1:
        return f"Input should be '{choices[0]}'"
    return "Input should be " + ", ".join(f"'{c}'" for c in choices[:-1]) + f" or '{choices[-1]}'"


def _listed(chars: str) -> str:
    return ", ".join(repr(c) for c in dict.fromkeys(chars))


def email_problem(value: str) -> str | None:
    """Why ``value`` is not an email address Polar accepts (email-validator's wording), or None."""
    if "@" not in value:
        return "An email address must have an @-sign."
    local, _, domain = value.rpartition("@")
    if not local:
        return "There must be something before the @-sign."
    if not domain:
        return "There must be something after the @-sign."
    bad = "".join(c for c in local if c != "." and not ATEXT.fullmatch(c))
    if bad:
        return f"The email address contains invalid characters before the @-sign: {_listed(bad)}."
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "The email address contains a period in an invalid position before the @-sign."
    if len(local) > 64:
        return "The email address is too long before the @-sign."
    bad = "".join(c for c in domain if not DOMAIN_CHAR.fullmatch(c))
    if bad:
        return f"The part after the @-sign contains invalid characters: {_listed(bad)}."
    labels = domain.split(".")
    if len(labels) < 2:
        return "The part after the @-sign is not valid. It should have a period."
    if any(not LABEL_RE.match(label) for label in labels):
        return (
            "The part after the @-sign is not valid. A period or hyphen is in an invalid position."
        )
    if labels[-1].lower() in SPECIAL_USE:
        return "The part after the @-sign is a special-use or reserved name that cannot be used with email."
    if len(value) > 254:
        return "The email address is too long."
    return None


def check_uuid(value: Any, loc: list[Any]) -> str:
    if not isinstance(value, str):
        raise invalid(loc, "UUID input should be a string, bytes or UUID object", "uuid_type")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise invalid(
            loc,
            "Input should be a valid UUID, invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `"
            + (value[:1] or " ")
            + "` at 1",
            "uuid_parsing",
        ) from None


def _check_length(text: str, maximum: int, loc: list[Any]) -> None:
    """Pydantic's 422 for a string outside 1..maximum characters."""
    if not text:
        raise invalid(loc, "String should have at least 1 character", "string_too_short")
    if len(text) > maximum:
        raise invalid(loc, f"String should have at most {maximum} characters", "string_too_long")


def check_metadata(value: Any, loc: list[Any], *, allow_float: bool = True) -> dict[str, Any]:
    """Polar's MetadataInputType: <= 50 keys, keys 1..40 chars, str values 1..500 chars."""
    if not isinstance(value, dict):
        raise invalid(loc, "Input should be a valid dictionary", "dict_type")
    if len(value) > 50:
        raise invalid(
            loc,
            "Dictionary should have at most 50 items after validation, not " + str(len(value)),
            "too_long",
        )
    for key, item in value.items():
        _check_length(key, 40, [*loc, key, "[key]"])
        if isinstance(item, str):
            _check_length(item, 500, [*loc, key, "str"])
        elif isinstance(item, bool | int):
            continue
        elif isinstance(item, float) and allow_float:
            continue
        else:
            raise invalid(
                [*loc, key],
                "Input should be a valid string, integer, number or boolean",
                "union_type",
            )
    return dict(value)


def query_int(
    params: dict[str, str], name: str, default: int, *, ge: int, le: int | None = None
) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(
            ["query", name],
            "Input should be a valid integer, unable to parse string as an integer",
            "int_parsing",
        ) from None
    if value < ge:
        raise invalid(
            ["query", name], f"Input should be greater than or equal to {ge}", "greater_than_equal"
        )
    if le is not None and value > le:
        raise invalid(
            ["query", name], f"Input should be less than or equal to {le}", "less_than_equal"
        )
    return value


def query_datetime(params: dict[str, str], name: str) -> datetime | None:
    """A pydantic ``AwareDatetime`` query parameter (a naive one is refused)."""
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(
            ["query", name], "Input should be a valid datetime", "datetime_from_date_parsing"
        ) from None
    if value.tzinfo is None:
        raise invalid(["query", name], "Input should have timezone info", "timezone_aware")
    return parse_iso(raw)


def query_bool(params: dict[str, str], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise invalid(
        ["query", name],
        "Input should be a valid boolean, unable to interpret input",
        "bool_parsing",
    )


__all__ = [
    "MISSING",
    "APIError",
    "Body",
    "address",
    "check_metadata",
    "check_uuid",
    "query_bool",
    "query_datetime",
    "query_int",
]
