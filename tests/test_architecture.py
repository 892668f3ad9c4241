"""The tree shows the architecture: dependencies point one way, and no module imports in a circle.

Every module under ``service/`` is parsed (not imported) and every import it holds counts: at
module level, under ``if TYPE_CHECKING:`` and inside functions. A lower layer never imports a
higher one:

    domain  ←  adapters, imports  ←  use_cases  ←  projections  ←  workers, reports  ←  demo
            ←  api  ←  route  ←  cli

``adapters`` (store wiring, outbound HTTP, files, the access-log recorder) and ``imports`` (the
roster file) know the domain and the libraries, never a use case.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "service"

# (layer, module prefixes), lowest first; a module may import its own layer and those below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("domain", ("service.domain",)),
    ("adapters", ("service.adapters", "service.imports", "service.settings")),
    ("use_cases", ("service.use_cases", "service.application")),
    ("projections", ("service.projections",)),
    ("workers", ("service.workers", "service.reports")),
    ("demo", ("service.demo",)),
    ("api", ("service.api",)),
    ("route", ("service.route",)),
    ("cli", ("service.cli",)),
]
TOP_LEVEL = {"service", "service.settings", "service.application", "service.cli"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SERVICE.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module of ours an imported name lives in (the longest known prefix), if any."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int, bool]]:
    """(imported module of ours, line, inside a function) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, local: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found = _resolve(alias.name, known)
                    if found is not None:
                        yield found, child.lineno, inner
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in child.names:
                    found = _resolve(f"{base}.{alias.name}", known)
                    if found is not None:
                        yield found, child.lineno, inner
            yield from visit(child, inner)

    yield from visit(tree, False)


def graph() -> dict[str, dict[str, int]]:
    """module → {imported module: first line}, our modules only, no self-edges."""
    known = modules()
    edges: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        out = edges.setdefault(name, {})
        for target, line, _ in imports_of(name, path, known):
            if target != name:
                out.setdefault(target, line)
    return edges


def layer_of(module: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def test_every_module_sits_in_a_layer() -> None:
    stray = [m for m in modules() if layer_of(m) is None and m != "service"]
    stray += [m for m in modules() if m.count(".") == 1 and m not in TOP_LEVEL
              and not (SERVICE / m.split(".")[1]).is_dir()]
    assert not sorted(set(stray)), f"modules outside the layers: {sorted(set(stray))}"


def test_no_module_imports_in_a_circle_not_even_for_types() -> None:
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in found)


def test_dependencies_point_one_way() -> None:
    wrong = []
    for module, targets in graph().items():
        mine = layer_of(module)
        for target, line in targets.items():
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                wrong.append(f"{module}:{line} ({LAYERS[mine][0]}) imports {target} "
                             f"({LAYERS[theirs][0]})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


def test_workers_import_what_they_use_up_front() -> None:
    known = modules()
    late = [f"{m}:{line} imports {t}" for m, p in known.items() if m.startswith("service.workers")
            for t, line, local in imports_of(m, p, known) if local]
    assert not late, "function-local imports in the workers:\n" + "\n".join(late)


def test_the_bench_is_not_in_the_runtime_package() -> None:
    shipped = [m for m in modules() if m.rsplit(".", 1)[-1].startswith(("bench",))]
    assert not shipped, f"tooling inside service/: {shipped}"


def test_only_the_bench_command_reaches_into_tools() -> None:
    """tools/ is not installed: the runtime never imports it, only ``handover bench`` does, late."""
    reaching = set()
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            if any(n == "tools" or n.startswith("tools.") for n in names):
                reaching.add(module)
    assert reaching == {"service.cli"}


def test_the_store_factories_keep_the_topics_an_environment_may_name() -> None:
    from eventsourcing.utils import resolve_topic

    from service.adapters.store import DurableSQLiteFactory, OutageAwarePostgresFactory

    assert resolve_topic("service.store:DurableSQLiteFactory") is DurableSQLiteFactory
    assert resolve_topic("service.store:OutageAwarePostgresFactory") is OutageAwarePostgresFactory


def test_the_graph_sees_type_checking_and_local_imports(tmp_path: Path) -> None:
    """The parser counts the imports a cycle hides behind: typing-only and function-local."""
    pkg = tmp_path / "service"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from service.b import B\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n    return a\n")
    known = {module_name_under(tmp_path, p): p for p in sorted(pkg.rglob("*.py"))}
    edges = {m: {t for t, _, _ in imports_of(m, p, known)} for m, p in known.items()}
    assert edges["service.a"] == {"service.b"} and edges["service.b"] == {"service.a"}
    assert cycles({m: dict.fromkeys(ts, 1) for m, ts in edges.items()}) == [["service.a", "service.b"]]


def module_name_under(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)
