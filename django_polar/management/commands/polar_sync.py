"""``manage.py polar_sync``: rebuild or repair the local mirror from Polar's API.

    manage.py polar_sync                       # the catalog: benefits, products and prices
    manage.py polar_sync customers subscriptions
    manage.py polar_sync all --since 2d --dry-run
    manage.py polar_sync products --prune

Every object goes through the same mirror functions as webhooks, so a sync never
overwrites a newer webhook. Exit code 1 when any object failed, 130 after Ctrl-C.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from ...errors import PolarError
from ...pacing import DEFAULT_CONCURRENCY, DEFAULT_RATE_PER_MINUTE
from ...sync import (
    ALL_KINDS,
    DEFAULT_KINDS,
    KindResult,
    Syncer,
    parse_since,
    resolve_kinds,
)
from ..base import PolarCommand, rate_and_concurrency
from ..progress import ProgressReporter

COLUMNS = (
    ("fetched", "fetched"),
    ("created", "created"),
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("skipped_older", "older"),
    ("failed", "failed"),
)

SINCE_NOTE = (
    "Note: Polar's list endpoints have no 'modified after' filter, so --since still reads "
    "every page and skips older objects here (fewer writes, same API calls)."
)


def summary_table(results: list[KindResult], *, since: bool, prune: bool) -> list[str]:
    """The final per-kind summary, as aligned text lines."""
    columns = list(COLUMNS)
    if since:
        columns.append(("filtered", "before-since"))
    if prune:
        columns.append(("pruned", "archived"))
    header = f"{'kind':<15}" + "".join(f"{title:>13}" for _, title in columns) + f"{'time':>9}"
    lines = [header]
    for result in results:
        cells = "".join(f"{getattr(result, attr):>13,}" for attr, _ in columns)
        flag = "  (interrupted)" if result.interrupted else ""
        lines.append(f"{result.kind:<15}{cells}{result.elapsed:>8.1f}s{flag}")
    return lines


class Command(PolarCommand):
    help = (
        "Mirror Polar objects into the database through the webhook mirror functions "
        f"(kinds: {', '.join(ALL_KINDS)}, or all; default: {' and '.join(DEFAULT_KINDS)})."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "kinds", nargs="*", metavar="kind", help="What to sync; 'all' for everything."
        )
        parser.add_argument(
            "--since",
            help="Only apply objects modified after this: a date, an ISO datetime or a span (12h, 7d).",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Mark products/benefits that Polar no longer lists as archived (never deletes).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; write nothing."
        )
        rate_and_concurrency(parser, DEFAULT_RATE_PER_MINUTE, DEFAULT_CONCURRENCY)
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress output, only the summary."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            kinds = resolve_kinds(options["kinds"])
            since = parse_since(options["since"]) if options["since"] else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        quiet = options["verbosity"] == 0  # errors only (scripts, `manage.py demo`)
        show_progress = not (options["no_progress"] or quiet)
        # OutputWrapper._out is the wrapped stream (django-stubs types it as a callable).
        stream: Any = self.stderr._out
        reporter = ProgressReporter(stream) if show_progress else None

        def on_progress(result: KindResult) -> None:
            if reporter is None:
                return
            counts = {
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "failed": result.failed,
            }
            done = result.fetched + (result.failed if result.fetched < result.total else 0)
            reporter.update(result.kind, done, max(result.total, done), result.elapsed, counts)

        syncer = Syncer(
            rate_per_minute=options["rate"],
            concurrency=options["concurrency"],
            since=since,
            prune=options["prune"],
            dry_run=options["dry_run"],
            on_progress=on_progress,
        )
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing will be written.")
        if since is not None:
            self.stdout.write(f"Applying objects modified since {since.isoformat()}.")
            self.stdout.write(SINCE_NOTE)
        interrupted = False
        try:
            for kind in kinds:
                result = syncer.sync_kind(kind)
                if reporter is not None:
                    reporter.update(
                        result.kind, result.fetched, max(result.total, result.fetched),
                        result.elapsed, {}, final=True,
                    )  # fmt: skip
        except KeyboardInterrupt:
            interrupted = True
        except PolarError as exc:
            raise CommandError(str(exc)) from None
        finally:
            if reporter is not None:
                reporter.close()
        self._report(syncer.results, since=since is not None, prune=options["prune"], quiet=quiet)
        if interrupted:
            raise CommandError(
                "Interrupted: pages already written are committed, the page in progress was "
                "rolled back. Run the command again to finish.",
                returncode=130,
            )
        failed = sum(result.failed for result in syncer.results)
        broken = [result.kind for result in syncer.results if not result.ok]
        if failed or broken:
            raise CommandError(
                f"{failed:,} object(s) failed ({', '.join(broken)}); see the errors above. "
                "Fixed objects are picked up by the next run."
            )

    def _report(
        self, results: list[KindResult], *, since: bool, prune: bool, quiet: bool = False
    ) -> None:
        if not quiet:
            for line in summary_table(results, since=since, prune=prune):
                self.stdout.write(line)
        for result in results:
            for error in result.errors:
                self.stderr.write(f"{result.kind}: {error}")
