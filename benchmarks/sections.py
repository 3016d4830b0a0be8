"""BENCHMARKS.md is shared by the scripts: each rewrites only its own marked section."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, start: str, end: str, block: str) -> None:
    """Replace the text from ``start`` to ``end`` in ``path`` with ``block`` (which holds
    both markers), or append it; the rest of the file is left alone."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
