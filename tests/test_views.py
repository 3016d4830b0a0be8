"""Checkout, success and portal views: the parts decided before Polar is called."""

import re
import uuid

import pytest
from django.urls import reverse

from tests.fixtures import make_customer, make_order, make_product, make_subscription
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com", "pw")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_checkout_requires_login(client):
    product = make_product()
    url = reverse("django_polar:checkout", args=[product.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize(
    "product", ["no-such-slug", "9c1f2d43-0a6e-4c8e-9a57-1a2b3c4d5e6f", "' OR 1=1 --"]
)
def test_checkout_of_an_unknown_product_is_404(logged_in, product):
    response = logged_in.get(reverse("django_polar:checkout", args=[product]))
    assert response.status_code == 404


def test_checkout_of_an_archived_product_is_404(logged_in):
    archived = make_product(archived=True)
    assert logged_in.get(reverse("django_polar:checkout", args=[archived.pk])).status_code == 404


def test_checkout_with_a_slug_pointing_nowhere_is_404(logged_in, settings):
    settings.POLAR = {**settings.POLAR, "PRODUCTS": {"pro": "not-a-uuid"}}
    assert logged_in.get(reverse("django_polar:checkout", args=["pro"])).status_code == 404


def test_success_page_requires_a_valid_checkout_id(logged_in):
    url = reverse("django_polar:success")
    assert logged_in.get(url).status_code == 400
    response = logged_in.get(url, {"checkout_id": "<script>alert(1)</script>"})
    assert response.status_code == 400
    assert b"<script" not in response.content.lower()  # no markup from the request
    assert b"alert(1)" not in response.content  # not even escaped: the input is not echoed
    assert b"needs a valid checkout_id" in response.content


def test_success_page_says_processing_until_the_mirror_confirms(logged_in, user):
    checkout_id = uuid.uuid4()
    url = reverse("django_polar:success")
    response = logged_in.get(url, {"checkout_id": str(checkout_id)})
    assert response.status_code == 200
    assert b'data-polar-status="processing"' in response.content
    assert b'http-equiv="refresh"' in response.content
    make_order(make_customer(user), make_product(recurring=False), checkout_id=checkout_id)
    response = logged_in.get(url, {"checkout_id": str(checkout_id)})
    assert b'data-polar-status="confirmed"' in response.content
    assert logged_in.get(url, {"checkout_id": str(checkout_id), "format": "json"}).json() == {
        "checkout_id": str(checkout_id),
        "status": "confirmed",
    }


def test_success_page_confirms_a_subscription_checkout(logged_in, user):
    checkout_id = uuid.uuid4()
    make_subscription(make_customer(user), make_product(), checkout_id=checkout_id)
    response = logged_in.get(reverse("django_polar:success"), {"checkout_id": checkout_id})
    assert b'data-polar-status="confirmed"' in response.content


def test_success_page_does_not_confirm_someone_elses_checkout(logged_in):
    other = User.objects.create_user("eve", "eve@example.com")
    checkout_id = uuid.uuid4()
    make_order(make_customer(other), make_product(recurring=False), checkout_id=checkout_id)
    response = logged_in.get(reverse("django_polar:success"), {"checkout_id": checkout_id})
    assert b'data-polar-status="processing"' in response.content


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example.com/",
        "//evil.example.com/",
        "javascript:alert(1)",
        "http:\\\\evil.example.com",
    ],
)
def test_success_page_never_links_off_site(logged_in, next_url):
    response = logged_in.get(
        reverse("django_polar:success"), {"checkout_id": uuid.uuid4(), "next": next_url}
    )
    assert response.status_code == 200
    assert links_of(response) == []
    assert b"evil.example.com" not in response.content and b"javascript:" not in response.content


def links_of(response) -> list[str]:
    """The absolute URLs (or scheme: URLs) in the href, src, action and content attributes."""
    return re.findall(
        r'(?:href|src|action|content)="([^"]*(?://|:)[^"]*)"', response.content.decode()
    )


def test_an_https_page_never_links_down_to_http(logged_in):
    url = reverse("django_polar:success")
    query = {"checkout_id": uuid.uuid4(), "next": "http://testserver/dashboard/"}
    assert links_of(logged_in.get(url, query, secure=True)) == []
    assert links_of(logged_in.get(url, query)) == ["http://testserver/dashboard/"]  # http page
    query["next"] = "https://testserver/dashboard/"
    assert links_of(logged_in.get(url, query, secure=True)) == ["https://testserver/dashboard/"]


def test_success_page_links_to_a_same_site_next(logged_in):
    response = logged_in.get(
        reverse("django_polar:success"),
        {"checkout_id": uuid.uuid4(), "next": "/dashboard/?tab=1&x=2"},
    )
    assert b'href="/dashboard/?tab=1&amp;x=2"' in response.content


def test_portal_requires_login(client):
    response = client.get(reverse("django_polar:portal"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_billable_resolver_returning_none_is_403(logged_in, settings):
    settings.POLAR = {**settings.POLAR, "BILLABLE_RESOLVER": "tests.test_billable.team_of_request"}
    assert logged_in.get(reverse("django_polar:portal")).status_code == 403
    product = make_product()
    assert logged_in.get(reverse("django_polar:checkout", args=[product.pk])).status_code == 403
