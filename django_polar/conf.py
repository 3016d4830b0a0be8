"""django-polar settings: one ``POLAR`` dict in the project's settings, read only here.

    POLAR = {
        "ACCESS_TOKEN": env("POLAR_ACCESS_TOKEN"),
        "WEBHOOK_SECRET": env("POLAR_WEBHOOK_SECRET"),
        "SERVER": "sandbox",
    }

Every key is optional; unknown keys raise ``ImproperlyConfigured`` (typo protection).

API access
    ACCESS_TOKEN            Organization access token (``polar_oat_...``). Default ``""``.
    SERVER                  ``"production"`` (https://api.polar.sh), ``"sandbox"``
                            (https://sandbox-api.polar.sh), ``"emulator"`` (EMULATOR_URL) or an
                            API root URL such as ``"https://polar.internal"`` (without ``/v1``).
                            Default ``"sandbox"``: a fresh project never talks to production by
                            accident.
    EMULATOR_URL            Where ``manage.py polar_emulator`` serves. Default
                            ``"http://127.0.0.1:8765"``.
    API_VERSION             ``Polar-Version`` header, ``YYYY-MM``. Default ``"2026-10"``.
    ORGANIZATION_ID         Polar organization UUID (needed by license-key calls). Default None.

HTTP behaviour
    TIMEOUT                 Seconds one read or write may wait (not the whole call: see
                            DEADLINE). Default 10.0.
    CONNECT_TIMEOUT         Seconds to open a connection. Default 5.0.
    MAX_RETRIES             Retries for requests that are safe to repeat. Default 3.
    RETRY_BACKOFF           First backoff in seconds; doubles per retry, with jitter. Default 0.5.
    RETRY_MAX_WAIT          Upper bound for one wait, including Retry-After. Default 30.0.
    DEADLINE                Seconds one call may take in all (every attempt, wait and slow
                            byte) in a web request. Default 10.0.
    RETRY_BUDGET            Seconds one call may spend waiting between attempts (backoff,
                            Retry-After) in a web request. Default 2.0.
    BACKGROUND_DEADLINE     DEADLINE inside ``client.background()``: management commands and
                            tasks. Default 120.0.
    BACKGROUND_RETRY_BUDGET RETRY_BUDGET inside ``client.background()``. Default 60.0.

Webhooks
    WEBHOOK_SECRET          The endpoint's secret (``whsec_...`` or a legacy one). Default ``""``.
    WEBHOOK_MAX_BODY_BYTES  Larger bodies are refused with 413. Default 5 MiB.
    WEBHOOK_TOLERANCE       Accepted clock skew of ``webhook-timestamp``, seconds. Default 300.
    WEBHOOK_PROCESSING      ``"inline"`` (apply in the request) or ``"task"`` (enqueue).
                            Default ``"inline"``.
    WEBHOOK_MAX_ATTEMPTS    Processing attempts before an event is left failed. Default 5.
    SITE_URL                The public origin of this site (``https://example.com``), from
                            which ``polar_webhooks register`` and ``doctor`` build the webhook
                            URL. Default None (then they need ``--url``).

Usage metering
    USAGE_SENDING           How recorded usage reaches Polar once the transaction commits:
                            ``"task"`` (enqueue one flush per commit on the task backend; with
                            the immediate backend nothing is enqueued, so no request waits on
                            Polar: run ``polar_usage flush`` from cron), ``"inline"`` (flush
                            right after the commit, in the same process: demos and tests) or
                            ``"cron"`` (only ``polar_usage flush``). Default ``"task"``.

Customers
    CUSTOMER_SYNC           Keep the Polar customer's email and name equal to the billable's:
                            ``"task"`` (a saved change is pushed by a background task on
                            commit; with the immediate backend nothing is enqueued, so no
                            request waits on Polar: run ``polar_customers push`` from cron),
                            ``"inline"`` (right after the commit, in the same process: demos
                            and tests) or ``"off"`` (the project calls
                            ``sync_polar_customer()`` itself). Default ``"task"``.
    CUSTOMER_ON_DELETE      What a deleted billable does to its Polar customer: ``"keep"``
                            (nothing), ``"delete"`` (delete it in Polar: its subscriptions
                            are canceled and benefits revoked) or ``"anonymize"`` (delete and
                            scrub its personal data, for erasure requests), in the
                            background like CUSTOMER_SYNC. Default ``"keep"``.

Access and checkout
    PAST_DUE_GRANTS_ACCESS  Whether a ``past_due`` subscription still counts as subscribed.
                            Default False, as on Polar: a failed renewal revokes the
                            subscription's benefit grants at once (the organization's
                            revocation grace period is 0 days unless changed).
    BILLABLE_RESOLVER       Dotted path (or callable) ``resolver(request) -> billable | None``.
                            Default None: ``request.user`` when authenticated.
    PRODUCTS                ``{"slug": "<polar product id>"}`` so code and templates use slugs.
                            Default ``{}``.
    EMBED_SCRIPT_URL        The ``@polar-sh/checkout`` embed script (pinned 0.4.x).
    SUCCESS_URL             Where a finished checkout lands (URL or URL name). Default None:
                            the app's own success view.
    SUBSCRIPTION_REQUIRED_URL  Where access helpers send users without a subscription (URL or
                            URL name). Default None: a 403 response.
    SEAT_CLAIMED_URL        Where the app's seat claim view (``seats/claim/?token=``) lands
                            after a claim (URL or URL name). Default None: "/".
    GUEST_SIGNUP_URL        Where the guest claim view (``checkout/claim/``) sends a buyer
                            who is not signed in, with ``?next=`` back to it (URL or URL
                            name). Default None: ``settings.LOGIN_URL``.
    GUEST_CLAIMED_URL       Where the guest claim view lands once the purchase is linked
                            (URL or URL name). Default None: the success view.

``polar_settings`` gives attribute access (``polar_settings.ACCESS_TOKEN``), validates on first
use and again after ``setting_changed`` fires for ``POLAR`` (so ``override_settings`` works).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .errors import redact

DEFAULT_API_VERSION = "2026-10"

DEFAULTS: dict[str, Any] = {
    "ACCESS_TOKEN": "",
    "WEBHOOK_SECRET": "",
    "SERVER": "sandbox",
    "EMULATOR_URL": "http://127.0.0.1:8765",
    "API_VERSION": DEFAULT_API_VERSION,
    "ORGANIZATION_ID": None,
    "TIMEOUT": 10.0,
    "CONNECT_TIMEOUT": 5.0,
    "MAX_RETRIES": 3,
    "RETRY_BACKOFF": 0.5,
    "RETRY_MAX_WAIT": 30.0,
    "DEADLINE": 10.0,
    "RETRY_BUDGET": 2.0,
    "BACKGROUND_DEADLINE": 120.0,
    "BACKGROUND_RETRY_BUDGET": 60.0,
    "WEBHOOK_MAX_BODY_BYTES": 5 * 1024 * 1024,
    "WEBHOOK_TOLERANCE": 300,
    "WEBHOOK_PROCESSING": "inline",
    "WEBHOOK_MAX_ATTEMPTS": 5,
    "USAGE_SENDING": "task",
    "SITE_URL": None,
    "CUSTOMER_SYNC": "task",
    "CUSTOMER_ON_DELETE": "keep",
    "PAST_DUE_GRANTS_ACCESS": False,
    "BILLABLE_RESOLVER": None,
    "PRODUCTS": {},
    "EMBED_SCRIPT_URL": "https://cdn.jsdelivr.net/npm/@polar-sh/checkout@0.4/dist/embed.global.js",
    "SUCCESS_URL": None,
    "SUBSCRIPTION_REQUIRED_URL": None,
    "SEAT_CLAIMED_URL": None,
    "GUEST_SIGNUP_URL": None,
    "GUEST_CLAIMED_URL": None,
}

SERVERS: dict[str, str] = {
    "production": "https://api.polar.sh",
    "sandbox": "https://sandbox-api.polar.sh",
}
DASHBOARDS: dict[str, str] = {
    "production": "https://polar.sh/dashboard",
    "sandbox": "https://sandbox.polar.sh/dashboard",
}
SERVER_NAMES = ("production", "sandbox", "emulator")

#: Credentials published in this repository for the emulator demo (example_project) and
#: the benchmarks. They are fine against the emulator, which takes no real payment, and a
#: hole anywhere else: anyone can sign a webhook with them (system check E006).
DEMO_ACCESS_TOKEN = "polar_oat_emulator_demo_token"
DEMO_WEBHOOK_SECRET = "whsec_ZGVtby13ZWJob29rLXNlY3JldC1mb3ItdGhlLWVtdWxhdG9y"
PUBLIC_CREDENTIALS = frozenset(
    {
        DEMO_ACCESS_TOKEN,
        DEMO_WEBHOOK_SECRET,
        "whsec_YmVuY2htYXJrLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3",  # benchmarks/
    }
)
API_VERSION_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


#: A string shown in an error as is: a URL (credentials and query removed), a word, a
#: version or a number. Anything else might be a credential pasted in the wrong key.
_SHOWABLE_RE = re.compile(r"[A-Za-z][A-Za-z _.-]{0,31}|[0-9][0-9._-]{0,15}|v[0-9]{1,3}")


def shown(value: Any) -> str:
    """``value`` as an error message may show it: never something that could be a secret
    (a token put in SERVER, a password in a URL)."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        if redact(value) != value:
            return "a value shaped like a Polar token or secret (not shown)"
        if _is_http_url(value):
            parts = urlsplit(value)
            try:
                port = f":{parts.port}" if parts.port else ""
            except ValueError:
                port = ":<invalid port>"
            netloc = (parts.hostname or "") + port
            return repr(urlunsplit((parts.scheme, netloc, parts.path, "", "")))
        if _SHOWABLE_RE.fullmatch(value):
            return repr(value)
        return f"a {len(value)}-character string (not shown: it may be a secret)"
    return f"a {type(value).__name__} (not shown)"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _optional_str(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value != "")


def _secret(key: str, value: Any) -> str | None:
    # Never echo the value: it is a credential.
    if not isinstance(value, str):
        return f"POLAR['{key}'] must be a string; read it from the environment, e.g. env('POLAR_{key}')."
    if value != value.strip() or any(ch.isspace() for ch in value):
        return (
            f"POLAR['{key}'] contains whitespace; copy the value again without spaces or newlines."
        )
    return None


def _server(value: Any) -> str | None:
    if value in SERVER_NAMES:
        return None
    if _is_http_url(value):
        if urlsplit(value).path.rstrip("/").endswith("/v1"):
            return (
                f"POLAR['SERVER'] is {shown(value)}; give the API root without '/v1' "
                "(paths already start with /v1/), e.g. 'https://sandbox-api.polar.sh'."
            )
        return None
    return (
        f"POLAR['SERVER'] is {shown(value)}; use 'production', 'sandbox', 'emulator' "
        "or an http(s) base URL such as 'https://sandbox-api.polar.sh'."
    )


def _api_version(value: Any) -> str | None:
    if isinstance(value, str) and API_VERSION_RE.match(value):
        return None
    return (
        f"POLAR['API_VERSION'] is {shown(value)}; use a Polar API version as YYYY-MM, "
        f"e.g. '{DEFAULT_API_VERSION}'."
    )


def _organization_id(value: Any) -> str | None:
    if value is None:
        return None
    try:
        uuid.UUID(str(value))
    except ValueError:
        return (
            f"POLAR['ORGANIZATION_ID'] is {shown(value)}; use your organization's UUID from "
            "Polar's organization settings, or None."
        )
    return None


def _positive_number(key: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if _is_number(value) and value > 0:
            return None
        return f"POLAR['{key}'] is {shown(value)}; use a number of seconds greater than 0, e.g. {DEFAULTS[key]!r}."

    return check


def _int_at_least(key: str, minimum: int, unit: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if _is_int(value) and value >= minimum:
            return None
        return f"POLAR['{key}'] is {shown(value)}; use a whole number of {unit} >= {minimum}, e.g. {DEFAULTS[key]!r}."

    return check


def _non_negative_number(key: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if _is_number(value) and value >= 0:
            return None
        return f"POLAR['{key}'] is {shown(value)}; use a number of seconds >= 0, e.g. {DEFAULTS[key]!r}."

    return check


def _choice(key: str, choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return (
            f"POLAR['{key}'] is {shown(value)}; use one of {', '.join(repr(c) for c in choices)}."
        )

    return check


def _bool(key: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool):
            return None
        return f"POLAR['{key}'] is {shown(value)}; use True or False."

    return check


def _http_url(key: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if _is_http_url(value):
            return None
        return f"POLAR['{key}'] is {shown(value)}; use an absolute http(s) URL, e.g. {DEFAULTS[key]!r}."

    return check


def _optional_url_or_name(key: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if _optional_str(value):
            return None
        return f"POLAR['{key}'] is {shown(value)}; use a URL, a path, a URL name, or None."

    return check


def _optional_site_url(value: Any) -> str | None:
    if value is None or (_is_http_url(value) and not urlsplit(value).query):
        return None
    return (
        f"POLAR['SITE_URL'] is {shown(value)}; use the public origin of this site, "
        "e.g. 'https://example.com', or None."
    )


def _billable_resolver(value: Any) -> str | None:
    if value is None or callable(value):
        return None
    if isinstance(value, str) and re.fullmatch(r"[\w.]+\.\w+", value):
        return None
    return (
        f"POLAR['BILLABLE_RESOLVER'] is {shown(value)}; use the dotted path of a function "
        "resolver(request) -> billable or None, e.g. 'myapp.billing.team_for_request'."
    )


def _products(value: Any) -> str | None:
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        return None
    return (
        "POLAR['PRODUCTS'] must map slugs to Polar product ids, "
        "e.g. {'pro-monthly': '<product uuid>'}."
    )


VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    "ACCESS_TOKEN": lambda v: _secret("ACCESS_TOKEN", v),
    "WEBHOOK_SECRET": lambda v: _secret("WEBHOOK_SECRET", v),
    "SERVER": _server,
    "EMULATOR_URL": _http_url("EMULATOR_URL"),
    "API_VERSION": _api_version,
    "ORGANIZATION_ID": _organization_id,
    "TIMEOUT": _positive_number("TIMEOUT"),
    "CONNECT_TIMEOUT": _positive_number("CONNECT_TIMEOUT"),
    "MAX_RETRIES": _int_at_least("MAX_RETRIES", 0, "retries"),
    "RETRY_BACKOFF": _non_negative_number("RETRY_BACKOFF"),
    "RETRY_MAX_WAIT": _positive_number("RETRY_MAX_WAIT"),
    "DEADLINE": _positive_number("DEADLINE"),
    "RETRY_BUDGET": _non_negative_number("RETRY_BUDGET"),
    "BACKGROUND_DEADLINE": _positive_number("BACKGROUND_DEADLINE"),
    "BACKGROUND_RETRY_BUDGET": _non_negative_number("BACKGROUND_RETRY_BUDGET"),
    "WEBHOOK_MAX_BODY_BYTES": _int_at_least("WEBHOOK_MAX_BODY_BYTES", 1, "bytes"),
    "WEBHOOK_TOLERANCE": _positive_number("WEBHOOK_TOLERANCE"),
    "WEBHOOK_PROCESSING": _choice("WEBHOOK_PROCESSING", ("inline", "task")),
    "USAGE_SENDING": _choice("USAGE_SENDING", ("task", "inline", "cron")),
    "WEBHOOK_MAX_ATTEMPTS": _int_at_least("WEBHOOK_MAX_ATTEMPTS", 1, "attempts"),
    "SITE_URL": _optional_site_url,
    "CUSTOMER_SYNC": _choice("CUSTOMER_SYNC", ("task", "inline", "off")),
    "CUSTOMER_ON_DELETE": _choice("CUSTOMER_ON_DELETE", ("keep", "delete", "anonymize")),
    "PAST_DUE_GRANTS_ACCESS": _bool("PAST_DUE_GRANTS_ACCESS"),
    "BILLABLE_RESOLVER": _billable_resolver,
    "PRODUCTS": _products,
    "EMBED_SCRIPT_URL": _http_url("EMBED_SCRIPT_URL"),
    "SUCCESS_URL": _optional_url_or_name("SUCCESS_URL"),
    "SUBSCRIPTION_REQUIRED_URL": _optional_url_or_name("SUBSCRIPTION_REQUIRED_URL"),
    "SEAT_CLAIMED_URL": _optional_url_or_name("SEAT_CLAIMED_URL"),
    "GUEST_SIGNUP_URL": _optional_url_or_name("GUEST_SIGNUP_URL"),
    "GUEST_CLAIMED_URL": _optional_url_or_name("GUEST_CLAIMED_URL"),
}


def setting_errors(raw: Any) -> list[tuple[str, str]]:
    """Return ``(key, message)`` for every problem in a ``POLAR`` dict (empty when valid).

    System checks report all of them; ``validate`` raises the first.
    """
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [("POLAR", "settings.POLAR must be a dict, e.g. POLAR = {'ACCESS_TOKEN': ...}.")]
    problems: list[tuple[str, str]] = []
    for key in raw:
        if key not in DEFAULTS:
            known = ", ".join(sorted(DEFAULTS))
            problems.append(
                (
                    str(key),
                    f"POLAR[{shown(key)}] is not a django-polar setting; known keys: {known}.",
                )
            )
    for key, check in VALIDATORS.items():
        if key in raw:
            message = check(raw[key])
            if message:
                problems.append((key, message))
    return problems


def raw_settings() -> Any:
    """``settings.POLAR`` exactly as the project wrote it (None when absent), unvalidated.

    For the system checks, which must report a broken value instead of crashing on it.
    """
    return getattr(settings, "POLAR", None)


def validate(raw: Any) -> dict[str, Any]:
    """Merge a ``POLAR`` dict over the defaults, raising ImproperlyConfigured when invalid."""
    problems = setting_errors(raw)
    if problems:
        raise ImproperlyConfigured(problems[0][1])
    return {**DEFAULTS, **(raw or {})}


class PolarSettings:
    """Validated, cached view of ``settings.POLAR`` with attribute access."""

    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        values = self._values
        if values is None:
            with self._lock:
                values = self._values = validate(raw_settings())
        return values

    def reload(self) -> None:
        """Forget the cached values; the next access re-reads and re-validates."""
        self._values = None

    def __getattr__(self, name: str) -> Any:
        if name in DEFAULTS:
            return self._load()[name]
        raise AttributeError(f"{name!r} is not a django-polar setting")

    @property
    def base_url(self) -> str:
        """The API root for SERVER, without a trailing slash."""
        server = self.SERVER
        if server == "emulator":
            return self.EMULATOR_URL.rstrip("/")
        return SERVERS.get(server, server).rstrip("/")

    @property
    def dashboard_url(self) -> str:
        """Polar's dashboard for SERVER (links in admin and commands)."""
        server = self.SERVER
        if server == "emulator":
            return self.EMULATOR_URL.rstrip("/") + "/dashboard"
        return DASHBOARDS.get(server, "https://polar.sh/dashboard")

    @property
    def billable_resolver(self) -> Callable[[Any], Any] | None:
        """The imported BILLABLE_RESOLVER callable, or None for the default."""
        resolver = self.BILLABLE_RESOLVER
        if resolver is None or callable(resolver):
            return resolver
        try:
            return import_string(resolver)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"POLAR['BILLABLE_RESOLVER'] is {resolver!r} but it cannot be imported ({exc}); "
                "fix the dotted path."
            ) from exc

    def __repr__(self) -> str:
        return f"<PolarSettings server={self.SERVER!r} api_version={self.API_VERSION!r}>"


polar_settings = PolarSettings()


@receiver(setting_changed)
def _reload_polar_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "POLAR":
        polar_settings.reload()
