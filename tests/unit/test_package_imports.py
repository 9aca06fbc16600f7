"""The installed package stands on its own: it never imports the test suite, every module
imports with the core dependencies alone, and its module-level imports form no cycle.

The walk runs in a fresh interpreter: this one has ``tests`` imported already (pytest
put it there), and there the optional dependencies are refused, so a module that
needs one at import time is caught here rather than on a user's machine.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from rmlab._graph import find_cycle

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rmlab"

# Modules that may import an optional dependency at import time, and which one. None
# do today: onnxruntime (the vad extra) and the test extra's JupyterLab, Playwright
# and nbformat are imported inside the functions that use them.
NEEDS_EXTRA: dict[str, str] = {}


def extras() -> set[str]:
    """Import names of every optional dependency in pyproject.toml: what a plain
    ``pip install rmlab`` does not bring (distribution names, ``-`` read as ``_``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set()
    for specs in project.get("optional-dependencies", {}).values():
        for spec in specs:
            m = re.match(r"[A-Za-z0-9_.-]+", spec)
            assert m, f"cannot read the distribution name of {spec!r}"
            names.add(m[0].lower().replace("-", "_"))
    names.discard(project["name"])  # "rmlab[ray]" in the test extra: the other extra, not new
    return names


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# -- every module imports, and none imports tests -----------------------------------------

# Runs in the child: refuse the optional dependencies, import every module of rmlab,
# report what failed and whether ``tests`` got imported.
_WALK = """
import importlib, importlib.abc, json, pkgutil, sys

blocked = set(json.loads(sys.argv[1]))

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (optional: refused)", name=name)
        return None

sys.meta_path.insert(0, Refuse())
import rmlab

imported, failed = [], {}
def walk_error(name):
    exc = sys.exc_info()[1]
    failed[name] = {"error": f"{type(exc).__name__}: {exc}", "missing": getattr(exc, "name", None)}
for info in pkgutil.walk_packages(rmlab.__path__, "rmlab.", onerror=walk_error):
    try:
        importlib.import_module(info.name)
    except BaseException as exc:
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        failed[info.name] = {"error": f"{type(exc).__name__}: {exc}", "missing": missing}
    else:
        imported.append(info.name)
tests = sorted(m for m in sys.modules if m == "tests" or m.startswith("tests."))
print(json.dumps({"imported": imported, "failed": failed, "tests": tests}))
"""


@pytest.fixture(scope="module")
def walk() -> dict[str, object]:
    blocked = extras()
    assert {"playwright", "jupyterlab", "onnxruntime", "pytest", "ray"} <= blocked  # read right
    # cwd is the checkout, so an import of ``tests`` would succeed in the child and
    # show up in its sys.modules instead of failing for an unrelated reason
    done = subprocess.run(
        [sys.executable, "-c", _WALK, json.dumps(sorted(blocked))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_module_imports_with_the_core_dependencies_alone(walk: dict) -> None:
    problems = []
    for name, failure in walk["failed"].items():
        if NEEDS_EXTRA.get(name) and failure["missing"] == NEEDS_EXTRA[name]:
            continue  # declared above, and failing for exactly that reason
        why = f" (needs {failure['missing']!r})" if failure["missing"] else ""
        problems.append(f"{name}{why}: {failure['error']}")
    assert not problems, "modules that do not import:\n  " + "\n  ".join(problems)
    # the walk went everywhere: every .py file of the package was imported
    on_disk = {module_name(p) for p in PACKAGE.rglob("*.py")} - {"rmlab"}
    assert on_disk - set(walk["imported"]) - set(NEEDS_EXTRA) == set()


def test_importing_every_module_never_imports_the_test_suite(walk: dict) -> None:
    assert walk["tests"] == [], f"importing rmlab imported {walk['tests']}"


def suite_imports(root: Path = PACKAGE) -> list[tuple[Path, int, str]]:
    """Every import of ``tests`` or ``tests.*`` in the .py files under ``root``, anywhere
    in a file (inside functions too: a module-level walk never runs those)."""

    def names(node: ast.AST) -> Iterator[str]:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value

    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for name in names(node):
                if name == "tests" or name.startswith("tests."):
                    found.append((path, node.lineno, name))
    return sorted(found, key=lambda f: (f[0], f[1]))


def test_no_rmlab_source_file_imports_the_test_suite() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}: {name}" for path, line, name in suite_imports()]
    assert not found, "rmlab imports the test suite:\n  " + "\n  ".join(found)


def test_the_scan_sees_each_way_of_importing_the_suite(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import tests.browser\n"
        "def f():\n"
        "    from tests.browser import conftest\n"
        "    import importlib\n"
        "    importlib.import_module('tests.unit')\n"
        "import testsuite, rmlab.tests_helpers\n"
        "from . import tests\n"  # a sibling module named tests, not the suite
        "__import__('tests')\n"
    )
    assert [line for _, line, _ in suite_imports(tmp_path)] == [1, 3, 5, 8]


# -- no import cycles ---------------------------------------------------------------------


def _executed_at_import(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements a module runs when it is imported: its top level and the
    blocks there (if, try, with, class bodies), but not functions, and not the body of
    ``if TYPE_CHECKING:``, which never runs."""
    for s in body:
        if isinstance(s, ast.Import | ast.ImportFrom):
            yield s
        elif isinstance(s, ast.If):
            test = s.test
            if getattr(test, "id", getattr(test, "attr", None)) != "TYPE_CHECKING":
                yield from _executed_at_import(s.body)
            yield from _executed_at_import(s.orelse)
        elif isinstance(s, ast.Try | ast.TryStar):
            for block in (s.body, *(h.body for h in s.handlers), s.orelse, s.finalbody):
                yield from _executed_at_import(block)
        elif isinstance(s, ast.With | ast.ClassDef):
            yield from _executed_at_import(s.body)


def import_graph(root: Path) -> tuple[dict[str, list[str]], dict[tuple[str, str], str]]:
    """The package under ``root``'s module-level import graph, and for each edge the
    import line that makes it (``path:line``).

    ``import a.b`` and ``from a import b`` (``b`` a module) are edges to ``a.b``; ``from
    a import name`` is an edge to ``a``. Importing a module first runs its parent
    packages' ``__init__``, so those are edges too, except the importer's own parents:
    they are already being imported when it runs.
    """
    base = root.parent
    files = {module_name(p, base): p for p in sorted(root.rglob("*.py"))}
    succ: dict[str, list[str]] = {m: [] for m in files}
    where: dict[tuple[str, str], str] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _executed_at_import(tree.body):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join([*parts, *([node.module] if node.module else [])])
                else:
                    origin = node.module or ""
                targets = [
                    f"{origin}.{a.name}" if f"{origin}.{a.name}" in files else origin
                    for a in node.names
                ]
            for target in targets:
                if target not in files:
                    continue  # outside the package
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    dep = ".".join(parts[:i])
                    own_parent = name == dep or name.startswith(dep + ".")
                    wanted = dep in files and (dep == target or not own_parent) and dep != name
                    if wanted and dep not in succ[name]:
                        succ[name].append(dep)
                        where[name, dep] = f"{path.relative_to(base)}:{node.lineno}"
    return succ, where


def import_cycles(root: Path) -> list[str]:
    """Every import cycle of the package, one line each with the import that closes
    each step (found one at a time: a cycle's closing edge is set aside, then again)."""
    succ, where = import_graph(root)
    lines = []
    while cycle := find_cycle(succ):
        steps = [f"{a} ({where[a, b]})" for a, b in itertools.pairwise(cycle)]
        lines.append(" -> ".join([*steps, cycle[-1]]))
        succ[cycle[-2]].remove(cycle[-1])
    return lines


def test_rmlab_has_no_import_cycles() -> None:
    succ, _ = import_graph(PACKAGE)
    assert "rmlab._graph" in succ["rmlab.manifest"]  # the graph is the real one
    cycles = import_cycles(PACKAGE)
    assert not cycles, "import cycles (module-level imports):\n  " + "\n  ".join(cycles)


def test_the_import_graph_sees_what_runs_at_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pk"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pk.a import A\n",
        "a.py": "from pk import b\nA = 1\n",
        "b.py": "from .sub import c\nclass B:\n    from pk import a\n",
        "sub/__init__.py": "",
        "sub/c.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    import pk.a\n"  # never runs: no edge
            "def f():\n"
            "    import pk.b\n"  # runs later, if at all: no edge
            "try:\n"
            "    from .. import b\n"  # runs: an edge
            "except ImportError:\n"
            "    pass\n"
        ),
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    succ, _ = import_graph(pkg)
    assert succ == {
        "pk": ["pk.a"],
        "pk.a": ["pk.b"],  # "from pk import b": the module, not the half-imported pk
        "pk.b": ["pk.sub", "pk.sub.c", "pk.a"],  # pk.sub's __init__ runs first
        "pk.sub": [],
        "pk.sub.c": ["pk.b"],
    }
    assert import_cycles(pkg) == [
        "pk.b (pk/b.py:1) -> pk.sub.c (pk/sub/c.py:7) -> pk.b",
        "pk.a (pk/a.py:1) -> pk.b (pk/b.py:3) -> pk.a",
    ]
