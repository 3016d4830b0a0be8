"""The MCP endpoint: ``path("polar/mcp/", include("django_polar.agents.urls"))``.

Needs the ``agents`` extra (``pip install "django-polar[agents]"``).
"""

from django.urls import path

from .views import mcp_endpoint

app_name = "django_polar_agents"

urlpatterns = [path("", mcp_endpoint, name="mcp")]
