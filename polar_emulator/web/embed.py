"""The vendored ``@polar-sh/checkout`` embed script (npm 0.4.1, unmodified on disk in
``static/polar-checkout/``) and the one place that widens its list of trusted origins.

The script accepts the checkout iframe's postMessage events (loaded, close, confirmed,
success) only from https://polar.sh and https://sandbox.polar.sh. On the emulator the
checkout page lives on the emulator's origin, so whoever serves the script for the
emulator adds that origin: the emulator itself at ``/embed.global.js``, and a Django
project (the demo's ``notes/embed.py``) at its own URL.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from ..core import Emulator
from .base import ORIGIN_RE, Request, Response, Route

SCRIPT = Path(__file__).with_name("static") / "polar-checkout" / "embed.global.js"
LICENSE = SCRIPT.with_name("LICENSE.txt")
#: The origins the upstream script trusts, exactly as its source spells them (5 times).
TRUSTED_ORIGINS = "https://polar.sh,https://sandbox.polar.sh"
BANNER = (
    "/*! @polar-sh/checkout 0.4.1 - dist/embed.global.js (https://www.npmjs.com/package/@polar-sh/checkout)\n"
    " * Copyright Polar Software Inc. and contributors (https://github.com/polarsource/polar).\n"
    " * Licensed under the Apache License, Version 2.0 (see LICENSE.txt next to the vendored file).\n"
    " * Served by the Polar emulator with the emulator's own origin added to the script's list\n"
    " * of trusted checkout origins. */\n"
)


@cache
def source() -> str:
    """The script byte for byte as published (what sandbox and production pages load)."""
    return SCRIPT.read_text(encoding="utf-8")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` ("" when it has no scheme or host)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def trusting(*origins: str) -> str:
    """The script, also trusting each of ``origins`` (only plain http(s) origins are added,
    each once, after Polar's own)."""
    extra: list[str] = []
    for candidate in origins:
        if candidate and ORIGIN_RE.match(candidate) and candidate not in extra:
            if candidate not in TRUSTED_ORIGINS.split(","):
                extra.append(candidate)
    if not extra:
        return source()
    return source().replace(TRUSTED_ORIGINS, ",".join([TRUSTED_ORIGINS, *extra]))


class EmbedScript:
    """``/embed.global.js``: the script, trusting this emulator's origin (and the origin the
    browser used to reach it, when that differs, e.g. localhost vs 127.0.0.1)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [("GET", re.compile(r"^/embed\.global\.js$"), self.embed_script)]

    def embed_script(self, request: Request) -> Response:
        script = BANNER + trusting(origin_of(self.emu.base_url), request.origin)
        return Response(
            200,
            script.encode("utf-8"),
            [
                ("Content-Type", "application/javascript; charset=utf-8"),
                ("Cache-Control", "no-cache"),
                ("Access-Control-Allow-Origin", "*"),
            ],
        )
