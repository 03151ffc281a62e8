"""The packages' shape: features -> models -> pipelines, no import loop anywhere, and no stage importing another.

Read from the source (every ``import``, including those inside functions), so a lazy import
cannot hide a loop. A stage (one command's body) may use the shared plumbing (config, inputs,
sources, sinks, files, tracking, redaction, validation, report, ...) but never another stage;
``cli`` and ``evaluate`` are the two modules that run stages.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "models", "pipelines")
RANK = {name: rank for rank, name in enumerate(PACKAGES)}
STAGES = {"pipelines.stages", "pipelines.train", "pipelines.score", "pipelines.generate", "pipelines.summary",
          "pipelines.export_profile"}
RUNNERS = {"pipelines.cli", "pipelines.evaluate"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets |= {f"{node.module}.{alias.name}" for alias in node.names}  # from pipelines import sinks
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        edges[name] = {t for t in targets if t in modules and t != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_no_import_loop():
    assert cycles(graph()) == []


def test_the_checker_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_packages_import_only_downwards():
    upward = [(source, target) for source, targets in graph().items() for target in targets
              if RANK[target.split(".")[0]] > RANK[source.split(".")[0]]]
    assert upward == []


def test_no_stage_imports_another():
    edges = graph()
    assert STAGES <= edges.keys()
    crossing = [(source, target) for source, targets in edges.items() if source not in RUNNERS
                for target in targets if target in STAGES]
    assert crossing == []
