"""The checkout builder: what it asks Polar for, and what it refuses."""

import pytest
from django.test import RequestFactory

from django_polar.errors import CheckoutError, ReservedMetadataKeyError, UnknownProductError
from django_polar.models import SUBSCRIPTION_TYPE_KEY, resolve_product_id
from tests.fixtures import make_product
from tests.testapp.models import Team, User

pytestmark = pytest.mark.django_db

PRODUCT_ID = "9c1f2d43-0a6e-4c8e-9a57-1a2b3c4d5e6f"
DISCOUNT_ID = "1dbfc517-0bbf-4301-9ba8-555ca42b9737"


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com")


def test_minimal_payload_names_the_customer_by_external_id(user):
    payload = user.checkout(PRODUCT_ID).payload()
    assert payload == {
        "products": [PRODUCT_ID],
        "external_customer_id": f"testapp.user:{user.pk}",
        "metadata": {SUBSCRIPTION_TYPE_KEY: "default"},
    }


def test_every_option_lands_in_the_payload(user):
    request = RequestFactory().get("/pricing/", HTTP_HOST="shop.example.com", secure=True)
    builder = (
        user.checkout([PRODUCT_ID])
        .for_request(request)
        .with_success_url("/thanks/?c={CHECKOUT_ID}")
        .with_return_url("/pricing/")
        .with_metadata({"campaign": "spring"}, seats_from="landing")
        .with_customer_metadata(plan="pro")
        .with_discount(DISCOUNT_ID)
        .without_discount_codes()
        .with_amount(2500)
        .with_seats(5)
        .with_trial(14)
        .as_type("swimming")
    )
    assert builder.payload() == {
        "products": [PRODUCT_ID],
        "external_customer_id": f"testapp.user:{user.pk}",
        "success_url": "https://shop.example.com/thanks/?c={CHECKOUT_ID}",
        "return_url": "https://shop.example.com/pricing/",
        "metadata": {
            "campaign": "spring",
            "seats_from": "landing",
            SUBSCRIPTION_TYPE_KEY: "swimming",
        },
        "customer_metadata": {"plan": "pro"},
        "discount_id": DISCOUNT_ID,
        "allow_discount_codes": False,
        "amount": 2500,
        "seats": 5,
        "embed_origin": "https://shop.example.com",
        "trial_interval": "day",
        "trial_interval_count": 14,
    }


def test_default_success_url_is_our_success_view_with_the_checkout_id(user):
    request = RequestFactory().get("/", HTTP_HOST="shop.example.com")
    payload = user.checkout(PRODUCT_ID, request=request).payload()
    assert (
        payload["success_url"]
        == "http://shop.example.com/polar/checkout/success/?checkout_id={CHECKOUT_ID}"
    )


def test_configured_success_url(user, settings):
    settings.POLAR = {**settings.POLAR, "SUCCESS_URL": "https://app.example.com/welcome"}
    payload = user.checkout(PRODUCT_ID).payload()
    assert payload["success_url"] == "https://app.example.com/welcome?checkout_id={CHECKOUT_ID}"


def test_relative_urls_without_a_request_are_left_to_polar(user):
    payload = user.checkout(PRODUCT_ID, return_url="/back/").payload()
    assert "success_url" not in payload and "return_url" not in payload


def test_shortcuts(user):
    assert user.subscribe(PRODUCT_ID, type="swimming").payload()["metadata"] == {
        SUBSCRIPTION_TYPE_KEY: "swimming"
    }
    charge = user.charge(1234, PRODUCT_ID).payload()
    assert charge["amount"] == 1234 and charge["products"] == [PRODUCT_ID]
    options = user.checkout(
        PRODUCT_ID, seats=3, discount=DISCOUNT_ID, allow_discount_codes=False
    ).payload()
    assert (options["seats"], options["discount_id"], options["allow_discount_codes"]) == (
        3,
        DISCOUNT_ID,
        False,
    )


def test_subscribe_and_charge_pass_the_checkout_options_on(user):
    subscribe = user.subscribe(PRODUCT_ID, seats=3, discount=DISCOUNT_ID).payload()
    assert (subscribe["seats"], subscribe["discount_id"]) == (3, DISCOUNT_ID)
    charge = user.charge(1234, PRODUCT_ID, metadata={"gift": "yes"}).payload()
    assert charge["metadata"] == {"gift": "yes", SUBSCRIPTION_TYPE_KEY: "default"}


def test_team_checkout_uses_the_teams_external_id(user):
    team = Team.objects.create(name="T", owner=user)
    assert team.checkout(PRODUCT_ID).payload()["external_customer_id"] == f"testapp.team:{team.pk}"


def test_products_by_slug_row_or_id(user, settings):
    product = make_product()
    settings.POLAR = {**settings.POLAR, "PRODUCTS": {"pro-monthly": PRODUCT_ID}}
    assert user.checkout(["pro-monthly", product]).product_ids == [PRODUCT_ID, str(product.pk)]
    assert resolve_product_id(PRODUCT_ID.upper()) == PRODUCT_ID


def test_unknown_product_is_a_clear_error(user):
    with pytest.raises(UnknownProductError, match="POLAR\\['PRODUCTS'\\]"):
        user.checkout("pro-monthly")
    with pytest.raises(CheckoutError, match="at least one product"):
        user.checkout([])


def test_reserved_metadata_key_is_refused(user):
    with pytest.raises(ReservedMetadataKeyError, match="as_type"):
        user.checkout(PRODUCT_ID).with_metadata({SUBSCRIPTION_TYPE_KEY: "x"})
    with pytest.raises(ReservedMetadataKeyError):
        user.checkout(PRODUCT_ID, metadata={SUBSCRIPTION_TYPE_KEY: "x"})


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.with_amount(-1),
        lambda b: b.with_amount(True),
        lambda b: b.with_seats(0),
        lambda b: b.with_seats(10001),
        lambda b: b.with_discount("not-a-uuid"),
        lambda b: b.with_embed_origin("javascript:alert(1)"),
        lambda b: b.with_embed_origin("https://example.com/page"),
        lambda b: b.with_embed_origin(),
        lambda b: b.with_metadata({"k": ["list"]}),
        lambda b: b.with_metadata({"x" * 41: "v"}),
        lambda b: b.as_type(""),
        lambda b: b.with_trial(0),
    ],
)
def test_bad_options_raise_checkout_errors(user, call):
    with pytest.raises(CheckoutError):
        call(user.checkout(PRODUCT_ID))
