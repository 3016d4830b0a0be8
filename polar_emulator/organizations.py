"""The organization's settings that change what subscriptions and checkouts may do, with
Polar's defaults, the dashboard control to change them and ``PATCH /v1/organizations/{id}``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import invalid
from .store import iso
from .validation import Body

if TYPE_CHECKING:
    from .core import Emulator

# Polar's defaults for a new organization (server/polar/models/organization.py,
# ``_default_subscription_settings``): one subscription per customer, prorate, benefits
# revoked the moment a subscription goes past due.
DEFAULT_SUBSCRIPTION_SETTINGS: dict[str, Any] = {
    "allow_multiple_subscriptions": False,
    "allow_customer_updates": True,
    "proration_behavior": "prorate",
    "benefit_revocation_grace_period": 0,
    "prevent_trial_abuse": False,
}
# OrganizationSubscriptionSettings is a TypedDict: every key is required on update.
SUBSCRIPTION_SETTING_TYPES = {
    "allow_multiple_subscriptions": bool,
    "proration_behavior": str,
    "benefit_revocation_grace_period": int,
    "prevent_trial_abuse": bool,
    "allow_customer_updates": bool,
}
# OrganizationFeatureSettingsUpdate (spec): the flags an organization may set itself. The
# rest (reset_proration_behavior_enabled...) are granted by Polar's staff: the control below.
UPDATABLE_FEATURES = (
    "seat_based_pricing_enabled",
    "member_model_enabled",
    "checkout_localization_enabled",
)
PRORATIONS = ("invoice", "prorate", "next_period", "reset")


class Organizations:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    @property
    def org(self) -> dict[str, Any]:
        return self.st.organization

    def setting(self, name: str) -> Any:
        return self.org["subscription_settings"].get(name, DEFAULT_SUBSCRIPTION_SETTINGS[name])

    def feature(self, name: str) -> bool:
        """A flag of the organization's ``feature_settings``."""
        return bool(self.org["feature_settings"].get(name))

    def reset_proration_enabled(self) -> bool:
        return bool(self.org["feature_settings"].get("reset_proration_behavior_enabled"))

    def check_proration(self, proration: str | None, loc: list[Any]) -> None:
        """``reset`` only where Polar enabled it for the organization
        (subscription/service.py ``update``; organization/service.py ``update``)."""
        if proration == "reset" and not self.reset_proration_enabled():
            raise invalid(
                loc,
                "The 'reset' proration behavior is not enabled for this organization.",
                value="reset",
            )

    # PATCH /v1/organizations/{id} -----------------------------------------------------
    def update(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        changes: dict[str, Any] = {}
        if body.has("name") and body.get("name") is not None:
            changes["name"] = body.str("name", min_length=3)
        if body.has("email"):
            changes["email"] = body.email("email")
        for field in ("website", "avatar_url"):
            if body.has(field):
                changes[field] = body.url(field)
        features = body.object("feature_settings")
        if features is not None:
            merged = dict(self.org["feature_settings"])
            for flag in UPDATABLE_FEATURES:
                value = features.bool(flag)
                if value is not None:
                    merged[flag] = value
            # organization/service.py update: seat-based pricing needs the member model
            # and cannot be turned off once on.
            seat_loc = ["body", "feature_settings", "seat_based_pricing_enabled"]
            if self.org["feature_settings"].get("seat_based_pricing_enabled") and not merged.get(
                "seat_based_pricing_enabled"
            ):
                raise invalid(seat_loc, "Seat-based pricing cannot be disabled once enabled.")
            if merged.get("seat_based_pricing_enabled") and not merged.get("member_model_enabled"):
                raise invalid(
                    seat_loc, "Member model must be enabled before enabling seat-based pricing."
                )
            changes["feature_settings"] = merged
        settings = body.object("subscription_settings")
        if settings is not None:
            changes["subscription_settings"] = self._subscription_settings(settings)
        email_settings = body.object("customer_email_settings")
        if email_settings is not None:
            changes["customer_email_settings"] = {
                key: email_settings.bool(key, required=True)
                for key in self.org["customer_email_settings"]
            }
        if body.has("embed_hosts") and body.get("embed_hosts") is not None:
            hosts = body.get("embed_hosts")
            if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
                raise invalid(["body", "embed_hosts"], "Input should be a valid list", "list_type")
            changes["embed_hosts"] = list(hosts)
        for field in ("details", "socials", "country", "dispute_settings", "sso_enforced"):
            if body.get(field) is not None:
                raise invalid(
                    ["body", field], f"Updating {field} is not supported by the emulator."
                )
        self._apply(changes)
        return self.org

    def _subscription_settings(self, body: Body) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, kind in SUBSCRIPTION_SETTING_TYPES.items():
            if kind is bool:
                out[key] = body.bool(key, required=True)
            elif kind is int:
                out[key] = body.int(key, required=True, ge=0)
            else:
                out[key] = body.choice(key, PRORATIONS, required=True)
        self.check_proration(
            out["proration_behavior"], ["body", "subscription_settings", "proration_behavior"]
        )
        return out

    # the dashboard (and Polar's staff, for feature flags) --------------------------------
    def configure(
        self,
        *,
        subscription_settings: dict[str, Any] | None = None,
        feature_settings: dict[str, Any] | None = None,
        announce: bool = True,
    ) -> dict[str, Any]:
        """Change settings the way the dashboard does: keys given replace the current
        ones. ``feature_settings`` may set any flag (Polar's staff grant
        ``reset_proration_behavior_enabled``). ``announce=False``: a seed's initial state."""
        if subscription_settings is not None:
            unknown = set(subscription_settings) - set(SUBSCRIPTION_SETTING_TYPES)
            if unknown:
                raise ValueError(f"Unknown subscription settings: {sorted(unknown)}")
        before = dict(self.org["feature_settings"])
        if feature_settings is not None:
            self.org["feature_settings"] = {**before, **feature_settings}
        changes: dict[str, Any] = {}
        if subscription_settings is not None:
            merged = {**self.org["subscription_settings"], **subscription_settings}
            try:
                changes["subscription_settings"] = self._subscription_settings(
                    Body(merged, ("subscription_settings",))
                )
            except Exception:
                self.org["feature_settings"] = before
                raise
        self._apply(changes, announce=announce)
        return self.org

    def _apply(self, changes: dict[str, Any], *, announce: bool = True) -> None:
        self.org.update(changes)
        if "subscription_settings" in changes:
            # Organization.proration_behavior mirrors the subscription setting.
            self.org["proration_behavior"] = changes["subscription_settings"]["proration_behavior"]
        if not announce:
            return
        self.org["modified_at"] = iso(self.emu.clock.now())
        # organization/service.py ``_after_update``: every update sends organization.updated.
        self.emu.emit("organization.updated", self.emu.ser.organization())
