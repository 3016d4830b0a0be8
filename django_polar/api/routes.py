"""The API's routes (without the schema endpoint, which is built from them)."""

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("subscriptions", views.SubscriptionViewSet, basename="polar-api-subscription")
router.register("orders", views.OrderViewSet, basename="polar-api-order")

api_patterns: list[URLPattern | URLResolver] = [
    path("state/", views.BillingStateView.as_view(), name="polar-api-state"),
    path("products/", views.ProductListView.as_view(), name="polar-api-products"),
    path("benefits/", views.BenefitGrantListView.as_view(), name="polar-api-benefits"),
    path("checkouts/", views.CheckoutCreateView.as_view(), name="polar-api-checkouts"),
    path("portal/", views.PortalSessionView.as_view(), name="polar-api-portal"),
    path(
        "license-keys/activate/",
        views.LicenseKeyActivateView.as_view(),
        name="polar-api-license-key-activate",
    ),
    path("", include(router.urls)),
]
