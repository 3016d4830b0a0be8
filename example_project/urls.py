from django.contrib import admin
from django.urls import include, path

from example_project.notes.api import NoteExportView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("polar/", include("django_polar.urls")),
    path("api/billing/", include("django_polar.api.urls")),
    # MCP for AI assistants (streamable HTTP, Bearer agent tokens): docs/agents.md.
    path("polar/mcp/", include("django_polar.agents.urls")),
    path("api/notes/export/", NoteExportView.as_view(), name="notes-export"),
    path("", include("example_project.notes.urls")),
]
