"""The shape of the package: no import cycle in leaselect/, no module over the size limit.

Every import counts, also one under ``if TYPE_CHECKING:`` or inside a function: a cycle that
only type checking or a late import lets run is still two modules that need each other. A
module that needs something of the one importing it declares it (a ``Protocol``, or arguments)
instead; see ``leaselect/backends/etcd/candidacy.py``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "leaselect"

LINE_LIMIT = 300


def modules() -> dict[str, Path]:
    """Every module of leaselect/ by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in known else base)
    found = set()
    for target in targets:
        while target not in known and "." in target:
            target = target.rpartition(".")[0]
        if target in known and target != name:
            found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    names = set(known)
    return {name: imports(name, path, names) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
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
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_graph_sees_relative_typing_and_late_imports() -> None:
    graph = import_graph()
    assert "leaselect.backends.etcd.transport" in graph["leaselect.backends.etcd.candidacy"]
    assert "leaselect.backend" in graph["leaselect.backends.etcd.candidacy"]  # from ...backend
    assert "leaselect.keeper" in graph["leaselect.backends.zookeeper.session"]  # from ... import
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_leaselect() -> None:
    found = sorted(sorted(cycle) for cycle in cycles(import_graph()))
    assert not found, f"import cycles in leaselect/: {found}"


def test_no_module_over_the_line_limit() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    over = {path: lines for path, lines in sizes.items() if lines > LINE_LIMIT}
    assert not over, f"modules over {LINE_LIMIT} lines: {over}"


def test_the_documented_adapter_paths_import() -> None:
    """``leaselect.backends.<store>`` exports its adapter (the registry imports it by that name),
    and ``leaselect.backends.etcd_fence`` (the path README used) still has the fenced writes."""
    for module, cls in [
        ("leaselect.backends.sqlite", "SqliteBackend"),
        ("leaselect.backends.redis", "RedisBackend"),
        ("leaselect.backends.etcd", "EtcdBackend"),
        ("leaselect.backends.zookeeper", "ZooKeeperBackend"),
    ]:
        assert getattr(importlib.import_module(module), cls).__name__ == cls
    fence = importlib.import_module("leaselect.backends.etcd_fence")
    fencing = importlib.import_module("leaselect.fencing.etcd")  # where the fence lives now
    assert callable(fence.guarded_txn) and callable(fence.owner_compare)
    for name in ("put_op", "delete_op"):
        assert getattr(fence, name) is getattr(fencing, name)


CORE = {
    f"leaselect.{name}"
    for name in ("clock", "errors", "lease", "machine", "names", "timing", "url_options", "urls")
}
WRAPPERS = (
    "leaselect.runner",
    "leaselect.leader_runner",
    "leaselect.leader_function",
    "leaselect.aio",
    "leaselect.integrations",
    "leaselect.fencing",
    "leaselect.probes",
    "leaselect.metrics",
    "leaselect.pytest_plugin",
    "leaselect.cli",
)
# the package's facade (``from leaselect import ...``) and the old import path of etcd's fenced
# writes (a re-export of leaselect.fencing) may import from any layer
FACADES = {"leaselect", "leaselect.backends.etcd_fence"}


def _against_the_layers(module: str, dep: str) -> bool:
    """Whether ``module`` importing ``dep`` goes up the layers of docs/architecture.md."""
    if module in FACADES or not dep.startswith("leaselect.") or module.startswith(WRAPPERS):
        return False
    if module in CORE:
        return dep not in CORE
    if dep.startswith(WRAPPERS):
        return True  # neither the driver nor an adapter builds on a wrapper
    adapter = module.startswith("leaselect.backends.")
    return not adapter and dep.startswith("leaselect.backends.")  # the driver names no store


def test_the_layers_of_docs_architecture() -> None:
    """Core imports only core; the driver and the adapters import no wrapper; the driver
    imports no adapter (the registry imports one by name, when its scheme is used)."""
    graph = import_graph()
    upward = sorted(
        (module, dep)
        for module, deps in graph.items()
        for dep in deps
        if _against_the_layers(module, dep)
    )
    assert not upward, f"imports against the layers: {upward}"
    assert _against_the_layers("leaselect.machine", "leaselect.elector")
    assert _against_the_layers("leaselect.backends.redis.backend", "leaselect.runner")
    assert _against_the_layers("leaselect.keeper", "leaselect.backends.redis.backend")
