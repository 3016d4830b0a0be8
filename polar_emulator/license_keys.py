"""License keys issued by license_keys benefits: validate, activate, deactivate."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .errors import APIError, bad_request, forbidden, not_found
from .grants import license_expiry
from .store import iso, parse_iso
from .validation import Body

if TYPE_CHECKING:
    from .core import Emulator


class LicenseKeys:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def issue(self, benefit: dict[str, Any], grant: dict[str, Any]) -> dict[str, Any]:
        existing = grant["properties"].get("license_key_id")
        if existing and existing in self.st.license_keys:
            self.set_status(existing, "granted")
            return self.st.license_keys[existing]
        props = benefit["properties"]
        raw = str(uuid.UUID(int=self.st.rng.getrandbits(128), version=4)).upper()
        key = f"{props['prefix']}_{raw}" if props.get("prefix") else raw
        now = self.emu.clock.now()
        expires = license_expiry(benefit, now)
        record = {
            "id": self.st.new_id(),
            "created_at": iso(now),
            "modified_at": None,
            "organization_id": self.st.organization["id"],
            "customer_id": grant["customer_id"],
            "member_id": None,
            "benefit_id": benefit["id"],
            "key": key,
            "display_key": f"****-{key[-6:]}",
            "status": "granted",
            "limit_activations": (props.get("activations") or {}).get("limit"),
            "usage": 0,
            "limit_usage": props.get("limit_usage"),
            "validations": 0,
            "last_validated_at": None,
            "expires_at": iso(expires),
        }
        self.st.license_keys[record["id"]] = record
        return record

    def set_status(self, key_id: str | None, status: str) -> None:
        if key_id and key_id in self.st.license_keys:
            record = self.st.license_keys[key_id]
            record["status"] = status
            record["modified_at"] = iso(self.emu.clock.now())

    def extend(self, key_id: str | None, benefit: dict[str, Any]) -> None:
        if key_id and key_id in self.st.license_keys:
            expires = license_expiry(benefit, self.emu.clock.now())
            if expires is not None:
                self.st.license_keys[key_id]["expires_at"] = iso(expires)

    def get(self, key_id: str) -> dict[str, Any]:
        record = self.st.license_keys.get(key_id)
        if record is None:
            raise not_found("License key not found")
        return record

    def _lookup(self, body: Body) -> dict[str, Any]:
        """The key by value and organization, whatever its status
        (license_key/repository.py ``get_readable_by_key``)."""
        key = body.str("key", required=True, nullable=False)
        org = body.uuid("organization_id", required=True)
        record = next((k for k in self.st.license_keys.values() if k["key"] == key), None)
        if record is None or org != self.st.organization["id"]:
            raise not_found()
        return record

    def _expired(self, record: dict[str, Any]) -> bool:
        return bool(
            record["expires_at"] and self.emu.clock.now() >= parse_iso(record["expires_at"])
        )

    def activation_of(self, record: dict[str, Any], activation_id: str) -> dict[str, Any]:
        activation = self.st.activations.get(activation_id)
        if activation is None or activation["license_key_id"] != record["id"]:
            raise not_found()  # license_key/service.py get_activation_or_raise
        return activation

    def validate(self, data: Any) -> dict[str, Any]:
        """license_key/service.py ``validate``, check by check and message by message."""
        body = Body(data)
        record = self._lookup(body)
        activation_id = body.uuid("activation_id")
        benefit_id = body.uuid("benefit_id")
        customer_id = body.uuid("customer_id")
        increment = body.int("increment_usage", ge=0)
        conditions = body.metadata("conditions") or {}
        if record["status"] != "granted":
            raise not_found("License key is no longer active.")
        if self._expired(record):
            raise not_found("License key has expired.")
        activation = None
        if activation_id is not None:
            activation = self.activation_of(record, activation_id)
            # The activation's conditions must all be given back, exactly: an activation
            # made with conditions fails a validation that omits them.
            if activation["_conditions"] and conditions != activation["_conditions"]:
                raise not_found("License key does not match required conditions")
        if benefit_id is not None and benefit_id != record["benefit_id"]:
            raise not_found("License key does not match given benefit.")
        if customer_id is not None and customer_id != record["customer_id"]:
            raise not_found("License key does not match given user.")
        if increment and record["limit_usage"]:
            remaining = record["limit_usage"] - record["usage"]
            if increment > remaining:
                raise bad_request(f"License key only has {remaining} more usages.")
        if increment:
            record["usage"] += increment
        now = iso(self.emu.clock.now())
        record["validations"] += 1
        record["last_validated_at"] = now
        record["modified_at"] = now
        out = self.emu.ser.license_key(record["id"])
        out["activation"] = self.render_activation(activation) if activation else None
        return out

    def activate(self, data: Any) -> dict[str, Any]:
        """license_key/service.py ``activate``: inactive or expired keys are 403s here."""
        body = Body(data)
        record = self._lookup(body)
        label = body.str("label", required=True, nullable=False)
        conditions = body.metadata("conditions") or {}
        meta = body.metadata("meta") or {}
        if record["status"] != "granted":
            raise forbidden(
                "NotPermitted",
                "License key is no longer active. This license key can not be activated.",
            )
        if self._expired(record):
            raise forbidden("NotPermitted", "License key has expired.")
        if not record["limit_activations"]:
            raise forbidden(
                "NotPermitted",
                "This license key does not support activations. "
                "Use the /validate endpoint instead to check license validity.",
            )
        active = [a for a in self.st.activations.values() if a["license_key_id"] == record["id"]]
        if len(active) >= record["limit_activations"]:
            raise forbidden("NotPermitted", "License key activation limit already reached")
        now = iso(self.emu.clock.now())
        activation = {
            "id": self.st.new_id(),
            "license_key_id": record["id"],
            "label": label,
            "meta": meta,
            "created_at": now,
            "modified_at": None,
            "_conditions": conditions,
        }
        self.st.activations[activation["id"]] = activation
        return activation

    def deactivate(self, data: Any) -> None:
        body = Body(data)
        record = self._lookup(body)
        activation_id = body.uuid("activation_id", required=True)
        del self.st.activations[self.activation_of(record, activation_id)["id"]]

    def render_activation(self, activation: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in activation.items() if not k.startswith("_")}

    def update(self, key_id: str, data: Any) -> dict[str, Any]:
        """PATCH /v1/license-keys/{id} (``LicenseKeyUpdate``): only the fields sent change
        (license_key/service.py ``update``: ``model_dump(exclude_unset=True)``)."""
        record = self.get(key_id)
        body = Body(data)
        changes: dict[str, Any] = {}
        if body.has("status"):
            status = body.choice("status", ("granted", "revoked", "disabled"))
            if status is not None:
                changes["status"] = status
        if body.has("usage"):
            changes["usage"] = body.int("usage", 0, ge=-(2**31), le=2**31 - 1)
        for field in ("limit_activations", "limit_usage"):
            if body.has(field):
                changes[field] = body.int(field, gt=0, le=2**31 - 1)
        if body.has("expires_at"):
            changes["expires_at"] = iso(body.datetime("expires_at"))
        record.update(changes)
        record["modified_at"] = iso(self.emu.clock.now())
        return record


__all__ = ["APIError", "LicenseKeys"]
