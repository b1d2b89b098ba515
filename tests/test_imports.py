"""The package's imports go one way: a walk of every import statement of chvoice_core (module level and inside
functions; `if TYPE_CHECKING:` blocks aside, which never run) finds no circle, and no module imports from a layer
above its own. The layers, lowest first, are the ones docs/architecture.md draws."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "chvoice_core"

# lowest first; a module belongs to the first layer with a prefix that matches its dotted name
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "version", "audio_io", "budgets", "parallel", "benchrows", "machine")),
    ("dsp", ("dsp",)),
    ("data, models, metrics", ("data", "models", "metrics", "pretrained", "baselines")),
    ("backends", ("compress.quantize", "compress.bf16", "compress.ort", "compress.pt2e", "compress.formats", "compress.dequantize",
                  "onnx_step")),
    ("engine", ("longform", "stream", "causal_stream", "families", "enhance", "live", "evaluate", "timing")),
    ("training", ("losses", "validation", "train")),
    ("compression", ("compress",)),
    ("zoo and scoring", ("zoo", "realzoo", "scoring")),
    ("surfaces", ("api", "cli", "web", "")),
]


def modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _runtime_nodes(tree: ast.AST):
    """Every import node outside `if TYPE_CHECKING:` blocks."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            node.body = []
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (relative and absolute, anywhere in the file)."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, f in mods.items():
        pkg = name.split(".") if f.name == "__init__.py" else name.split(".")[:-1]
        pkg = [p for p in pkg if p]
        deps = set()
        for node in _runtime_nodes(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(pkg[:len(pkg) - (node.level - 1)] + ([node.module] if node.module else []))
                elif (node.module or "").startswith("chvoice_core"):
                    base = node.module[len("chvoice_core"):].lstrip(".")
                else:
                    continue
                for a in node.names:
                    full = f"{base}.{a.name}".lstrip(".")
                    deps.add(full if full in mods else base)
            else:
                deps.update(a.name[len("chvoice_core."):] for a in node.names if a.name.startswith("chvoice_core."))
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def layer_of(module: str) -> int:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") or p == "" for p in prefixes):
            return i
    raise AssertionError(module)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_the_imports_it_must():
    g = import_graph()
    assert "dsp" in g["longform"] and "families" in g["enhance"] and "compress.ort" in g["onnx_step"]
    assert "enhance" not in g["families"]          # a TYPE_CHECKING import is not an import at run time
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_no_module_imports_from_a_layer_above_its_own():
    g = import_graph()
    up = sorted(f"{m} ({LAYERS[layer_of(m)][0]}) -> {d} ({LAYERS[layer_of(d)][0]})"
                for m, deps in g.items() for d in deps if layer_of(d) > layer_of(m))
    assert up == []


def test_no_module_over_300_lines():
    long = {n: len(f.read_text().splitlines()) for n, f in modules().items()}
    assert {n: k for n, k in long.items() if k > 300} == {}


# the package's own modules imported inside a function, and why: only what pulls in an optional heavy dependency
LAZY = {("cli.models", "web"): "Flask, imported only by `chvoice serve`"}


def test_package_imports_sit_at_the_top_of_modules():
    mods = modules()
    inside = set()
    for name, f in mods.items():
        for fn in ast.walk(ast.parse(f.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(fn):
                    if isinstance(n, ast.ImportFrom) and n.level > 0:
                        pkg = name.split(".") if f.name == "__init__.py" else name.split(".")[:-1]
                        base = pkg[:len(pkg) - (n.level - 1)]
                        inside.add((name, ".".join(base + ([n.module] if n.module else []))))
    assert inside == set(LAZY), "move these imports to the top of their module: " + str(sorted(inside - set(LAZY)))
