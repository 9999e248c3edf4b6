"""The package's layers, drawn from its imports: every module sits in a layer, imports only go down,
and no module reaches itself through its imports.

Every ``.py`` file under ``emokd/`` is parsed with :mod:`ast` (nothing is imported), and every
``import`` and ``from ... import`` statement is read, at module level and inside functions alike
(a function-local import is still a dependency). An import of ``emokd.X`` where ``X`` is a
subpackage and the imported names are its modules (``from ..io import montage``) counts as an
import of those modules.

:data:`emokd.LAYERS` lists the subpackages bottom up. A module may import

- any module of its own subpackage (the import graph must still have no cycle),
- any module of a layer below its own, and the top-level ``emokd.errors``;

never a module of a layer above (neither up nor sideways into a subpackage listed later).
``emokd/__main__.py`` (the command line) stands above every layer; ``emokd/__init__.py`` and
``emokd/errors.py`` below every layer.

How the checker itself was checked: :func:`test_checker_finds_the_flat_layouts_cycles` builds the
two import cycles of the flat layout before 2026-12-07 (``models`` <-> ``backbone``, both sides
function-local imports as they were, and ``folddata`` <-> ``linear``) and an upward import, and
asserts that the checker reports each. It was also pointed at the flat package itself
(``git show 13b5272:emokd/<module>.py`` for its 44 modules, written to a folder and passed to
:func:`import_graph` and :func:`find_cycles`): it reported the strongly connected components
``{models, backbone}`` and ``{folddata, linear}``, and (with no layers there) every module but ``saliency`` (named like a layer) as
outside a layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from emokd import LAYERS  # the subpackages, bottom up (declared once, in emokd/__init__.py)

#: top-level modules and the rank they take: below every layer, or above every layer
TOP_LEVEL = {"__init__": -1, "errors": -1, "__main__": len(LAYERS)}

PACKAGE = Path(__file__).resolve().parents[1] / "emokd"


def module_name(path: Path, root: Path) -> str:
    """``emokd/io/bdf.py`` -> ``emokd.io.bdf``; ``emokd/io/__init__.py`` -> ``emokd.io``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (module level and function-local), drawn with ast."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [(mod, [a.name for a in node.names])]
            else:
                continue
            for mod, names in targets:
                if mod.split(".")[0] != root.name:
                    continue
                subs = [f"{mod}.{n}" for n in names or () if f"{mod}.{n}" in files]
                deps.update(subs or ([mod] if mod in files else []))
        deps.discard(name)
        graph[name] = deps
    return graph


def rank(module: str, root_name: str = "emokd") -> int | None:
    """The layer's index of a module (see :data:`LAYERS`, :data:`TOP_LEVEL`); None outside any layer."""
    parts = module.split(".")[1:]
    if not parts:
        return TOP_LEVEL["__init__"]
    if len(parts) == 1:
        return TOP_LEVEL.get(parts[0], LAYERS.index(parts[0]) if parts[0] in LAYERS else None)
    return LAYERS.index(parts[0]) if parts[0] in LAYERS else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Lines naming every module outside a layer and every import that goes up or sideways-up."""
    out = []
    for mod, deps in sorted(graph.items()):
        r = rank(mod)
        if r is None:
            out.append(f"{mod}: in no layer of {LAYERS}")
            continue
        own = mod.split(".")[1] if mod.count(".") >= 2 else None
        for dep in sorted(deps):
            d = rank(dep)
            if d is None:
                continue  # reported as a module of its own
            same = own is not None and dep.count(".") >= 2 and dep.split(".")[1] == own
            if not same and d >= r and not (d == r == TOP_LEVEL["__init__"]):
                out.append(f"{mod} imports {dep}: a layer {'above' if d > r else 'beside'} its own")
    return out


def find_cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_in_a_layer_and_imports_only_go_down():
    graph = import_graph()
    assert len(graph) > 40  # the checker saw the package
    assert layer_violations(graph) == []


def test_no_import_cycle():
    assert find_cycles(import_graph()) == []


def test_every_layer_is_a_subpackage():
    assert sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()) == sorted(LAYERS)


@pytest.fixture
def flat_package(tmp_path):
    """The flat layout's two cycles, as they were (function-local on one side), and an upward import."""
    root = tmp_path / "emokd"
    root.mkdir()
    files = {
        "__init__.py": "from .errors import EmokdError\n",
        "errors.py": "",
        "models.py": "from .errors import EmokdError\n\ndef f():\n    from .backbone import load_backbone\n",
        "backbone.py": "def g():\n    from .models import FrameCNN\n",
        "folddata.py": "def h():\n    from .linear import ridge_references\n",
        "linear.py": "def i():\n    from .folddata import fold_inputs\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_checker_finds_the_flat_layouts_cycles(flat_package):
    graph = import_graph(flat_package)
    assert graph["emokd.models"] == {"emokd.errors", "emokd.backbone"}
    assert sorted(map(sorted, find_cycles(graph))) == [["emokd.backbone", "emokd.models"],
                                                       ["emokd.folddata", "emokd.linear"]]
    outside = {line.split(":")[0] for line in layer_violations(graph) if "in no layer" in line}
    assert outside == {"emokd.models", "emokd.backbone", "emokd.folddata", "emokd.linear"}


def test_checker_finds_an_upward_import(tmp_path):
    root = tmp_path / "emokd"
    for sub in ("core", "nn"):
        (root / sub).mkdir(parents=True)
        (root / sub / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "core" / "config.py").write_text("def f():\n    from ..nn import models\n")
    (root / "nn" / "models.py").write_text("from ..core.config import f\n")
    graph = import_graph(root)
    assert layer_violations(graph) == ["emokd.core.config imports emokd.nn.models: a layer above its own"]
    assert find_cycles(graph) == [{"emokd.core.config", "emokd.nn.models"}]
