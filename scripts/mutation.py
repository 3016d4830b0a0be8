#!/usr/bin/env python3
"""Mutation testing (mutmut 3) of the modules that hold money, access and identity rules.

    .venv/bin/python scripts/mutation.py                      # every module below
    .venv/bin/python scripts/mutation.py same_site access     # some of them
    .venv/bin/python scripts/mutation.py --changed            # those changed vs main (CI)
    .venv/bin/python scripts/mutation.py --max-seconds 600 --fail-under 90

Each module group runs in a copy of the project under ``.mutation/<group>/`` (mutmut
writes its ``mutants/`` tree there, never in the work tree), against the test files that
exercise it. The score of a module is

    killed (by a failing test, a timeout or a crash) / (mutants - equivalent ones)

where the equivalent mutants are those listed in docs/testing.md with the reason; a
survivor that is not listed there, or a mutant no test reaches, counts against the score.
Results are kept between runs: a second run retries the mutants of functions that
changed and every earlier survivor (a test added since may kill it), not the killed ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
DOCS = ROOT / "docs" / "testing.md"
MUTMUT = Path(sys.executable).with_name("mutmut")
COPIED = ["django_polar", "polar_emulator", "example_project", "tests", "manage.py", "README.md"]
#: Tests that start servers, workers or browsers in other processes: those processes run
#: the unmutated code, so they cannot kill a mutant and only cost time.
OTHER_PROCESSES = "not slow and not browser"
#: Wall-clock seconds a test may take under a mutant (tests/conftest.py): a mutant that
#: removes a deadline waits in real time, which mutmut's CPU-time limit does not stop.
WALL = 60
#: mutmut's exit codes for a survivor, a mutant no test reached and a suspicious one.
RETRIED = {0, 5, 33, 35}
API_TESTS = ["tests/test_api.py", "tests/test_api_subscription_changes.py"]


@dataclass(frozen=True)
class Group:
    """Files to mutate, the tests that exercise them, (optionally) the functions whose
    mutants count (``client.py``: only its retry rules), and tests left out to bound the
    run's time (``skipped``: node ids; a skipped test only ever lets a mutant survive, so
    the score is a lower bound).

    Changing ``tests`` makes mutmut forget every verdict of the group (its test selection
    changed), so new tests go into files already listed."""

    files: list[str]
    tests: list[str]
    functions: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


GROUPS: dict[str, Group] = {
    "same_site": Group(
        ["django_polar/same_site.py"],
        ["tests/test_same_site.py", "tests/test_views.py", "tests/test_checkout.py", *API_TESTS],
    ),
    "access": Group(
        ["django_polar/access.py"],
        ["tests/test_access.py", "tests/test_credits.py", "tests/test_readme.py", *API_TESTS],
    ),
    "subscription": Group(
        ["django_polar/models/subscription.py"],
        [
            "tests/test_subscription_valid.py",
            "tests/test_actions.py",
            "tests/test_subscription_changes.py",
            "tests/test_seats.py",
            "tests/test_billable.py",
            *API_TESTS,
        ],
    ),
    "api": Group(
        ["django_polar/api/views.py"],
        [
            *API_TESTS,
            "tests/test_api_schema.py",  # the schema's parameters, the one error body
            "tests/test_checkout_prefill.py",  # the checkout options through the API
            "tests/test_license_keys.py",  # the activation endpoint
            "tests/test_api_errors.py",  # the exact error bodies and log lines
        ],
    ),
    "billable": Group(
        ["django_polar/billable.py"],
        [
            "tests/test_billable.py",
            "tests/test_billable_polar.py",
            "tests/test_checkout.py",
            "tests/test_usage.py",
            *API_TESTS,
            "tests/test_seats.py",  # customer_portal_url of a team, member grants
            "tests/test_entitlements.py",  # benefits, license_keys, has_benefit
            "tests/test_license_keys.py",  # license_keys
            "tests/test_free_plan_and_receipts.py",  # subscribe_free, payment_methods
            "tests/test_checkout_prefill.py",  # upgrade
            "tests/test_credits.py",  # meters, meter, has_credits
        ],
    ),
    "usage": Group(
        ["django_polar/usage.py"],
        [
            "tests/test_usage.py",
            "tests/test_billable_polar.py",
            "tests/test_credits.py",
        ],
    ),
    "client": Group(
        ["django_polar/client.py"],
        ["tests/test_client.py", "tests/test_client_deadlines.py"],
        functions=(
            "parse_retry_after",
            "backoff",
            "request",
            "_attempts",
            "_attempt_timeout",
            "_retry_wait",
            "_wait",
        ),
    ),
    "webhooks": Group(
        ["django_polar/webhooks/*.py"],
        [
            "tests/test_webhook_view.py",
            "tests/test_webhook_stale.py",
            "tests/test_signals.py",
            "tests/test_webhook_bodies.py",  # bodies the database cannot hold, timestamps
            "tests/test_webhook_commit_failures.py",  # record_commit_failure
            "tests/test_webhook_doctor.py",  # doctor.py and endpoints.py
            "tests/test_webhook_emulator.py",  # every event type through the view
            "tests/test_admin_webhooks.py",  # replay from the admin
            "tests/test_entitlements.py",  # benefit hooks recorded when an event applies
        ],
    ),
    "mirror": Group(
        ["django_polar/mirror/*.py"],
        [
            "tests/test_mirror.py",
            "tests/test_mirror_parity.py",
            "tests/test_webhook_view.py",
            "tests/test_webhook_emulator.py",  # every event type through the real view
            "tests/test_sync.py",
            "tests/test_sync_engine.py",
            "tests/test_sync_archive.py",
            "tests/test_seats.py",  # seats and members
            "tests/test_seats_pricing.py",
            "tests/test_customer_sync.py",  # customer.deleted
            "tests/test_money_rules_app.py",  # refunds
            "tests/test_credits.py",  # meters
            "tests/test_entitlements.py",
        ],
        # 14.5 of the 31 s every surviving mutant costs: the orderings they permute stay
        # held by the fixed-order tests of tests/test_mirror.py and test_webhook_emulator.py.
        skipped=(
            "tests/test_mirror.py::test_every_order_of_the_lifecycle_ends_in_the_true_final_state",
            "tests/test_webhook_emulator.py::test_any_order_of_the_real_stream_ends_in_the_true_state",
        ),
    ),
}


@dataclass
class Score:
    group: str
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    finished: bool = True
    error: str = ""

    @property
    def killed(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("killed", "timeout", "segfault"))

    @property
    def counted(self) -> int:
        checked = sum(n for s, n in self.counts.items() if s != "not checked")
        return checked - len(self.equivalent)

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 100.0


def equivalent_mutants() -> set[str]:
    """Mutant names listed in docs/testing.md (a table row or list item naming one)."""
    if not DOCS.exists():
        return set()
    return set(re.findall(r"`(django_polar\.[\w.ǁ]+__mutmut_\d+)`", DOCS.read_text()))


def changed_groups(base: str) -> list[str]:
    """Groups with a file changed between ``base``'s merge base and the work tree."""
    merge_base = subprocess.run(
        ["git", "merge-base", "HEAD", base], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if not merge_base:
        return []
    diff = subprocess.run(
        ["git", "diff", "--name-only", merge_base, "--", "django_polar"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [
        name
        for name, group in GROUPS.items()
        if any(Path(path).match(pattern) for path in diff for pattern in group.files)
    ]


def prepare(name: str, group: Group, fresh: bool) -> Path:
    """A copy of the project for this group, with its mutmut configuration."""
    where = WORK / name
    if fresh and where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.sqlite3", ".emulator-state.json")
    for item in COPIED:
        source, target = ROOT / item, where / item
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, ignore=ignore)
        else:
            shutil.copy2(source, target)
    tests = [t for t in group.tests if (ROOT / t).exists()]
    settings = {
        "source_paths": ["django_polar"],
        "also_copy": [p for p in COPIED if p != "django_polar"],
        "only_mutate": group.files,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "-x", "-m", OTHER_PROCESSES],
        "pytest_add_cli_args_test_selection": tests,
    }
    config = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    pyproject = (ROOT / "pyproject.toml").read_text()
    (where / "pyproject.toml").write_text(f"{pyproject}\n[tool.mutmut]\n{config}")
    retry_survivors(where)
    return where


def retry_survivors(where: Path) -> None:
    """Forget the verdicts of earlier survivors, so mutmut tries them again: it would
    otherwise keep a verdict until the mutated function changes, not when a test is added."""
    for meta in (where / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        codes = data.get("exit_code_by_key", {})
        retried = {key: None for key, code in codes.items() if code in RETRIED}
        if retried:
            codes.update(retried)
            meta.write_text(json.dumps(data, indent=4))


def run(name: str, group: Group, *, children: int, deadline: float, fresh: bool) -> Score:
    where = prepare(name, group, fresh)
    score = Score(name)
    if not any(list(ROOT.glob(pattern)) for pattern in group.files):
        score.finished = False  # the module does not exist (yet)
        return score
    left = deadline - time.monotonic()
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "POLAR_TEST_WALL_SECONDS": str(WALL),
        "POLAR_MUTATION_SKIP": ",".join(group.skipped),
    }
    env.pop("DATABASE_URL", None)  # mutants run on the in-memory SQLite test database
    try:
        with (where / "mutmut.log").open("w") as log:
            done = subprocess.run(
                [str(MUTMUT), "run", "--max-children", str(children), *only(group)],
                cwd=where,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=max(left, 1),
                check=False,
            )
        if done.returncode:
            score.error = f"mutmut failed (exit {done.returncode}): see .mutation/{name}/mutmut.log"
    except subprocess.TimeoutExpired:
        score.finished = False
    results = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    equivalent = equivalent_mutants()
    for line in results.splitlines():
        mutant, _, status = line.strip().rpartition(": ")
        if "__mutmut_" not in mutant:
            continue
        if group.functions and not counts_for(mutant, group.functions):
            continue
        score.counts[status] = score.counts.get(status, 0) + 1
        if status in ("survived", "no tests", "suspicious"):
            if mutant in equivalent:
                score.equivalent.append(mutant)
            else:
                score.survivors.append(mutant)
    return score


def only(group: Group) -> list[str]:
    """mutmut's name patterns for the mutants of ``group.functions`` (none: all mutants).

    mutmut runs named mutants again every time, so such a group keeps no results between
    runs; it stays short because it runs only those functions' mutants."""
    module = group.files[0].removesuffix(".py").replace("/", ".")
    patterns = []
    for function in group.functions:
        patterns += [f"{module}.x_{function}__mutmut_*", f"{module}.xǁ*ǁ{function}__mutmut_*"]
    return patterns


def counts_for(mutant: str, functions: tuple[str, ...]) -> bool:
    """Whether a mutant (``module.x_func__mutmut_3``, ``module.xǁClassǁmethod__mutmut_3``)
    is in one of ``functions``."""
    name = mutant.rsplit(".", 1)[-1].split("__mutmut_")[0]
    return name.removeprefix("x_").rsplit("ǁ", 1)[-1] in functions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"any of: {', '.join(GROUPS)}")
    parser.add_argument("--changed", action="store_true", help="groups changed vs --base")
    parser.add_argument("--base", default="main")
    parser.add_argument(
        "--sample", nargs="*", default=[], help="with --changed: run these when nothing changed"
    )
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--fail-under", type=float, default=None, help="fail below this score")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    args = parser.parse_args()

    names = args.groups or list(GROUPS)
    if args.changed:
        names = changed_groups(args.base) or args.sample
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s): {', '.join(unknown)}")
    if not MUTMUT.exists():
        parser.error(f"{MUTMUT} not found: pip install -e '.[test]' installs mutmut")
    started = time.monotonic()
    deadline = started + (args.max_seconds or 10**9)
    scores = []
    for name in names:
        if time.monotonic() >= deadline:
            print(f"{name:<13} not run: out of time")
            continue
        score = run(name, GROUPS[name], children=args.children, deadline=deadline, fresh=args.fresh)
        scores.append(score)
        unchecked = score.counts.get("not checked", 0)
        state = (
            ""
            if score.finished
            else f"  (stopped at the time limit: partial, {unchecked} not checked)"
        )
        if score.error:
            state = f"  ({score.error})"
        if GROUPS[name].skipped:
            state += f"  (a lower bound: {len(GROUPS[name].skipped)} slow tests left out)"
        print(
            f"{name:<13} {score.percent:5.1f}%  killed {score.killed} of {score.counted}"
            f"  (equivalent {len(score.equivalent)}, survived {len(score.survivors)}){state}",
            flush=True,
        )
        for mutant in score.survivors:
            print(f"    survived: {mutant}   (.venv/bin/mutmut show {mutant}, in .mutation/{name})")
    print(f"{len(scores)} group(s) in {time.monotonic() - started:.0f} s")
    if args.fail_under is not None:
        below = [s.group for s in scores if s.finished and (s.error or s.percent < args.fail_under)]
        if below:
            print(f"below {args.fail_under}%: {', '.join(below)}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
