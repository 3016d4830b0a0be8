"""URLs of django-polar: include with ``path("polar/", include("django_polar.urls"))``."""

from django.urls import path

from . import guest_views, views
from .webhooks import views as webhook_views

app_name = "django_polar"

urlpatterns: list = [
    path("checkout/success/", views.CheckoutSuccessView.as_view(), name="success"),
    path("checkout/claim/", guest_views.GuestClaimView.as_view(), name="guest-claim"),
    path(
        "checkout/<str:product>/guest/",
        guest_views.GuestCheckoutView.as_view(),
        name="guest-checkout",
    ),
    path("checkout/<str:product>/", views.CheckoutView.as_view(), name="checkout"),
    path("portal/", views.CustomerPortalView.as_view(), name="portal"),
    path("seats/claim/", views.SeatClaimView.as_view(), name="seat-claim"),
    path("webhook/", webhook_views.webhook, name="webhook"),
]
