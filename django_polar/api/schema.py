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

    def get_responses(self, path: str, method: str) -> dict[str, Any]:
        """DRF documents every POST as a 201; a view's ``response_statuses`` names the
        statuses an action really answers with (an action on a subscription is a 200)."""
        responses = super().get_responses(path, method)
        key = getattr(self.view, "action", None) or method.lower()
        statuses = getattr(self.view, "response_statuses", {}).get(key)
        if not statuses:
            return responses
        [documented] = responses.values()
        return {str(status): documented for status in statuses}

    def map_field(self, field: Any) -> dict[str, Any]:
        shape = getattr(field, "shape", None)  # serializers.TypedMethodField
        return super().map_field(field if shape is None else shape)

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
