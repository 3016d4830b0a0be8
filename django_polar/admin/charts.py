"""Bar charts as server-rendered SVG: the dashboard reads without JavaScript, and each bar
carries its value in ``data-value`` (and a <title> tooltip) for people and tests alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 640
ROW = 26
LABEL = 170


def bar_chart(
    name: str,
    rows: Sequence[tuple[str, int]],
    label: Callable[[int], str] = str,
) -> SafeString:
    """Horizontal bars, one row per (label, value), scaled to the largest value."""
    top = max((value for _, value in rows), default=0) or 1
    height = ROW * max(len(rows), 1) + 4
    span = WIDTH - LABEL - 110
    bars = format_html_join(
        "",
        '<g class="bar" data-label="{}" data-value="{}"><title>{}: {}</title>'
        '<text x="0" y="{}" class="label">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="2"></rect>'
        '<text x="{}" y="{}" class="value">{}</text></g>',
        (
            (
                text,
                value,
                text,
                label(value),
                i * ROW + 17,
                text,
                LABEL,
                i * ROW + 4,
                max(round(span * value / top), 1 if value else 0),
                ROW - 8,
                LABEL + max(round(span * value / top), 0) + 6,
                i * ROW + 17,
                label(value),
            )
            for i, (text, value) in enumerate(rows)
        ),
    )
    return format_html(
        '<svg class="polar-chart" data-chart="{}" role="img" aria-label="{}" '
        'viewBox="0 0 {} {}" width="{}" height="{}">{}</svg>',
        name,
        name,
        WIDTH,
        height,
        WIDTH,
        height,
        bars,
    )
