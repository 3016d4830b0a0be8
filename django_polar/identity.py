"""Who is who: a billable's external id, the models that can pay, and the request's payer.

Polar knows a billable only by the customer's ``external_id``. It is derived and parsed
here and only here (``BillableIdentity``), so derivation and resolution cannot drift apart;
the mirror turns an arriving customer back into a billable with
``billable_from_external_id`` / ``billables_from_external_ids`` (the one name for
"external id -> billable"), and every view asks ``billable_for_request`` who pays.

This module sits below the models and the mirror: it never imports them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.http import HttpRequest

from .conf import polar_settings

if TYPE_CHECKING:  # never imported at run time: billable sits above identity
    from django.db.models.options import Options

    from .billable import Billable

#: Separates the model label from the pk in derived external ids ("testapp.team:42").
EXTERNAL_ID_SEPARATOR = ":"

#: Request attribute holding ``(user, billable)`` once resolved.
_BILLABLE_CACHE_ATTR = "_polar_billable"


class BillableIdentity:
    """The identity half of ``Billable``: the external id, derived and parsed.

    ``django_polar.billable.Billable`` mixes this in; use ``Billable``, not this class.
    """

    #: Use ``str(pk)`` as the external id instead of ``"app_label.model:pk"``.
    polar_external_id_is_pk: ClassVar[bool] = False

    if TYPE_CHECKING:  # mixed into a models.Model, which provides these
        pk: Any
        _meta: ClassVar[Options[Any]]
        _default_manager: ClassVar[models.Manager[Any]]

    def get_polar_external_id(self) -> str:
        """The immutable id Polar stores for this billable (unique across billable models)."""
        if self.pk is None:
            raise ValueError(f"Save this {type(self).__name__} before billing it (it has no pk).")
        if self.polar_external_id_is_pk:
            return str(self.pk)
        return f"{self._meta.label_lower}{EXTERNAL_ID_SEPARATOR}{self.pk}"

    @classmethod
    def polar_pk_from_external_id(cls, external_id: str) -> Any | None:
        """This model's pk encoded in ``external_id``, or None when it is not one of ours."""
        if cls.polar_external_id_is_pk:
            raw = external_id
        else:
            prefix = f"{cls._meta.label_lower}{EXTERNAL_ID_SEPARATOR}"
            if not external_id.startswith(prefix):
                return None
            raw = external_id[len(prefix) :]
        try:
            return cls._meta.pk.to_python(raw)
        except (ValidationError, ValueError, TypeError):
            return None


def billable_models() -> list[type[BillableIdentity]]:
    """Every installed model that mixes in Billable (the registry of payers)."""
    return [m for m in apps.get_models() if issubclass(m, BillableIdentity)]


def billable_from_external_id(external_id: str | None) -> models.Model | None:
    """The billable a Polar ``external_id`` names, or None (the inverse of the mixin)."""
    if not external_id:
        return None
    return billables_from_external_ids([external_id]).get(external_id)


def billables_from_external_ids(external_ids: Iterable[str | None]) -> dict[str, models.Model]:
    """``{external_id: billable}`` for the ids naming an existing billable.

    One query per billable model, however many ids: ``polar_sync`` links a whole page of
    customers at once.
    """
    models_: list[Any] = billable_models()
    plain = [m for m in models_ if m.polar_external_id_is_pk]
    if len(plain) > 1:
        names = ", ".join(m._meta.label for m in plain)
        raise ImproperlyConfigured(
            f"Only one billable model may use polar_external_id_is_pk = True ({names} do): "
            "their external ids would collide."
        )
    ordered = [m for m in models_ if not m.polar_external_id_is_pk] + plain
    wanted: dict[type[BillableIdentity], dict[Any, list[str]]] = {}
    for external_id in {e for e in external_ids if e}:
        for model in ordered:  # the first model that parses the id owns it
            pk = model.polar_pk_from_external_id(external_id)
            if pk is not None:
                wanted.setdefault(model, {}).setdefault(pk, []).append(external_id)
                break
    found: dict[str, models.Model] = {}
    for model, by_pk in wanted.items():
        for obj in model._default_manager.filter(pk__in=list(by_pk)):
            for external_id in by_pk.get(obj.pk, []):
                found[external_id] = obj
    return found


def billable_for_request(request: HttpRequest) -> Billable | None:
    """Who pays for this request: POLAR["BILLABLE_RESOLVER"], else the logged-in user.

    Identity never comes from query parameters or form fields. The answer is resolved
    once per request and user (permissions, querysets and views share it); logging in or
    out during the request resolves again.
    """
    # DRF's Request wraps the HttpRequest: cache on the one underneath so both share it.
    holder = getattr(request, "_request", request)
    user = getattr(request, "user", None)
    cached = getattr(holder, _BILLABLE_CACHE_ATTR, None)
    if cached is not None and cached[0] is user:
        return cast("Billable | None", cached[1])
    resolver = polar_settings.billable_resolver
    if resolver is not None:
        billable = resolver(request)
    else:
        billable = user if user is not None and user.is_authenticated else None
    if billable is not None and not isinstance(billable, BillableIdentity):
        raise ImproperlyConfigured(
            f"The billable for a request must mix in django_polar.billable.Billable; got "
            f"{type(billable).__name__}. Add Billable to the model or set POLAR['BILLABLE_RESOLVER']."
        )
    setattr(holder, _BILLABLE_CACHE_ATTR, (user, billable))
    return cast("Billable | None", billable)  # checked above: it mixes in Billable
