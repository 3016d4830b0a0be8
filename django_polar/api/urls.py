"""Optional JSON billing API: ``path("api/billing/", include("django_polar.api.urls"))``.

URL names carry a ``polar-api-`` prefix (no namespace, so DRF's hyperlinks resolve).
"""

from django.urls import path

from .openapi import SchemaView
from .routes import api_patterns

urlpatterns = [
    *api_patterns,
    path("schema/", SchemaView.as_view(), name="polar-api-schema"),
]
