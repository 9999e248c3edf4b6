"""Write the student and the instructor edition of the book from its one source.

The chapters in ``book/`` are the instructor edition: every exercise is followed by its
solution, in cells of their own tagged ``solution`` (a markdown ``{solution}`` cell for a
text answer; ``{solution-start}`` ... code cells ... ``{solution-end}`` for a runnable one).
The student edition is the same book without those cells: the exercises stay, and a coding
exercise keeps its starter cell (a function whose body is ``...``, followed by its check,
which says "not implemented yet" until the student fills it in).

Each edition is written as a book root of its own (``_config.yml``, ``_toc.yml``, ``book/``),
with links to the folders the chapters read (``results``, ``benchmarks``) and to the shared
cache (``emokd-runs``), so that both build from the same cached data and experiment:

    python book/_tools/editions.py --out _editions
    jupyter-book build _editions/instructor -W -n --keep-going   # executes every solution
    jupyter-book build _editions/student -W -n --keep-going

The editions differ in their configuration too: each one's launch buttons (Colab, Binder)
and each chapter's setup cell name the branch that holds that edition's notebooks
(``--student-branch``, default ``student``; the instructor edition keeps ``_config.yml``'s
branch), so a student who clicks a launch button opens a notebook without the answers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import setup_cells  # noqa: E402

ROOT = setup_cells.ROOT
TAG = "solution"
#: what may not remain in a student notebook (a solution directive, gated or not)
SOLUTION_DIRECTIVE = re.compile(r"\{solution(-start|-end)?\}")
#: read by the chapters at the book's root (grading: chapter 10 reads the assignment's points), linked into each edition
LINKED = ("results", "benchmarks", "emokd-runs", "grading")
EDITIONS = ("student", "instructor")


class EditionError(RuntimeError):
    """The source cannot be split into editions (a solution outside a tagged cell)."""


def is_solution(cell) -> bool:
    return TAG in cell.get("metadata", {}).get("tags", [])


def student_notebook(nb, *, name: str = "notebook"):
    """A copy of ``nb`` without its solution cells; raises EditionError if solution text is left."""
    out = nbformat.from_dict(nb)
    out.cells = [c for c in out.cells if not is_solution(c)]
    for i, c in enumerate(out.cells):
        if SOLUTION_DIRECTIVE.search(c.source):
            raise EditionError(f"{name}: cell {i} ({c.get('id', '?')}) holds a solution directive but is not "
                               f"tagged {TAG!r}: put the solution in cells of its own, tagged {TAG!r}")
    return out


def _config(edition: str, student_branch: str) -> dict:
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    if edition == "student":
        cfg["repository"]["branch"] = student_branch
    else:
        cfg["title"] = f"{cfg['title']} (instructor edition)"
        cfg.setdefault("html", {})["announcement"] = (
            "Instructor edition: the solutions are shown. Students use the student edition.")
    return cfg


def write_edition(out: Path, edition: str, *, student_branch: str = "student") -> Path:
    """Write one edition as a book root under ``out / edition``; returns that folder."""
    if edition not in EDITIONS:
        raise ValueError(f"edition {edition!r}: choose one of {EDITIONS}")
    dst = out / edition
    if dst.exists():  # written anew, except its _build (the execution cache of earlier builds)
        for child in dst.iterdir():
            if child.name == "_build":
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    shutil.copytree(ROOT / "book", dst / "book",
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__", "_build"))
    cfg = _config(edition, student_branch)
    config_path = dst / "_config.yml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    shutil.copy2(ROOT / "_toc.yml", dst / "_toc.yml")
    setup = setup_cells.setup_source(config_path)
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if edition == "student":
            nb = student_notebook(nb, name=path.name)
        for c in nb.cells:  # the Colab setup cell clones this edition's branch
            if c.cell_type == "code" and setup_cells.TAG in c.metadata.get("tags", []):
                c.source = setup
        nbformat.write(nb, dst / "book" / path.name)
    for name in LINKED:
        target = ROOT / name
        if name == "emokd-runs":
            target.mkdir(exist_ok=True)
        if target.exists():
            os.symlink(target, dst / name, target_is_directory=True)
    return dst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder to write the editions into")
    p.add_argument("--editions", nargs="+", choices=EDITIONS, default=list(EDITIONS))
    p.add_argument("--student-branch", default="student",
                   help="the branch that will hold the student notebooks (launch buttons, setup cells)")
    args = p.parse_args(argv)
    try:
        for edition in args.editions:
            print(f"{edition}: {write_edition(args.out, edition, student_branch=args.student_branch)}")
    except EditionError as err:
        print(f"editions: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
