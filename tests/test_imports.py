"""The import structure of ``pipeline/``, read from the source (nothing is imported).

Two rules:

* no import cycles between project modules, counting imports inside functions
  (a lazy import hides a cycle from Python, not from the reader);
* evaluation never needs training: no ``evaluat*`` module of a track
  (``pipeline/models/<track>/``) imports, directly or through other modules of
  that track, a ``train*`` module (``train.py``, ``training.py``, ``trainer.py``).

Imports under ``if TYPE_CHECKING:`` never run and are left out. An import of a
submodule counts as an edge to that submodule only: the packages above it are
imported too, but a package ``__init__`` that imports its own submodules would
otherwise make every package a cycle.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "pipeline"


def module_files(root: Path = REPO, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node``, at any depth, except TYPE_CHECKING blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child):
            yield from (n for stmt in child.orelse for n in _import_nodes_in(stmt))
        else:
            yield from _import_nodes(child)


def _import_nodes_in(stmt: ast.stmt) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        yield stmt
    else:
        yield from _import_nodes(stmt)


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    # A package's own module is its __init__: level 1 means the package itself.
    keep = len(parts) - node.level + (1 if is_package else 0)
    base = ".".join(parts[:keep])
    return f"{base}.{node.module}" if node.module else base


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports (edges of the graph)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return _resolved(module, path.name == "__init__.py", _import_nodes(tree), known)


def _resolved(
    module: str, is_package: bool, nodes: Iterator[ast.Import | ast.ImportFrom], known: set[str]
) -> set[str]:
    """The project modules the import statements ``nodes`` of ``module`` name."""
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = _base(module, is_package, node)
        for alias in node.names:
            # `from pipeline.x import y`: y is either the submodule pipeline.x.y or a name in x.
            sub = f"{base}.{alias.name}"
            found.add(sub if sub in known else base)
    return {name for name in found if name in known and name != module}


@functools.cache
def import_graph(root: Path = REPO, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = module_files(root, package)
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component, as a path ``[a, b, ..., a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_through(component, graph) for component in sorted(components)]


def _cycle_through(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{component} is not a cycle")


def path_to(graph: dict[str, set[str]], start: str, allowed: str, target) -> list[str] | None:
    """A shortest import path from ``start`` to a module ``target`` accepts, through modules
    under ``allowed`` only; None when there is none."""
    previous: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt in previous or not (nxt == allowed or nxt.startswith(allowed + ".")):
                    continue
                previous[nxt] = node
                if target(nxt):
                    path = [nxt]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return path[::-1]
                following.append(nxt)
        frontier = following
    return None


def _is_training(module: str) -> bool:
    return module.rsplit(".", 1)[-1].startswith("train")


def _evaluation_modules(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        name
        for name in graph
        if name.count(".") == 3
        and name.startswith(f"{PACKAGE}.models.")
        and name.rsplit(".", 1)[-1].startswith("evaluat")
    )


def test_the_import_graph_is_read_from_every_module():
    graph = import_graph()
    assert len(graph) > 100
    # `from a import b`, `from package import submodule`, and a TYPE_CHECKING-only import
    # (lazy and relative imports: the synthetic package below).
    assert "pipeline.params" in graph["pipeline.data.sources"]
    assert "pipeline.models.dicl.meta_arch" in graph["pipeline.models.dicl"]
    assert "pipeline.data.synthetic.figure" not in graph["pipeline.data.synthetic.accessories"]


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", _evaluation_modules(import_graph()))
def test_evaluation_does_not_import_training(module):
    graph = import_graph()
    track = module.rsplit(".", 1)[0]
    path = path_to(graph, module, track, _is_training)
    assert path is None, "evaluation imports training: " + " -> ".join(path or [])


TRACKS = ("dicl", "scl", "dclnet")


@pytest.mark.parametrize("function", ["build_model", "evaluate_model"])
@pytest.mark.parametrize("track", TRACKS)
def test_the_track_contract_evaluates_without_training(track, function):
    """``pipeline.models.<track>.entry``: what ``build_model`` and ``evaluate_model`` import
    (the module's own imports and those inside the function) reaches no training module;
    only ``train_model`` imports one, inside itself."""
    graph, modules = import_graph(), module_files()
    package, entry = f"{PACKAGE}.models.{track}", f"{PACKAGE}.models.{track}.entry"
    tree = ast.parse(modules[entry].read_text(encoding="utf-8"))
    (body,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    own = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    starts = _resolved(entry, False, iter([*own, *_import_nodes(body)]), set(modules))
    for start in sorted(starts):
        path = [start] if _is_training(start) else path_to(graph, start, package, _is_training)
        assert path is None, f"{entry}.{function} imports training: " + " -> ".join(path or [])


def test_there_is_an_evaluation_module_per_track():
    tracks = {m.rsplit(".", 1)[0] for m in _evaluation_modules(import_graph())}
    assert tracks == {f"{PACKAGE}.models.{t}" for t in ("dicl", "scl", "dclnet")}


# The checks themselves, on a package written for the purpose.
def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_cycles_through_lazy_relative_and_submodule_imports_are_found(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.sub import b\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/b.py": "def f():\n    from ..c import thing\n",
            "pkg/c.py": "from . import a\nimport os\n",
            "pkg/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n",
            "pkg/e.py": "from pkg.d import x\n",
        },
    )
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.d"] == set()
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_a_training_module_reached_through_the_track_is_found():
    graph = {
        "t.evaluate": {"t.network", "other.train"},
        "t.network": {"t.settings"},
        "t.settings": {"t.trainer"},
        "t.trainer": set(),
        "other.train": set(),
    }
    path = path_to(graph, "t.evaluate", "t", _is_training)
    assert path == ["t.evaluate", "t.network", "t.settings", "t.trainer"]
    assert path_to(graph, "t.network", "t", lambda m: m == "other.train") is None
