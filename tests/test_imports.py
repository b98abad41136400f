"""The import graph of ``src/e2h``: no circle between modules, and the documented layering holds.

Every ``import`` and ``from … import`` counts, at module level and inside functions (a lazy import only hides a
circle until it bites); ``if TYPE_CHECKING:`` blocks do not, they never run. ``from e2h.pkg import name`` is an edge
to ``e2h.pkg.name`` when that is a module, else to the package ``e2h.pkg`` (its ``__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_names() -> dict[str, Path]:
    names = {}
    for path in sorted((SRC / "e2h").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement reaches (submodules where ``from X import y`` names one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([base] if base else [])])
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def import_graph() -> dict[str, set[str]]:
    """Module → the ``e2h`` modules it imports (outside TYPE_CHECKING blocks)."""
    modules = _module_names()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        stack: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
        while stack:
            node = stack.pop()
            if _type_checking(node):
                stack.extend(getattr(node, "orelse", []))
                continue
            stack.extend(ast.iter_child_nodes(node))
            names = _imported(node, module, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):  # `from X import y`: X.y if it is a module, else X
                *subs, base = names
                found = [n for n in subs if n in modules]
                names = found if len(found) == len(subs) else [*found, base]
            for name in names:
                while name and name not in modules:  # `import e2h.a.b` reaches e2h.a.b; an attribute its module
                    name = name.rpartition(".")[0]
                if name and name != module:
                    edges.add(name)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), each as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(set(c), graph) for c in components]


def _cycle_in(component: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest closed path through the component's first module (breadth-first)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        for nxt in sorted(graph[node] & component):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover: a component always has one


def test_the_checker_finds_a_cycle_and_names_it():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_imports_and_skips_type_checking_blocks():
    graph = import_graph()
    assert "e2h.experiments.store" in graph["e2h.experiments.runner"]  # module level
    assert "e2h.learners" in graph["e2h.experiments.cell"]  # inside a function (make_learner)
    assert "e2h.models" not in graph["e2h.experiments.cell"]  # only under TYPE_CHECKING (LanguageModel)


def test_no_import_cycle_in_e2h():
    cycles = [" → ".join(cycle) for cycle in find_cycles(import_graph())]
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_the_documented_layering():
    """``analysis`` reads the store only (never imports ``experiments``); no module outside ``cli`` imports it."""
    graph = import_graph()

    def within(name: str, package: str) -> bool:
        return name == package or name.startswith(package + ".")

    wrong = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if (within(module, "e2h.analysis") and within(target, "e2h.experiments"))
        or (within(target, "e2h.cli") and not within(module, "e2h.cli"))
    ]
    assert not wrong, "; ".join(sorted(wrong))
