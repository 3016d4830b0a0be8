"""Serves the vendored ``@polar-sh/checkout`` embed script (npm 0.4.1, unmodified on disk).

The script accepts the checkout iframe's postMessage events (loaded, close, confirmed,
success) only from https://polar.sh and https://sandbox.polar.sh. On the emulator the
checkout page lives on the emulator's origin, so this view adds that one origin to the
list; for sandbox and production the file is served byte for byte.
"""

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from django_polar.conf import polar_settings

SCRIPT = (
    Path(__file__).resolve().parent.parent / "static/vendor/polar-checkout-0.4.1/embed.global.js"
)
TRUSTED_ORIGINS = "https://polar.sh,https://sandbox.polar.sh"


@lru_cache(maxsize=1)
def _source() -> str:
    return SCRIPT.read_text(encoding="utf-8")


def script_for(server: str, emulator_url: str) -> str:
    source = _source()
    if server != "emulator":
        return source
    parts = urlsplit(emulator_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return source.replace(TRUSTED_ORIGINS, f"{TRUSTED_ORIGINS},{origin}")


@require_GET
@cache_control(max_age=300, public=True)
def embed_script(request: HttpRequest) -> HttpResponse:
    body = script_for(polar_settings.SERVER, polar_settings.EMULATOR_URL)
    return HttpResponse(body, content_type="text/javascript; charset=utf-8")
