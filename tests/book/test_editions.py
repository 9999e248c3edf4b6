"""The student and the instructor edition (book/_tools/editions.py): every solution sits in tagged
cells of its own; the student edition holds no solution text, keeps every exercise and starter,
opens the student branch from its launch buttons and builds with warnings as errors; every coding
exercise's solution passes its check, and its starter says "not implemented yet".

The instructor edition is the source itself: the smoke build of tests/test_book.py (conftest's
`built_book`) executes it, every solution cell included, so a wrong solution fails that build.
The student build here runs without execution: its cells are a subset of the instructor's, which
that build executes, so what could break only in the student edition is its structure (a gated
solution cut in half, a reference to a removed label, the configuration), and Sphinx checks that
without running a kernel."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_tools"))

import editions  # noqa: E402
import setup_cells  # noqa: E402

CHAPTERS = [p for p in setup_cells.chapters() if p.suffix == ".ipynb"]
LABEL = re.compile(r":label: (ex-[\w-]+)")
SOLUTION_OF = re.compile(r"\{solution(?:-start)?\} (ex-[\w-]+)")


def _read(path):
    return nbformat.read(path, as_version=4)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("editions")
    assert editions.main(["--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_one_solution_in_tagged_cells_of_its_own(path):
    nb = _read(path)
    exercises = [m for c in nb.cells for m in LABEL.findall(c.source) if c.cell_type == "markdown"]
    solutions = [m for c in nb.cells for m in SOLUTION_OF.findall(c.source)]
    assert sorted(solutions) == sorted(exercises), "each exercise is followed by exactly one solution"
    gated = False
    for i, c in enumerate(nb.cells):
        has_directive = bool(editions.SOLUTION_DIRECTIVE.search(c.source))
        if has_directive or gated:
            assert editions.is_solution(c), f"cell {i} is part of a solution but is not tagged 'solution'"
        if has_directive:
            assert not LABEL.search(c.source), f"cell {i}: an exercise and its solution share a cell"
        if "{solution-start}" in c.source:
            assert not gated, f"cell {i}: a solution starts inside another"
            gated = True
        if "{solution-end}" in c.source:
            assert gated, f"cell {i}: solution-end without solution-start"
            gated = False
        if editions.is_solution(c) and not (has_directive or gated):
            pytest.fail(f"cell {i} is tagged 'solution' but lies outside any solution")
    assert not gated, "a solution-start has no solution-end"


def _distinctive_lines(nb):
    """Lines of the solution cells that no other cell of the chapter holds (a starter repeats a signature)."""
    other = "\n".join(c.source for c in nb.cells if not editions.is_solution(c))
    return {line.strip() for c in nb.cells if editions.is_solution(c) for line in c.source.splitlines()
            if len(line.strip()) > 25 and line.strip() not in other}


def test_the_student_edition_holds_no_solution_text(written):
    student = written / "student" / "book"
    texts = {p.name: p.read_text() for p in student.rglob("*") if p.suffix in (".ipynb", ".md")}
    assert texts.keys() >= {p.name for p in CHAPTERS}
    for name, text in texts.items():
        for word in ("{solution}", "{solution-start}", "{solution-end}", '"solution"'):
            assert word not in text, f"{name} holds {word}"
    n_lines = 0
    for path in CHAPTERS:
        lines = _distinctive_lines(_read(path))
        n_lines += len(lines)
        text = "\n".join(c.source for c in _read(student / path.name).cells)
        leaked = [line for line in lines if line in text]
        assert not leaked, f"{path.name}: solution text in the student edition: {leaked[:3]}"
    assert n_lines > 300  # the search had something to look for


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_student_edition_keeps_every_exercise_and_starter(written, path):
    source, student = _read(path), _read(written / "student" / "book" / path.name)
    labels = lambda nb: [m for c in nb.cells for m in LABEL.findall(c.source)]  # noqa: E731
    assert labels(student) == labels(source)
    starters = [c.source for c in student.cells if c.cell_type == "code" and "exercises.check_" in c.source]
    assert starters == [c.source for c in source.cells
                        if c.cell_type == "code" and not editions.is_solution(c) and "exercises.check_" in c.source]
    for s in starters:
        assert "...  # your code here" in s and "strict=True" not in s


def test_each_edition_launches_and_clones_its_own_branch(written):
    main_branch = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["branch"]
    for edition, branch in (("student", "student"), ("instructor", main_branch)):
        cfg = yaml.safe_load((written / edition / "_config.yml").read_text())
        assert cfg["repository"]["branch"] == branch
        setup = _read(written / edition / "book" / "04_teacher.ipynb").cells
        assert any(f'"{branch}"' in c.source for c in setup if setup_cells.TAG in c.metadata.get("tags", []))
    assert "instructor" in yaml.safe_load((written / "instructor" / "_config.yml").read_text())["title"]


def test_an_untagged_solution_stops_the_student_edition():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(":::{exercise}\n:label: ex-x\nQ\n:::"),
                                         nbformat.v4.new_markdown_cell(":::{solution} ex-x\nA\n:::")])
    with pytest.raises(editions.EditionError, match="not tagged 'solution'"):
        editions.student_notebook(nb, name="x.ipynb")


def _coding_exercises():
    """(chapter, starter source, solution sources) of every exercise whose starter calls a check."""
    found = []
    for path in CHAPTERS:
        cells = _read(path).cells
        for i, c in enumerate(cells):
            if c.cell_type == "code" and not editions.is_solution(c) and "exercises.check_" in c.source:
                sol = []
                for d in cells[i + 1:]:
                    if not editions.is_solution(d):
                        break
                    if d.cell_type == "code" and "strict=True" in d.source:
                        sol.append(d.source)
                found.append((path.stem, c.source, sol))
    return found


CODING = _coding_exercises()


def test_the_six_coding_exercises_are_where_their_ideas_are_taught():
    checks = {(stem, re.search(r"exercises\.(check_\w+)", s).group(1)) for stem, s, _ in CODING}
    assert checks == {("03_band_power", "check_band_power"), ("04_teacher", "check_ccc"),
                      ("04_teacher", "check_ccc_loss"), ("05_distillation", "check_kd_objective"),
                      ("05_distillation", "check_train_step"), ("06_evaluation", "check_loso_folds")}


@pytest.mark.parametrize("stem, starter, solutions", CODING, ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(CODING)])
@pytest.mark.slow
def test_each_coding_solution_passes_its_check_and_the_starter_is_not_implemented(stem, starter, solutions):
    import torch

    # what the chapter has imported before its exercises
    from emokd.core.constants import BANDS
    from emokd.signal import bandpower
    from emokd.teaching import exercises

    ns = {"np": np, "torch": torch, "bandpower": bandpower, "BANDS": BANDS, "exercises": exercises}
    starter_code = compile(starter.rsplit("\n", 1)[0] + "\nverdict = " + starter.rsplit("\n", 1)[1], stem, "exec")
    exec(starter_code, ns)
    assert ns["verdict"].status == "not implemented", repr(ns["verdict"])
    assert len(solutions) == 1
    exec(compile(solutions[0], stem, "exec"), ns)  # strict=True: raises ExerciseError unless it passes


@pytest.mark.skipif(shutil.which("jupyter-book") is None, reason="jupyter-book is not installed")
@pytest.mark.slow
def test_the_student_edition_builds_with_warnings_as_errors(written, tmp_path):
    book = written / "student"
    cfg = yaml.safe_load((book / "_config.yml").read_text())
    cfg["execute"]["execute_notebooks"] = "off"  # see the module docstring
    # without execution no cell stores its glue, so every {glue:text} role would warn; the executed
    # build (`built_book`) checks the glue, and tests/book/test_glued_claims.py that the student
    # edition keeps every glue its prose reads
    cfg.setdefault("sphinx", {}).setdefault("config", {}).setdefault("suppress_warnings", []).append("mystnb.glue")
    (book / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    proc = subprocess.run([shutil.which("jupyter-book"), "build", str(book), "--path-output", str(tmp_path),
                           "-W", "-n", "--keep-going"], capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, EMOKD_PRESET="smoke"))
    assert proc.returncode == 0, (proc.stdout[-5000:], proc.stderr[-5000:])
    html = tmp_path / "_build" / "html" / "book"
    for page in html.glob("*.html"):
        assert 'class="solution' not in page.read_text(), f"{page.name} shows a solution"
    page = (html / "04_teacher.html").read_text()
    assert page.count('class="exercise admonition"') >= 5
    colab = re.findall(r'href="([^"]*colab\.research\.google\.com[^"]*)"', page)
    assert colab and all("/blob/student/" in url for url in colab), colab
