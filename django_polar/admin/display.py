"""How the admin shows stored Polar JSON and error text: escaped, indented, redacted.

One helper for every admin page, so no page can show a token the others would hide.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html

from ..errors import redact, redact_data


def pretty_json(data: Any) -> str:
    """JSON as an escaped, indented <pre> block (token-shaped strings redacted)."""
    text = json.dumps(redact_data(data or {}), indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre class="polar-json" style="white-space: pre-wrap">{}</pre>', text)


def pretty_text(text: str) -> str:
    """Plain text (a traceback) as an escaped <pre> block, token-shaped strings redacted."""
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', redact(text)) if text else "-"
