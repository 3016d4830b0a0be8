"""Which origins may embed a checkout and which URLs the browser may be sent back to.

Both come from requests (an API body, a ``next`` parameter); each rule here is one a
forged value would otherwise get through.
"""

import pytest
from django.test import RequestFactory

from django_polar.same_site import is_allowed_origin, same_site_url, split_origin


@pytest.mark.parametrize(
    ("origin", "split"),
    [
        ("https://app.example.com", ("https", "app.example.com")),
        ("http://app.example.com:8000", ("http", "app.example.com:8000")),
        ("https://app.example.com/", ("https", "app.example.com")),
        ("HTTPS://app.example.com", ("https", "app.example.com")),  # urlsplit lowers schemes
    ],
)
def test_an_origin_is_its_scheme_and_host(origin, split):
    assert split_origin(origin) == split


@pytest.mark.parametrize(
    "origin",
    [
        "ftp://app.example.com",  # not http(s)
        "javascript:alert(1)",
        "https://",  # no host
        "//app.example.com",  # no scheme
        "https://app.example.com/path",  # a page, not an origin
        "https://app.example.com//",
        "https://app.example.com?x=1",
        "https://app.example.com#top",
        "https://user@app.example.com",  # credentials
        "https://user:pw@app.example.com",
        "http://[",  # not parsable: urlsplit raises
        "https://[::1",
    ],
)
def test_anything_else_is_not_an_origin(origin):
    assert split_origin(origin) is None


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("http://app.example.com:8443", True),
        ("https://shop.example.org", True),  # an exact ALLOWED_HOSTS entry
        ("https://evil.example", False),
        ("https://app.example.com.evil.example", False),
        ("https://example.org", False),  # only shop.example.org is allowed
        ("https://user@app.example.com", False),
        ("https://app.example.com/path", False),
        ("ftp://app.example.com", False),
        ("http://[", False),
    ],
)
def test_only_origins_of_allowed_hosts_may_embed(settings, origin, allowed):
    settings.ALLOWED_HOSTS = [".example.com", "shop.example.org"]
    settings.DEBUG = False
    assert is_allowed_origin(origin) is allowed


@pytest.mark.parametrize(
    ("debug", "origin", "allowed"),
    [
        (True, "http://localhost:8000", True),
        (True, "http://app.localhost", True),
        (True, "http://127.0.0.1:8000", True),
        (True, "http://[::1]:8000", True),
        (True, "https://evil.example", False),
        (False, "http://localhost:8000", False),  # Django's DEBUG defaults only under DEBUG
        (False, "http://127.0.0.1:8000", False),
    ],
)
def test_an_empty_allowed_hosts_means_localhost_only_under_debug(settings, debug, origin, allowed):
    settings.ALLOWED_HOSTS = []
    settings.DEBUG = debug
    assert is_allowed_origin(origin) is allowed


def test_a_configured_allowed_hosts_wins_over_the_debug_defaults(settings):
    settings.ALLOWED_HOSTS = ["app.example.com"]
    settings.DEBUG = True
    assert is_allowed_origin("https://app.example.com")
    assert not is_allowed_origin("http://localhost:8000")


@pytest.mark.parametrize(
    ("secure", "url", "kept"),
    [
        (False, "/dashboard/", True),
        (False, "http://testserver/dashboard/", True),
        (True, "https://testserver/dashboard/", True),
        (True, "http://testserver/dashboard/", False),  # never down from https to http
        (False, "https://evil.example/", False),
        (False, "//evil.example/", False),
        (False, "", False),
        (False, None, False),
    ],
)
def test_same_site_url_keeps_only_this_sites_urls(secure, url, kept):
    request = RequestFactory().get("/", secure=secure)
    assert same_site_url(request, url) == (url if kept else None)
