"""The MCP server: the same tools over the official ``mcp`` SDK (the ``agents`` extra).

One ``Server`` per connection (stdio) or per request (HTTP), bound to the token that
connected; the tool list is built from that token's rights each time it is asked for.
Tool code is synchronous Django code, so it runs through ``sync_to_async``: in the request
thread under the HTTP view, in one dedicated thread under ``manage.py polar_mcp``.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from asgiref.sync import sync_to_async
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from .. import __version__
from ..errors import AgentTokenError, AgentToolError
from ..models import AgentToken
from .registry import Tool, tools_for
from .runner import call_tool

INSTRUCTIONS = """Billing of this app's customers (Polar is the merchant of record).
Reads answer from the app's own copy of Polar's data; tools that change billing call
Polar and say what Polar answered. Amounts come in minor units with their currency and a
display text; quote the display text. Never promise what a tool did not confirm."""

#: JSON-RPC "invalid request": the token cannot be used (revoked or expired meanwhile).
TOKEN_REFUSED = -32600


def _tool(tool: Tool, token: AgentToken) -> types.Tool:
    return types.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=tool.schema(token),
        annotations=types.ToolAnnotations(
            read_only_hint=not tool.write,
            destructive_hint=tool.name in {"refund_order", "cancel_subscription"},
            open_world_hint=tool.write or tool.tag == "portal",
        ),
    )


def _listing(token: AgentToken) -> list[types.Tool]:
    token.refresh_from_db(fields=["revoked_at", "expires_at", "can_write", "tags"])
    problem = token.problem()
    if problem:
        raise AgentTokenError(problem)
    return [_tool(t, token) for t in tools_for(token)]


def _run(
    token: AgentToken, name: str, arguments: dict[str, Any], transport: str
) -> types.CallToolResult:
    try:
        result = call_tool(token, name, arguments, transport=transport)
    except AgentToolError as exc:
        error: dict[str, Any] = {"error": exc.message}
        if exc.retry_after is not None:
            error["retry_after"] = exc.retry_after
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(error))],
            structured_content=error,
            is_error=True,
        )
    shown = {k: v for k, v in result.items() if k != "polar"}
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(shown, default=str))],
        structured_content=json.loads(json.dumps(shown, default=str)),
    )


def build_server(token: AgentToken, *, transport: str) -> Server:
    """An MCP server whose every request acts as ``token``."""

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        try:
            tools = await sync_to_async(_listing)(token)
        except AgentTokenError as exc:
            raise MCPError(TOKEN_REFUSED, str(exc)) from None
        return types.ListToolsResult(tools=tools)

    async def call(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            return await sync_to_async(_run)(token, params.name, params.arguments or {}, transport)
        except AgentTokenError as exc:
            raise MCPError(TOKEN_REFUSED, str(exc)) from None

    return Server(
        "django-polar",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call,
    )
