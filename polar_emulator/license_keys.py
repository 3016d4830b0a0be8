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
        key = body.str("key", required=True, nullable=False)
        org = body.uuid("organization_id", required=True)
        record = next((k for k in self.st.license_keys.values() if k["key"] == key), None)
        if record is None or org != self.st.organization["id"]:
            raise not_found("License key not found")
        if record["status"] != "granted":
            raise not_found("License key is no longer active.")
        if record["expires_at"] and parse_iso(record["expires_at"]) < self.emu.clock.now():
            raise not_found("License key has expired.")
        return record

    def validate(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        record = self._lookup(body)
        activation = None
        activation_id = body.uuid("activation_id")
        if activation_id is not None:
            activation = self.st.activations.get(activation_id)
            if activation is None or activation["license_key_id"] != record["id"]:
                raise not_found("Activation does not exist.")
        for field in ("benefit_id", "customer_id"):
            value = body.uuid(field)
            if value is not None and value != record[field]:
                raise not_found("License key not found")
        conditions = body.metadata("conditions") or {}
        if activation is not None and conditions and conditions != activation["_conditions"]:
            raise not_found("License key does not match required conditions")
        increment = body.int("increment_usage", ge=0)
        if increment:
            if (
                record["limit_usage"] is not None
                and record["usage"] + increment > record["limit_usage"]
            ):
                remaining = record["limit_usage"] - record["usage"]
                raise bad_request(f"License key only has {remaining} more usages.")
            record["usage"] += increment
        now = iso(self.emu.clock.now())
        record["validations"] += 1
        record["last_validated_at"] = now
        record["modified_at"] = now
        out = self.emu.ser.license_key(record["id"])
        out["activation"] = (
            {k: v for k, v in activation.items() if not k.startswith("_")} if activation else None
        )
        return out

    def activate(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        record = self._lookup(body)
        label = body.str("label", required=True, nullable=False)
        if record["limit_activations"] is None:
            raise forbidden("NotPermitted", "This license key does not support activations.")
        active = [a for a in self.st.activations.values() if a["license_key_id"] == record["id"]]
        if len(active) >= record["limit_activations"]:
            raise forbidden("NotPermitted", "License key activation limit already reached")
        now = iso(self.emu.clock.now())
        activation = {
            "id": self.st.new_id(),
            "license_key_id": record["id"],
            "label": label,
            "meta": body.metadata("meta") or {},
            "created_at": now,
            "modified_at": None,
            "_conditions": body.metadata("conditions") or {},
        }
        self.st.activations[activation["id"]] = activation
        return activation

    def deactivate(self, data: Any) -> None:
        body = Body(data)
        record = self._lookup(body)
        activation_id = body.uuid("activation_id", required=True)
        activation = self.st.activations.get(activation_id)
        if activation is None or activation["license_key_id"] != record["id"]:
            raise not_found("License key activation not found.")
        del self.st.activations[activation_id]


__all__ = ["APIError", "LicenseKeys"]
