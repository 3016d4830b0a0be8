"""The import map of django_polar: imports run down the layers and never form a cycle.

Every module of the package is parsed with ``ast`` (nothing is imported), and each of its
``import``/``from ... import`` statements of a django_polar module becomes an edge. Imports
under ``if TYPE_CHECKING:`` never run and are left out. Three rules, each with an explicit
allow-list whose entries say why:

1. no import points to a higher layer (``LAYERS``, lowest first);
2. no import is hidden inside a function or class body (a deferred import is how cycles
   used to be papered over);
3. the edges, minus the allowed exceptions, form no cycle.

A new module takes its place in ``LAYERS``; docs/architecture.md shows the same map.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "django_polar"

#: Lowest first. A module belongs to the most specific entry naming it or a package above
#: it (``django_polar`` itself names only the package's ``__init__``).
LAYERS: list[tuple[str, set[str]]] = [
    (
        "foundation",
        {
            "django_polar",  # the package's __init__ only: __version__
            "django_polar.retry",
            "django_polar.conf",
            "django_polar.checks",
            "django_polar.errors",
            "django_polar.money",
            "django_polar.signals",
            "django_polar.identity",
            "django_polar.redirects",
            "django_polar.same_site",
        },
    ),
    ("client", {"django_polar.client", "django_polar.pacing"}),
    ("models", {"django_polar.models"}),
    ("mirror", {"django_polar.mirror"}),
    (
        "domain",
        {
            "django_polar.billable",
            "django_polar.checkout",
            "django_polar.claims",
            "django_polar.usage",
            "django_polar.metrics",
            "django_polar.entitlements",
            "django_polar.license_keys",
            "django_polar.access",
            "django_polar.failures",
            "django_polar.sync",
            "django_polar.reconcile",
            "django_polar.tasks",
            "django_polar.customer_sync",
            "django_polar.webhooks",  # the package, verify and dispatch: applying events
            "django_polar.webhooks.endpoints",  # this site's endpoint in Polar: register
            "django_polar.webhooks.doctor",  # the endpoint's health, redelivering missed events
        },
    ),
    (
        "entry points",
        {
            "django_polar.apps",
            "django_polar.views",
            "django_polar.guest_views",
            "django_polar.urls",
            "django_polar.webhooks.views",
            "django_polar.api",
            "django_polar.admin",
            "django_polar.agents",
            "django_polar.management",
            "django_polar.templatetags",
            "django_polar.testing",
        },
    ),
]

#: The one sanctioned upward call: a model action (``subscription.cancel()``,
#: ``order.refund()``) stores Polar's answer through the mirror, like a webhook would.
MODEL_ACTIONS = {
    ("django_polar.models.order", "django_polar.mirror"),
    ("django_polar.models.subscription", "django_polar.mirror"),
}

#: Rule 1 exceptions: edge -> why it may point up.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    **{edge: "model action -> mirror" for edge in MODEL_ACTIONS},
    ("django_polar.access", "django_polar.api.permissions"): (
        "the deprecated django_polar.access.HasActiveSubscription path, resolved lazily so "
        "access.py never imports DRF"
    ),
}

#: Rule 2 exceptions: edge -> why the import runs inside a function.
ALLOWED_DEFERRED: dict[tuple[str, str], str] = {
    **ALLOWED_UPWARD,
    ("django_polar.apps", "django_polar.checks"): "AppConfig.ready() registers the checks",
    ("django_polar.apps", "django_polar.signals"): (
        "AppConfig.ready() connects the usage flush request to the task layer"
    ),
    ("django_polar.apps", "django_polar.tasks"): (
        "AppConfig.ready() connects the usage flush request to the task layer (tasks "
        "import models, which cannot load before the app registry is ready)"
    ),
    ("django_polar.management.commands.polar_mcp", "django_polar.agents.server"): (
        "the mcp SDK is the optional `agents` extra: without it the command says how to "
        "install it instead of failing at import"
    ),
    ("django_polar.testing.pytest_plugin", "django_polar.conf"): (
        "pytest loads the plugin before Django's settings are configured"
    ),
    ("django_polar.testing.pytest_plugin", "django_polar.client"): (
        "pytest loads the plugin before Django's settings are configured"
    ),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
}


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _targets(module: str, path: Path, node: ast.stmt) -> list[str]:
    """The django_polar modules an import statement loads (``from pkg import mod`` is mod)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.startswith("django_polar")]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".")
        if path.name != "__init__.py":
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if not source.startswith("django_polar"):
        return []
    submodules = [f"{source}.{alias.name}" for alias in node.names]
    found = [name for name in submodules if name in MODULES]
    return found or [source]


def imports() -> list[tuple[str, str, bool]]:
    """``(importer, imported, deferred)`` for every import of a django_polar module."""
    edges: list[tuple[str, str, bool]] = []
    for module, path in MODULES.items():

        def walk(node: ast.AST, deferred: bool, module: str = module, path: Path = path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    for other in child.orelse:
                        walk(other, deferred)
                    continue
                if isinstance(child, ast.Import | ast.ImportFrom):
                    for target in _targets(module, path, child):
                        if target != module:
                            edges.append((module, target, deferred))
                nested = isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
                )
                walk(child, deferred or nested)

        walk(ast.parse(path.read_text(), str(path)), False)
    return edges


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific entry naming the module or a package above it."""
    best: tuple[int, int] | None = None  # (specificity, layer)
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            if module == name or (name != "django_polar" and module.startswith(name + ".")):
                if best is None or len(name) > best[0]:
                    best = (len(name), index)
    if best is None:
        raise AssertionError(
            f"{module} has no place in tests/test_layers.py LAYERS: add it to the layer it "
            "belongs to (and to docs/architecture.md)."
        )
    return best[1]


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_imports_run_down_the_layers():
    upward = [
        f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
        for a, b, _ in imports()
        if layer_of(b) > layer_of(a) and (a, b) not in ALLOWED_UPWARD
    ]
    assert upward == []


def test_no_import_is_hidden_inside_a_function():
    deferred = sorted(
        {f"{a} -> {b}" for a, b, hidden in imports() if hidden and (a, b) not in ALLOWED_DEFERRED}
    )
    assert deferred == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path = [root]
        stack = [iter(sorted(graph.get(root, ())))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for a, b, _ in imports():
        if (a, b) not in ALLOWED_DEFERRED:
            graph.setdefault(a, set()).add(b)
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a two-module loop is reported with its path."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_the_allow_lists_name_real_modules():
    """An exception for a module that does not exist is a typo (usage.py may be absent
    until the usage move lands, so its entries are the only ones allowed to wait)."""
    for a, b in ALLOWED_DEFERRED:
        for name in (a, b):
            if name != "django_polar.usage":
                assert name in MODULES, name


# -- old import paths ------------------------------------------------------------------


def test_access_imports_no_drf():
    """access.py is plain Django: importing it (in a project without DRF installed in
    INSTALLED_APPS) loads no rest_framework module."""
    code = (
        "import sys, django\n"
        "from django.conf import settings\n"
        "settings.configure(INSTALLED_APPS=['django.contrib.auth', "
        "'django.contrib.contenttypes', 'django_polar'], "
        "DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}})\n"
        "django.setup()\n"
        "import django_polar.access, django_polar.views, django_polar.billable\n"
        "print(sorted(m for m in sys.modules if m.startswith('rest_framework')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["HasActiveSubscription", "HasBenefit", "HasBillable"])
def test_the_drf_permissions_keep_their_old_path_with_a_warning(name):
    from django_polar import access
    from django_polar.api import permissions

    with pytest.warns(DeprecationWarning, match=f"django_polar.api.permissions.{name}"):
        moved = getattr(access, name)
    assert moved is getattr(permissions, name)


def test_mirror_resolve_billable_keeps_its_old_name_with_a_warning():
    from django_polar import identity, mirror

    with pytest.warns(DeprecationWarning, match="billable_from_external_id"):
        assert mirror.resolve_billable is identity.billable_from_external_id


def test_moved_names_keep_their_old_import_paths():
    """The same objects, without a warning: these paths are documented."""
    from django_polar import billable, checkout, errors, identity, models, pacing, sync
    from django_polar.webhooks import dispatch, verify

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert billable.CustomerConflictError is errors.CustomerConflictError
        assert billable.billable_for_request is identity.billable_for_request
        assert billable.billable_from_external_id is identity.billable_from_external_id
        assert billable.billables_from_external_ids is identity.billables_from_external_ids
        assert checkout.CheckoutError is errors.CheckoutError
        assert checkout.UnknownProductError is errors.UnknownProductError
        assert checkout.ReservedMetadataKeyError is errors.ReservedMetadataKeyError
        assert checkout.resolve_product_id is models.resolve_product_id
        assert verify.VerificationError is errors.VerificationError
        assert verify.MalformedRequest is errors.MalformedRequest
        assert dispatch.MalformedEvent is errors.MalformedEvent
        assert sync.Pacer is pacing.Pacer
        assert sync.fetch_concurrently is pacing.fetch_concurrently
