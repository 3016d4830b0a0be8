"""Schemathesis hook (``SCHEMATHESIS_HOOKS=fuzz_auth``, loaded by scripts/fuzz_api.py): the
demo user's Django session as an auth Schemathesis knows, so its ``ignored_auth`` and
negative checks can leave it out on purpose, plus the CSRF cookie and header Django's
session authentication asks of every POST."""

from __future__ import annotations

import ast
import os
import sys
import threading
from typing import Any

import schemathesis

if sys.version_info < (3, 12, 1):
    # CPython 3.11 keeps the AST constructor's recursion depth in one state shared by all
    # threads; a thread switch inside one parse (a collection running a finalizer) lets
    # another thread's parse corrupt it, and one of them fails with "SystemError: AST
    # constructor recursion depth mismatch" (python/cpython#106905). Hypothesis parses
    # lambdas to describe strategies, in every Schemathesis worker thread at once: one
    # parse at a time keeps that CPython bug from failing a fuzzing run on Python 3.11.
    _PARSING = threading.Lock()
    _parse = ast.parse

    def _serialized_parse(*args: Any, **kwargs: Any) -> Any:
        with _PARSING:
            return _parse(*args, **kwargs)

    ast.parse = _serialized_parse  # type: ignore[assignment]


@schemathesis.auth()
class DemoSession:
    def get(self, case: Any, context: Any) -> str:
        return os.environ["FUZZ_SESSIONID"]

    def set(self, case: Any, data: str, context: Any) -> None:
        token = os.environ["FUZZ_CSRFTOKEN"]
        case.cookies = {**(case.cookies or {}), "sessionid": data, "csrftoken": token}
        case.headers = {**(case.headers or {}), "X-CSRFToken": token}
