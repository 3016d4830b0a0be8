"""Serves the vendored ``@polar-sh/checkout`` embed script at /polar-embed.js.

One copy of the script and one origin patcher, both in ``polar_emulator.web.embed``:
against sandbox and production the file is served byte for byte; on the emulator the
emulator's origin is added to the script's trusted checkout origins (its checkout page
lives there, not on polar.sh).
"""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from django_polar.conf import polar_settings
from polar_emulator.web.embed import TRUSTED_ORIGINS, origin_of, source, trusting

__all__ = ["TRUSTED_ORIGINS", "embed_script", "script_for"]


def script_for(server: str, emulator_url: str) -> str:
    if server != "emulator":
        return source()
    return trusting(origin_of(emulator_url))


@require_GET
@cache_control(max_age=300, public=True)
def embed_script(request: HttpRequest) -> HttpResponse:
    body = script_for(polar_settings.SERVER, polar_settings.EMULATOR_URL)
    return HttpResponse(body, content_type="text/javascript; charset=utf-8")
