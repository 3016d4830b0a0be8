"""Schemathesis hook (``SCHEMATHESIS_HOOKS=fuzz_auth``, loaded by scripts/fuzz_api.py): the
demo user's Django session as an auth Schemathesis knows, so its ``ignored_auth`` and
negative checks can leave it out on purpose, plus the CSRF cookie and header Django's
session authentication asks of every POST."""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.auth()
class DemoSession:
    def get(self, case: Any, context: Any) -> str:
        return os.environ["FUZZ_SESSIONID"]

    def set(self, case: Any, data: str, context: Any) -> None:
        token = os.environ["FUZZ_CSRFTOKEN"]
        case.cookies = {**(case.cookies or {}), "sessionid": data, "csrftoken": token}
        case.headers = {**(case.headers or {}), "X-CSRFToken": token}
