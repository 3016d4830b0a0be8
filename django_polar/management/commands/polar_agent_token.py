"""Agent tokens for AI assistants (MCP clients and agent frameworks).

manage.py polar_agent_token create --name NAME [--write] [--tags t1,t2]
                                   [--customer EXTERNAL_ID] [--expires-in 2h]
    # prints the token alone on its last line (the only time it is shown)
manage.py polar_agent_token list
manage.py polar_agent_token revoke NAME
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...agents.registry import TAGS
from ...agents.tokens import create_token, parse_duration, revoke_token
from ...models import AgentToken


class Command(BaseCommand):
    help = "Create, list and revoke the tokens AI assistants use to reach billing tools."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token and print it once.")
        create.add_argument("--name", required=True)
        create.add_argument("--write", action="store_true", help="Allow tools that change billing.")
        create.add_argument(
            "--tags", default="", help=f"Comma-separated tool tags ({', '.join(TAGS)})."
        )
        create.add_argument(
            "--customer",
            default="",
            metavar="EXTERNAL_ID",
            help="Bind the token to the customer with this external id.",
        )
        create.add_argument("--expires-in", default=None, help="e.g. 90m, 2h, 30d, 1w")
        sub.add_parser("list", help="List tokens (never their secret).")
        revoke = sub.add_parser("revoke", help="Revoke a token by name.")
        revoke.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        try:
            expires_in = parse_duration(options["expires_in"]) if options["expires_in"] else None
            token, raw = create_token(
                options["name"],
                can_write=options["write"],
                tags=options["tags"].split(","),
                customer_external_id=options["customer"],
                expires_in=expires_in,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created agent token {token.name!r}: {_rights(token)}.")
        self.stdout.write("Copy it now; it is stored hashed and never shown again:")
        self.stdout.write(raw)

    def _list(self, options: dict[str, Any]) -> None:
        tokens = list(AgentToken.objects.order_by("name"))
        if not tokens:
            self.stdout.write("No agent tokens.")
            return
        for token in tokens:
            state = token.problem() or "active"
            used = token.last_used_at.isoformat() if token.last_used_at else "never"
            self.stdout.write(
                f"{token.name}  {token.hint}...  {_rights(token)}  "
                f"[{state.removeprefix('This agent token ').rstrip('.')}]  last used {used}"
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        try:
            token = revoke_token(options["name"])
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Revoked agent token {token.name!r}.")


def _rights(token: AgentToken) -> str:
    parts = ["read and write" if token.can_write else "read-only"]
    parts.append(f"tags {','.join(token.tags)}" if token.tags else "all tags")
    if token.customer_external_id:
        parts.append(f"customer {token.customer_external_id}")
    if token.expires_at:
        parts.append(f"expires {token.expires_at.isoformat()}")
    return ", ".join(parts)
