"""One vendored copy of ``@polar-sh/checkout``, unmodified, and one origin patcher."""

from __future__ import annotations

import hashlib
from pathlib import Path

from polar_emulator.web import embed

ROOT = Path(__file__).resolve().parents[1]
# sha256 of dist/embed.global.js in `npm pack @polar-sh/checkout@0.4.1`.
UPSTREAM_SHA256 = "f96189dd9801cbaa7ba3677e3788316220edc510b419ec0a24a5a27a10bb0855"


def test_the_vendored_script_is_the_published_file_with_its_license():
    assert hashlib.sha256(embed.SCRIPT.read_bytes()).hexdigest() == UPSTREAM_SHA256
    assert "Apache License" in embed.LICENSE.read_text(encoding="utf-8")
    assert embed.source().count(embed.TRUSTED_ORIGINS) == 5


def test_there_is_one_copy_of_the_script_in_the_repository():
    tops = [p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")]
    copies = [
        path
        for top in tops
        for path in top.rglob("*.js")
        if "POLAR_CHECKOUT" in path.read_text(errors="replace")
    ]
    assert copies == [embed.SCRIPT]


def test_trusting_adds_each_plain_origin_once_after_polars():
    patched = embed.trusting(
        "http://127.0.0.1:8765", "http://127.0.0.1:8765", "https://polar.sh", "javascript:x", ""
    )
    assert patched.count(f'{embed.TRUSTED_ORIGINS},http://127.0.0.1:8765"') == 5
    assert "javascript" not in patched
    assert embed.trusting() == embed.source()
