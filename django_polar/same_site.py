"""What belongs to this site: URLs the browser may be sent back to, origins that may embed.

Both come from requests (a ``next`` parameter, an API body), so both are checked against
the hosts Django itself accepts, never trusted as given.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from django.utils.http import url_has_allowed_host_and_scheme


def same_site_url(request: HttpRequest, url: str | None) -> str | None:
    """``url`` if it points to this site (relative or same host and scheme), else None."""
    if not url:
        return None
    if url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def split_origin(origin: str) -> tuple[str, str] | None:
    """``(scheme, netloc)`` of an origin such as ``https://example.com:8443``, or None when
    ``origin`` is not one: another scheme, a path, query, fragment or credentials, or not a
    parsable URL at all (``http://[`` makes ``urlsplit`` raise)."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or "@" in parts.netloc:
        return None
    return parts.scheme, parts.netloc


def is_allowed_origin(origin: str) -> bool:
    """Whether ``origin`` (``scheme://host[:port]``) is served by this site: http(s) and a
    host that passes ``ALLOWED_HOSTS`` (with Django's DEBUG defaults for localhost)."""
    split = split_origin(origin)
    if split is None:
        return False
    domain, _port = split_domain_port(split[1])
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)
