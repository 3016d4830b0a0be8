"""Polar's error bodies, raised by handlers and turned into responses by the router."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An HTTP error answer with Polar's exact body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found(detail: str = "Not found") -> APIError:
    return APIError(404, {"error": "ResourceNotFound", "detail": detail})


def forbidden(error: str, detail: str) -> APIError:
    return APIError(403, {"error": error, "detail": detail})


def conflict(error: str, detail: str) -> APIError:
    """A PolarError with status 409 (e.g. subscription/service.py CannotPauseSubscription)."""
    return APIError(409, {"error": error, "detail": detail})


def bad_request(detail: str, error: str = "BadRequest") -> APIError:
    return APIError(400, {"error": error, "detail": detail})


def unauthorized() -> APIError:
    return APIError(
        401,
        {
            "error": "invalid_token",
            "error_description": "The access token provided is expired, revoked, malformed, or invalid for other reasons.",
        },
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def too_many_requests(retry_after: int) -> APIError:
    """Polar's 429: always with ``Retry-After`` (whole seconds), whatever caused it."""
    return APIError(
        429,
        {"error": "TooManyRequests", "detail": "Rate limit exceeded."},
        {"Retry-After": str(max(1, int(retry_after)))},
    )


def insufficient_scope(scopes: frozenset[str]) -> APIError:
    """Polar's 403 for a token without any scope the operation accepts (RFC 6750 3.1):
    the accepted scopes are named in ``WWW-Authenticate``."""
    wanted = " ".join(sorted(scopes))
    return APIError(
        403,
        {
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
        },
        {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{wanted}"'},
    )


def invalid(loc: list[Any], msg: str, type_: str = "value_error", value: Any = None) -> APIError:
    """A 422 with one FastAPI-style error item, like Polar's validation errors."""
    item: dict[str, Any] = {"loc": loc, "msg": msg, "type": type_}
    if value is not None:
        item["input"] = value
    return APIError(422, {"detail": [item]})


class Invalid(Exception):
    """Collects several 422 items before raising them as one response."""

    def __init__(self) -> None:
        super().__init__("validation error")
        self.items: list[dict[str, Any]] = []

    def add(self, loc: list[Any], msg: str, type_: str = "value_error") -> None:
        self.items.append({"loc": loc, "msg": msg, "type": type_})

    def raise_if_any(self) -> None:
        if self.items:
            raise APIError(422, {"detail": self.items})
