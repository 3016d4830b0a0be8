"""How the API's views describe themselves in the OpenAPI document (``openapi`` builds it)."""

from __future__ import annotations

from typing import Any

from rest_framework.schemas.openapi import AutoSchema


class BillingAutoSchema(AutoSchema):
    """DRF's AutoSchema, plus a separate response serializer where a view declares one
    (a checkout request is not shaped like the checkout it returns)."""

    def get_response_serializer(self, path: str, method: str) -> Any:
        response_class = getattr(self.view, "response_serializer_class", None)
        if response_class is not None:
            return response_class()
        return super().get_response_serializer(path, method)

    def get_operation_id(self, path: str, method: str) -> str:
        names = getattr(self.view, "operation_names", {})
        key = getattr(self.view, "action", None) or method.lower()
        return names.get(key) or super().get_operation_id(path, method)

    def get_operation_id_base(self, path: str, method: str, action: str) -> str:
        # DRF pluralizes list ids with ``inflection``; "...List" needs no extra package.
        if action == "list":
            return super().get_operation_id_base(path, method, "retrieve") + "List"
        return super().get_operation_id_base(path, method, action)

    def get_tags(self, path: str, method: str) -> list[str]:
        return ["billing"]
