"""Read-only admin pages: the mirror and the inbox are written by Polar, never by hand.

Rows change only through the mirror (webhooks, sync, actions); an edit in the admin would
be overwritten by the next snapshot, so no admin page may add, change or delete them.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """No add, change or delete permission (for ModelAdmins and inlines alike)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
