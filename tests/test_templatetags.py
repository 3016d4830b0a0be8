"""{% load polar %}: rendering never calls Polar and escapes everything."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template, TemplateSyntaxError

from django_polar.errors import UnknownProductError
from tests.fixtures import (  # noqa: F401  (the polar fixture)
    make_customer,
    make_grant,
    make_product,
    make_subscription,
    polar_fixture,
    polar_product,
)
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


def render(source: str, **context) -> str:
    return Template("{% load polar %}" + source).render(Context(context)).strip()


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com")


def test_embed_script_is_pinned_deferred_and_overridable(settings):
    html = render("{% polar_embed_script %}")
    assert html == (
        '<script src="https://cdn.jsdelivr.net/npm/@polar-sh/checkout@0.4/dist/embed.global.js" '
        "defer data-auto-init></script>"
    )
    settings.POLAR = {
        **settings.POLAR,
        "EMBED_SCRIPT_URL": "https://static.example.com/embed.js?a=1&b=2",
    }
    assert 'src="https://static.example.com/embed.js?a=1&amp;b=2"' in render(
        "{% polar_embed_script %}"
    )


def test_button_for_a_product_points_at_our_checkout_view(settings):
    product = make_product()
    settings.POLAR = {**settings.POLAR, "PRODUCTS": {"pro-monthly": str(product.pk)}}
    html = render(
        '{% polar_checkout_button "pro-monthly" "Upgrade" theme="dark" class="btn btn-primary" %}'
    )
    assert html == (
        '<a href="/polar/checkout/pro-monthly/" data-polar-checkout '
        'data-polar-checkout-theme="dark" class="btn btn-primary">Upgrade</a>'
    )
    html = render("{% polar_checkout_button product %}", product=product)
    assert f'href="/polar/checkout/{product.pk}/"' in html
    assert 'data-polar-checkout-theme="light"' in html


def test_button_passes_seats_and_next_to_the_view(settings):
    product = make_product()
    html = render('{% polar_checkout_button p "Buy" seats=3 next="/team/?a=1" %}', p=product)
    assert f'href="/polar/checkout/{product.pk}/?seats=3&amp;next=%2Fteam%2F%3Fa%3D1"' in html


def test_button_for_an_existing_checkout_uses_its_url():
    checkout = {"id": "c", "url": "https://sandbox.polar.sh/checkout/polar_c_123"}
    html = render('{% polar_checkout_button checkout "Pay" %}', checkout=checkout)
    assert 'href="https://sandbox.polar.sh/checkout/polar_c_123"' in html


def test_a_checkout_builder_not_created_yet_is_refused_without_calling_polar(user, settings):
    settings.POLAR = {**settings.POLAR, "SERVER": "https://polar.invalid"}
    builder = user.checkout([make_product()])
    with pytest.raises(TemplateSyntaxError, match="not created yet"):
        render("{% polar_checkout_button builder %}", builder=builder)
    assert not builder.created


def test_a_created_checkout_builder_uses_its_url(polar, user):
    product = polar_product("Pro monthly", amount=1000)
    builder = user.checkout([product])
    url = builder.url  # the view creates it
    assert builder.created
    html = render("{% polar_checkout_button builder %}", builder=builder)
    assert f'href="{url}"' in html
    assert len(polar.store.checkouts) == 1


def test_every_attribute_and_the_label_are_escaped():
    product = make_product()
    evil = '"><script>alert(1)</script>'
    html = render(
        "{% polar_checkout_button product label class=evil id=evil %}",
        product=product,
        label=evil,
        evil=evil,
    )
    assert "<script>" not in html
    assert html.count("&quot;&gt;&lt;script&gt;") == 3


def test_unknown_slug_or_theme_fail_loudly():
    with pytest.raises(UnknownProductError):
        render('{% polar_checkout_button "no-such-slug" %}')
    with pytest.raises(TemplateSyntaxError, match="theme"):
        render('{% polar_checkout_button "x" theme="purple" %}')
    with pytest.raises(TemplateSyntaxError, match="onclick"):
        render('{% polar_checkout_button "x" onclick="steal()" %}')


def test_portal_and_checkout_url_tags():
    product = make_product()
    assert render("{% polar_portal_url %}") == "/polar/portal/"
    assert render('{% polar_portal_url next="/account/" %}') == "/polar/portal/?next=%2Faccount%2F"
    assert render("{% polar_checkout_url p %}", p=product) == f"/polar/checkout/{product.pk}/"


def test_state_filters(user):
    product = make_product()
    customer = make_customer(user)
    grant = make_grant(customer)
    source = (
        "{% if u|subscribed %}S{% endif %}{% if u|subscribed:'swimming' %}W{% endif %}"
        "{% if u|on_trial %}T{% endif %}{% if u|has_benefit:b %}B{% endif %}"
        "{% if u|subscribed_to_product:p %}P{% endif %}"
    )
    assert render(source, u=user, b=str(grant.benefit_id), p=product) == "B"
    make_subscription(customer, product, status="trialing")
    make_subscription(customer, product, type="swimming")
    assert render(source, u=user, b=str(grant.benefit_id), p=product) == "SWTBP"


def test_subscribed_to_product_filter_means_the_default_type_like_the_method(user):
    product = make_product()
    make_subscription(make_customer(user), product, type="swimming")
    source = "{% if u|subscribed_to_product:p %}yes{% else %}no{% endif %}"
    assert not user.subscribed_to_product(product)
    assert render(source, u=user, p=product) == "no"
    assert user.subscribed_to_product(product, type="swimming")


def test_filters_are_false_for_anonymous_users():
    assert render("{% if u|subscribed %}yes{% else %}no{% endif %}", u=AnonymousUser()) == "no"
    assert render("{% if u|has_benefit:'x' %}yes{% else %}no{% endif %}", u=None) == "no"


def test_rendering_never_calls_polar(settings, django_assert_num_queries):
    # No client is configured for a reachable server: any HTTP call would fail the render.
    settings.POLAR = {
        **settings.POLAR,
        "SERVER": "https://polar.invalid",
        "PRODUCTS": {"pro": "9c1f2d43-0a6e-4c8e-9a57-1a2b3c4d5e6f"},
    }
    with django_assert_num_queries(0):
        html = render('{% polar_embed_script %}{% polar_checkout_button "pro" "Go" %}')
    assert "/polar/checkout/pro/" in html
