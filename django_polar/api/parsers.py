"""DRF's JSON parser, with absurdly nested bodies a 400 like any other bad JSON.

``json.load`` raises RecursionError (not ValueError) past ~1,000 levels, which DRF's
parser lets through as a 500.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
