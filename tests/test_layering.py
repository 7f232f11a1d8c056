"""The package's layers: no capability (zoo, analysis, data, rundir, train, ...) imports, at the top or inside a
function, one that imports it back.

Read from the source (ast), so an import inside a function counts as much as one at the top: a circle through a
lazy import still ties two capabilities together, and breaks the day someone hoists the import. Modules of one
capability may refer to each other (the zoo's registry builds network files, whose bases come from the registry)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Module edges a circle may go through by design: none. (Building a zoo model with options once asked the analysis
# whether it fits; the zoo now probes its own build, since the analysis builds models by name from the zoo.)
ALLOWED: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "cnnlab").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the cnnlab modules it imports anywhere in its text. `from package import name` is an edge to the
    submodule where `name` is one; an edge to a module's own package is left out (Python initialises a package
    before any of its modules, so that is no circle)."""
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                named = [f"{base}.{alias.name}" for alias in node.names]
                targets = [n for n in named if n in modules] or [base]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target in modules and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def capability_graph(allowed: set[tuple[str, str]]) -> dict[str, set[str]]:
    """The import graph between capabilities (cnnlab.zoo, cnnlab.rundir, ...; a top-level module is its own), the
    module edges in `allowed` left out."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, targets in import_graph().items():
        for target in targets - {t for s, t in allowed if s == source}:
            if _capability(source) != _capability(target):
                graph[_capability(source)].add(_capability(target))
    return graph


def _capability(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_capability_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    for source, target in ALLOWED:
        assert target in graph[source], f"{source} no longer imports {target}: drop it from ALLOWED"
    assert circles(capability_graph(ALLOWED)) == []


def test_the_check_finds_a_circle_through_a_lazy_import_and_not_a_modules_own_package() -> None:
    """The check itself: one import back from the zoo to the analysis (which builds zoo models by name) closes a
    circle in the real graph, so the test above can fail, while a module's import of its own package
    (cnnlab.train.engine's `from cnnlab.train import diagnose`) does not count."""
    graph = capability_graph(ALLOWED)
    graph["cnnlab.zoo"].add("cnnlab.analysis")
    assert any({"cnnlab.analysis", "cnnlab.zoo"} <= set(group) for group in circles(graph))
    graph = import_graph()
    assert "cnnlab.train.diagnose" in graph["cnnlab.train.engine"]
    assert "cnnlab.train" not in graph["cnnlab.train.engine"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
