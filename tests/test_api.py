"""The public API is declared once: each subpackage's ``__all__`` names its modules, and the two module maps
(the README's table and ``emokd/__init__.py``'s docstring) list exactly those, layer by layer.

Read from the source (``ast``), so nothing heavy is imported; ``from emokd.<sub> import *`` is tried on the
light layers to show that ``__all__`` names importable modules."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from emokd import LAYERS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "emokd"


def declared(sub: str) -> list[str]:
    """``emokd/<sub>/__init__.py``'s ``__all__``, read with ast."""
    tree = ast.parse((PACKAGE / sub / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"emokd/{sub}/__init__.py declares no __all__")


def modules(sub: str) -> set[str]:
    return {p.stem for p in (PACKAGE / sub).glob("*.py") if p.stem != "__init__"}


def test_every_layer_is_a_subpackage_and_nothing_else_is():
    assert LAYERS == ("core", "signal", "io", "synth", "nn", "training", "evaluation", "saliency", "teaching")
    subs = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subs == set(LAYERS)


@pytest.mark.parametrize("sub", LAYERS)
def test_all_names_every_module_of_its_folder_once(sub):
    names = declared(sub)
    assert len(names) == len(set(names)), names
    assert set(names) == modules(sub), (sorted(set(names) - modules(sub)), sorted(modules(sub) - set(names)))


def test_the_readme_maps_every_module():
    listed = set(re.findall(r"^\| `emokd/(\w+)/(\w+)\.py` \|", (ROOT / "README.md").read_text(), re.M))
    assert listed == {(sub, m) for sub in LAYERS for m in declared(sub)}


def test_the_package_docstring_maps_every_module_under_its_layer():
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text()))
    entries = re.findall(r"^- ``(\w+)``(.*?)(?=^- ``|^\S)", doc, re.M | re.S)
    assert [sub for sub, _ in entries] == list(LAYERS)
    for sub, text in entries:
        assert set(re.findall(r"``(\w+)``", text)) >= set(declared(sub)), sub


@pytest.mark.parametrize("sub", ["core", "signal", "io", "synth"])
def test_star_import_gives_the_declared_modules(sub):
    namespace = {}
    exec(f"from emokd.{sub} import *", namespace)
    for name in declared(sub):
        assert namespace[name] is importlib.import_module(f"emokd.{sub}.{name}")
