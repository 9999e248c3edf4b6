"""Write every chapter's first cell (the Colab/Binder setup) from _config.yml.

The repository URL and branch live in one place, ``_config.yml``; this script
puts them into the first code cell of each chapter listed in ``_toc.yml``
(tagged ``emokd-setup``, replaced if present, inserted if not) and clears the
chapters' outputs. ``tests/book/test_jupyter_book_build.py`` checks that the cells agree with the
config, so run this after changing either.

Run:  python book/_tools/setup_cells.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[2]
TAG = "emokd-setup"

TEMPLATE = '''\
# Setup, written from _config.yml by book/_tools/setup_cells.py. In Colab (or any Python
# without emokd) it clones the repository, installs emokd with pip (Colab's own torch is
# kept) and works in the book/ folder, as the build does. Binder and local builds skip that;
# every run then takes the book's figure style (emokd.core.style).
import importlib.util, os, subprocess, sys
if importlib.util.find_spec("emokd") is None:
    REPO, BRANCH = "{url}", "{branch}"
    if not os.path.isdir("emokd-repo"):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", BRANCH, REPO, "emokd-repo"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "emokd-repo[notebooks]"], check=True)
    os.chdir("emokd-repo/book")
    sys.path.insert(0, os.path.abspath(".."))
from emokd.core import style
style.apply()  # the book's one figure style: a colour per model, seaborn's theme, readable at page width'''


def setup_source(config_path: Path = ROOT / "_config.yml") -> str:
    repo = yaml.safe_load(config_path.read_text())["repository"]
    return TEMPLATE.format(url=repo["url"], branch=repo.get("branch", "main"))


def chapters(toc_path: Path = ROOT / "_toc.yml") -> list[Path]:
    """The notebooks of the table of contents, in order."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def update(path: Path, source: str) -> bool:
    nb = nbformat.read(path, as_version=4)
    # remove-cell: the rendered page does not show it (it has no output); notebooks keep it
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [TAG, "remove-cell"]})
    first = next((i for i, c in enumerate(nb.cells) if TAG in c.get("metadata", {}).get("tags", [])), None)
    if first is None:
        at = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
        nb.cells.insert(at, cell)
    else:
        cell["id"] = nb.cells[first].get("id", cell["id"])
        nb.cells[first] = cell
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    text = nbformat.writes(nb) + "\n"
    changed = text != path.read_text()
    if changed:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return changed


def main() -> int:
    source = setup_source()
    for path in chapters():
        if update(path, source):
            print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
