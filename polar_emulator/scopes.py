"""Which token scopes each API operation needs, from the spec's ``security`` entries.

``scopes.json`` (next to this file) maps ``"METHOD /v1/path/{param}"`` to the scopes an
organization access token may hold to call it (any one is enough: Polar lists the read
scope and the write scope for reads). It is derived from the OpenAPI document, never
written by hand; regenerate it after a spec update with

    python -m polar_emulator.scopes path/to/openapi-2026-10.json
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("scopes.json")
METHODS = ("get", "post", "put", "patch", "delete")


def derive(spec: dict[str, Any]) -> dict[str, list[str]]:
    """Every operation an organization access token (``oat``) may call -> its scopes."""
    table: dict[str, list[str]] = {}
    for path, operations in spec["paths"].items():
        for method in METHODS:
            operation = operations.get(method)
            if not isinstance(operation, dict):
                continue
            for entry in operation.get("security") or []:
                if "oat" in entry:
                    table[f"{method.upper()} {path}"] = sorted(entry["oat"])
    return dict(sorted(table.items()))


@cache
def table() -> dict[str, list[str]]:
    return json.loads(TABLE.read_text(encoding="utf-8"))


def required(method: str, pattern: str) -> frozenset[str] | None:
    """The scopes that allow ``method pattern`` (None: the spec lists none for it)."""
    scopes = table().get(f"{method} {pattern}")
    return frozenset(scopes) if scopes else None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m polar_emulator.scopes OPENAPI.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    TABLE.write_text(json.dumps(derive(spec), indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
