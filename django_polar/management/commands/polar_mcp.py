"""Serve the agent tools over MCP on stdin/stdout, for desktop assistants (Claude Desktop).

manage.py polar_mcp --token polar_agt_...      # or POLAR_MCP_TOKEN in the environment

Needs the ``agents`` extra (the ``mcp`` SDK). The token is checked at start and again at
every call, so revoking it ends what a running session can do.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...agents.tokens import authenticate
from ...errors import AgentTokenError


class Command(BaseCommand):
    help = "Serve django-polar's agent tools over MCP (stdio) for one agent token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--token",
            default=None,
            help="The agent token (prefer POLAR_MCP_TOKEN: arguments show in process lists).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            import anyio
            from mcp.server.stdio import stdio_server

            from ...agents.server import build_server
        except ImportError as exc:
            raise CommandError(
                f"The MCP server needs the mcp SDK ({exc}); pip install 'django-polar[agents]'."
            ) from None
        try:
            token = authenticate(options["token"] or os.environ.get("POLAR_MCP_TOKEN"))
        except AgentTokenError as exc:
            raise CommandError(f"{exc} Pass --token or set POLAR_MCP_TOKEN.") from None

        async def serve() -> None:
            server = build_server(token, transport="stdio")
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(serve)
