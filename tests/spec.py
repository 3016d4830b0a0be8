"""Where the Polar 2026-10 OpenAPI document is: ``shared/`` beside the repository (how CI
and the team's machines lay it out), else None. Tests that need it fall back to data
derived from it and committed under tests/data, or skip."""

from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_CANDIDATES = (
    _ROOT.parent / "shared" / "polar-api" / "openapi-2026-10.json",
    Path("/work/shared/polar-api/openapi-2026-10.json"),
)

SPEC_PATH: Path | None = next((p for p in _CANDIDATES if p.exists()), None)
