"""Billing tools for AI assistants, answered from the local mirror, guarded per token.

Plain Python, for any agent framework::

    from django_polar.agents import Toolbox

    toolbox = Toolbox.for_token(raw_token)          # or Toolbox(AgentToken row)
    toolbox.specs()   # [{"name", "description", "parameters"}] (JSON Schema)
    toolbox.call("get_subscription_status", {"customer_id": "..."})   # -> dict

Served over MCP by ``manage.py polar_mcp`` (stdio) and ``django_polar.agents.urls``
(streamable HTTP), both needing the ``agents`` extra (the ``mcp`` SDK).
"""

from __future__ import annotations

from typing import Any

from ..errors import AgentTokenError, AgentToolError
from ..models import AgentToken
from . import reads, writes  # noqa: F401  (importing registers the tools)
from .registry import TAGS, Tool, tools_for
from .runner import call_tool
from .tokens import authenticate, create_token, parse_duration, revoke_token


class Toolbox:
    """The tools one token may use, as plain callables."""

    def __init__(self, token: AgentToken, *, transport: str = "python") -> None:
        self.token = token
        self.transport = transport

    @classmethod
    def for_token(cls, raw: str | None, *, transport: str = "python") -> Toolbox:
        """Look the token up (AgentTokenError when unknown, expired or revoked)."""
        return cls(authenticate(raw), transport=transport)

    def tools(self) -> list[Tool]:
        """The tools this token may use now (rights are read at each call)."""
        return tools_for(self.token)

    def specs(self) -> list[dict[str, Any]]:
        """Name, description and JSON Schema of each tool, for function-calling APIs."""
        return [
            {"name": t.name, "description": t.description, "parameters": t.schema(self.token)}
            for t in self.tools()
        ]

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a tool; AgentToolError carries the message to show the assistant."""
        return call_tool(self.token, name, arguments, transport=self.transport)


__all__ = [
    "TAGS",
    "AgentTokenError",
    "AgentToolError",
    "Tool",
    "Toolbox",
    "authenticate",
    "call_tool",
    "create_token",
    "parse_duration",
    "revoke_token",
    "tools_for",
]
