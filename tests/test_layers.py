"""Data flows one way: sources -> tasks -> build -> metrics -> evaluation/publishing -> the command line.

Every import is read from the source (function-level ones included): the module graph has no cycle, and
no module imports one of a higher layer.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "imax_hub"

# lowest first; a module belongs to the first entry that is it or a package above it
LAYERS = (
    ("imax_hub", "imax_hub.errors", "imax_hub.files", "imax_hub.geometry", "imax_hub._rle_native",
     "imax_hub.upload_guard", "imax_hub.lighteval_offline"),
    ("imax_hub.sources",),
    ("imax_hub.tasks", "imax_hub.synth"),
    ("imax_hub.build", "imax_hub.check"),
    ("imax_hub.metrics", "imax_hub.download", "imax_hub.backends", "imax_hub.adapters"),
    ("imax_hub.evaluation", "imax_hub.lighteval_tasks", "imax_hub.lmms_tasks", "imax_hub.pseudo", "imax_hub.train", "imax_hub.fim",
     "imax_hub.hub", "imax_hub.cards", "imax_hub.leaderboard", "imax_hub.gallery"),
    ("imax_hub.cli", "imax_hub.__main__"),
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("imax_hub",) + path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """imax_hub modules imported anywhere in a module (function bodies included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name:
                found.add(t)
    return found


def _layer(module: str) -> int:
    best = None
    for i, entries in enumerate(LAYERS):
        for e in entries:
            if (module == e or module.startswith(e + ".")) and (best is None or len(e) > len(best[1])):
                best = (i, e)
    assert best is not None, f"{module} has no layer in tests/test_layers.py"
    return best[0]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_no_module_imports_a_higher_layer():
    upward = sorted(f"{a} -> {b}" for a, deps in _graph().items() for b in deps if _layer(b) > _layer(a))
    assert upward == []


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_only_the_manifest_module_opens_a_build_manifest():
    readers = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                     if '"build_manifest.json"' in p.read_text() and p.name != "manifest.py")
    assert readers == []
