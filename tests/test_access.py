"""Access control: decorators, class-based view mixins and DRF permissions."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.views import View
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from django_polar.access import (
    BenefitRequiredMixin,
    SubscriptionRequiredMixin,
    benefit_required,
    subscription_required,
)
from django_polar.api.permissions import HasActiveSubscription, HasBenefit
from tests.fixtures import make_customer, make_grant, make_product, make_subscription
from tests.testapp.models import Team, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return User.objects.create_user("ada", "ada@example.com")


@pytest.fixture
def product():
    return make_product()


def get(user, path="/reports/?x=1"):
    request = RequestFactory().get(path)
    request.user = user
    return request


def ok(request, *args, **kwargs):
    return HttpResponse("secret")


def test_anonymous_users_go_to_login():
    response = subscription_required(ok)(get(AnonymousUser()))
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/reports/%3Fx%3D1"


def test_without_subscription_it_is_403_by_default(user):
    with pytest.raises(PermissionDenied):
        subscription_required(ok)(get(user))


def test_with_subscription_the_view_runs(user, product):
    make_subscription(make_customer(user), product)
    assert subscription_required(ok)(get(user)).content == b"secret"


def test_type_and_product_are_respected(user, product):
    make_subscription(make_customer(user), product, type="swimming")
    view = subscription_required(type="swimming")(ok)
    assert view(get(user)).status_code == 200
    with pytest.raises(PermissionDenied):
        subscription_required(type="swimming", product=make_product("Other"))(ok)(get(user))


def test_redirect_to_pricing_keeps_next(user, settings):
    response = subscription_required(redirect_to="/pricing/")(ok)(get(user))
    assert response.status_code == 302
    assert response["Location"] == "/pricing/?next=%2Freports%2F%3Fx%3D1"
    settings.POLAR = {**settings.POLAR, "SUBSCRIPTION_REQUIRED_URL": "/plans/?from=gate"}
    response = subscription_required(ok)(get(user))
    assert response["Location"] == "/plans/?from=gate&next=%2Freports%2F%3Fx%3D1"


def test_a_canceled_subscription_loses_access(user, product):
    make_subscription(make_customer(user), product, status="canceled")
    with pytest.raises(PermissionDenied):
        subscription_required(ok)(get(user))


def test_benefit_required(user):
    grant = make_grant(make_customer(user))
    assert benefit_required(grant.benefit_id)(ok)(get(user)).status_code == 200
    with pytest.raises(PermissionDenied):
        benefit_required("00000000-0000-4000-8000-000000000000")(ok)(get(user))


def test_team_billing_through_the_resolver(user, product, settings):
    team = Team.objects.create(name="T", owner=user)
    make_subscription(make_customer(team), product)
    with pytest.raises(PermissionDenied):
        subscription_required(ok)(get(user))  # the user pays nothing itself
    settings.POLAR = {**settings.POLAR, "BILLABLE_RESOLVER": "tests.test_billable.team_of_request"}
    assert subscription_required(ok)(get(user)).status_code == 200


class Reports(SubscriptionRequiredMixin, View):
    def get(self, request):
        return HttpResponse("reports")


class Discord(BenefitRequiredMixin, View):
    access_redirect_to = "/upgrade/"

    def get(self, request):
        return HttpResponse("discord")


def test_view_mixins(user, product):
    with pytest.raises(PermissionDenied):
        Reports.as_view()(get(user))
    make_subscription(make_customer(user), product)
    assert Reports.as_view()(get(user)).content == b"reports"
    grant = make_grant(user.polar_customer)
    assert Discord.as_view(required_benefit="00000000-0000-4000-8000-000000000000")(get(user))[
        "Location"
    ].startswith("/upgrade/?next=")
    assert Discord.as_view(required_benefit=grant.benefit_id)(get(user)).status_code == 200


class ApiReports(APIView):
    permission_classes = [HasActiveSubscription]

    def get(self, request):
        return HttpResponse("api")


class ApiDiscord(APIView):
    permission_classes = [HasBenefit]
    polar_benefit = None

    def get(self, request):
        return HttpResponse("api")


def api_get(user):
    request = APIRequestFactory().get("/api/")
    force_authenticate(request, user=user)
    return request


def test_drf_permissions(user, product):
    assert ApiReports.as_view()(api_get(user)).status_code == 403
    make_subscription(make_customer(user), product)
    assert ApiReports.as_view()(api_get(user)).status_code == 200
    grant = make_grant(user.polar_customer)
    assert ApiDiscord.as_view(polar_benefit=grant.benefit_id)(api_get(user)).status_code == 200
    other = "00000000-0000-4000-8000-000000000000"
    assert ApiDiscord.as_view(polar_benefit=other)(api_get(user)).status_code == 403


def test_drf_anonymous_is_refused(product):
    request = APIRequestFactory().get("/api/")
    assert ApiReports.as_view()(request).status_code in (401, 403)


def test_the_default_type_is_required_not_any_type(user, product):
    make_subscription(make_customer(user), product, type="swimming")
    with pytest.raises(PermissionDenied):
        subscription_required(ok)(get(user))  # a "swimming" plan is not the "default" one
    with pytest.raises(PermissionDenied):
        Reports.as_view()(get(user))


def test_the_mixin_respects_type_and_product(user, product):
    make_subscription(make_customer(user), product, type="swimming")
    swimming = Reports.as_view(subscription_type="swimming")
    assert swimming(get(user)).content == b"reports"
    with pytest.raises(PermissionDenied):
        Reports.as_view(subscription_type="swimming", subscription_product=make_product("Other"))(
            get(user)
        )
    assert (
        Reports.as_view(subscription_type="swimming", subscription_product=product)(
            get(user)
        ).content
        == b"reports"
    )


def test_the_403_says_why(user):
    with pytest.raises(PermissionDenied) as denied:
        subscription_required(ok)(get(user))
    assert str(denied.value) == "This page needs an active subscription."
    with pytest.raises(PermissionDenied) as denied:
        Reports.as_view()(get(user))
    assert str(denied.value) == "This page needs an active subscription."
    with pytest.raises(PermissionDenied) as denied:
        Reports.as_view(access_denied_message="Pro plans only.")(get(user))
    assert str(denied.value) == "Pro plans only."


def test_a_logged_in_user_without_a_billable_is_refused_not_sent_to_login(user, settings):
    settings.POLAR = {**settings.POLAR, "BILLABLE_RESOLVER": "tests.test_billable.team_of_request"}
    with pytest.raises(PermissionDenied):  # no team: logging in again would loop
        subscription_required(ok)(get(user))
    response = subscription_required(redirect_to="/pricing/")(ok)(get(user))
    assert response["Location"] == "/pricing/?next=%2Freports%2F%3Fx%3D1"


def test_benefit_required_redirects_where_asked(user):
    response = benefit_required("00000000-0000-4000-8000-000000000000", redirect_to="/upgrade/")(
        ok
    )(get(user))
    assert response.status_code == 302
    assert response["Location"] == "/upgrade/?next=%2Freports%2F%3Fx%3D1"


def test_a_benefit_gate_without_a_benefit_fails_at_import():
    message = "benefit_required needs the Polar benefit id to check."
    with pytest.raises(ImproperlyConfigured) as missing:
        benefit_required(None)
    assert str(missing.value) == message
    with pytest.raises(ImproperlyConfigured) as missing:
        Discord.as_view()(get(AnonymousUser()))
    assert str(missing.value) == message


class Invoice(SubscriptionRequiredMixin, View):
    def get(self, request, *args, **kwargs):
        return HttpResponse(f"{args} {kwargs}")


def test_the_mixin_passes_url_arguments_to_the_view(user, product):
    make_subscription(make_customer(user), product)
    assert Invoice.as_view()(get(user), "2026", number="7").content == b"('2026',) {'number': '7'}"


def test_the_old_import_path_of_the_drf_permissions_warns_and_still_works():
    import django_polar.access as access
    from django_polar.api import permissions

    for name in ("HasBillable", "HasActiveSubscription", "HasBenefit"):
        with pytest.warns(DeprecationWarning) as caught:
            moved = getattr(access, name)
        assert moved is getattr(permissions, name)
        [warning] = caught
        assert str(warning.message) == (
            f"django_polar.access.{name} moved to django_polar.api.permissions.{name}; "
            "import it from there."
        )
        assert warning.filename != access.__file__  # points at the caller, not at itself
    with pytest.raises(
        AttributeError, match=r"module 'django_polar\.access' has no attribute 'Nope'"
    ):
        access.Nope  # noqa: B018
