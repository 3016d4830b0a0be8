from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from example_project.notes.api import NoteExportView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("polar/", include("django_polar.urls")),
    # The billing API's docs for people: Swagger UI, served from the sidecar's static files
    # (no CDN; drf-spectacular's Redoc page loads Google's fonts), reading api/billing/schema/.
    path(
        "api/billing/docs/",
        SpectacularSwaggerView.as_view(url_name="polar-api-schema"),
        name="api-docs",
    ),
    path("api/billing/", include("django_polar.api.urls")),
    # MCP for AI assistants (streamable HTTP, Bearer agent tokens): docs/agents.md.
    path("polar/mcp/", include("django_polar.agents.urls")),
    path("api/notes/export/", NoteExportView.as_view(), name="notes-export"),
    path("", include("example_project.notes.urls")),
]
