"""Autograde the book's checked exercises with nbgrader: the assignment, the student version, the points.

The chapters hold six coding exercises whose starter cell calls a check of
``emokd.teaching.exercises`` (chapters 3-6). This tool turns them into one nbgrader assignment and
grades it:

- ``source``: writes the **assignment source** (the instructor version, nbgrader's format) from the
  chapters, ``grading/source/checked-exercises/checked-exercises.ipynb``: for each exercise its text,
  an answer cell (the chapter's starter with the solution between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``) and a read-only test cell that runs the chapter's check with ``strict=True``,
  worth ``POINTS[label]`` points. The file is committed; ``--check`` fails if it is out of date
  (tests/teaching/test_grading.py runs it), and chapter 10 reads the points from it.
- ``release``: ``nbgrader generate_assignment`` makes the **student version** from it
  (``COURSE/release/checked-exercises/checked-exercises.ipynb``): every solution region replaced by
  the book's own stub, ``...  # your code here``, so the checks say "not implemented yet".
- ``grade SUBMISSIONS``: every ``SUBMISSIONS/<student>.ipynb`` (or ``<student>/*.ipynb``) goes to
  ``COURSE/submitted/<student>/checked-exercises/``; ``nbgrader autograde`` runs each in a fresh kernel
  with the test cells restored from the source (a student cannot edit them), and the points are
  exported: nbgrader's ``grades.csv`` (one line per student) and ``points.csv``/``points.json``
  (one line per student and exercise, with the check's verdict: what failed, or that the answer only
  ran emokd's own implementation, which the checks flag and which earns no points).

One assignment for the six, not one per chapter: the exercises are self-contained functions that
need neither data nor training, so one notebook runs in seconds in one kernel per student, whereas a
chapter as a submission would train the shared experiment for every student (minutes each); a
course that hands them out session by session grades the same notebook at the end (chapter 10).

    python book/_tools/grading.py source                      # after changing an exercise or POINTS
    python book/_tools/grading.py release [--course DIR]      # the student version, to hand out
    python book/_tools/grading.py grade SUBMISSIONS [--course DIR]

``--course`` is nbgrader's course directory (default ``grading/`` in the repository, whose
``nbgrader_config.py`` sets the stub and the timeout; another folder gets a copy of it and of the
source). Needs nbgrader (``pip install -e .[grading]``; the test extra includes it).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import editions  # noqa: E402
import setup_cells  # noqa: E402

ROOT = setup_cells.ROOT
COURSE = ROOT / "grading"
ASSIGNMENT = "checked-exercises"
SOURCE = COURSE / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
#: points of each checked exercise (its label in the chapter); the one place they are typed
POINTS = {"ex-code-bandpower": 2, "ex-code-ccc": 2, "ex-code-loss": 3, "ex-code-kd": 3, "ex-code-step": 2,
          "ex-code-loso": 3}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
LABEL = re.compile(r":label: (ex-[\w-]+)")
CHECK = re.compile(r"exercises\.(check_\w+)\((\w+)")
SETUP_IMPORT = "from emokd.teaching import exercises"


class GradingError(RuntimeError):
    """The chapters cannot be turned into the assignment, or nbgrader failed."""


# ------------------------------------------------------------------ the chapters' checked exercises

def checked_exercises(chapters=None) -> list[dict]:
    """Each coding exercise of the chapters: its label, chapter, text, starter, solution and check."""
    found = []
    for path in chapters or [p for p in setup_cells.chapters() if p.suffix == ".ipynb"]:
        cells = nbformat.read(path, as_version=4).cells
        for i, c in enumerate(cells):
            if c.cell_type != "code" or editions.is_solution(c) or "exercises.check_" not in c.source:
                continue
            text = next((d.source for d in reversed(cells[:i]) if d.cell_type == "markdown" and LABEL.search(d.source)),
                        None)
            solution = next((d.source for d in cells[i + 1:] if editions.is_solution(d) and d.cell_type == "code"
                             and "strict=True" in d.source), None)
            if text is None or solution is None:
                raise GradingError(f"{path.name}: the checked starter in cell {i} has no exercise before it or no "
                                   "solution (a code cell tagged 'solution' that checks with strict=True) after it")
            check, function = CHECK.search(c.source).groups()
            found.append({"label": LABEL.search(text).group(1), "chapter": path.stem, "text": text,
                          "starter": c.source, "solution": solution, "check": check, "function": function})
    return found


def _function(source: str, name: str) -> tuple[ast.Module, ast.FunctionDef]:
    tree = ast.parse(source)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if fn is None or not (fn.body and isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant)):
        raise GradingError(f"no function {name!r} with a docstring in:\n{source}")
    return tree, fn


def answer_cell(ex: dict) -> str:
    """The chapter's starter (its imports, the signature and docstring) with the solution's body between
    nbgrader's delimiters, the solution's own imports inside it: nbgrader's stub gives back the starter."""
    starter_lines, solution_lines = ex["starter"].splitlines(), ex["solution"].splitlines()
    _, start = _function(ex["starter"], ex["function"])
    tree, sol = _function(ex["solution"], ex["function"])
    head = [line for line in starter_lines[:start.lineno - 1] if line != SETUP_IMPORT]
    while head and not head[0].strip():
        head.pop(0)
    head += starter_lines[start.lineno - 1:start.body[0].end_lineno]
    indent = " " * sol.body[0].col_offset
    prelude = []
    for node in tree.body:
        if node is sol or (isinstance(node, ast.Expr) and "exercises.check_" in ast.unparse(node)):
            continue
        if node.lineno > sol.lineno:
            raise GradingError(f"{ex['label']}: the solution cell has code after its function")
        prelude += [indent + line for line in solution_lines[node.lineno - 1:node.end_lineno]]
    body = solution_lines[sol.body[0].end_lineno:sol.end_lineno]
    while body and not body[0].strip():
        body.pop(0)
    return "\n".join(head + [indent + BEGIN] + prelude + body + [indent + END])


def _setup_source() -> str:
    """The imports the chapters have made before their exercises (a starter's own imports stay in its cell)."""
    return "\n".join(["import contextlib", "import io", "import warnings", "", "import numpy as np", "import torch", "",
                      "from emokd.core.constants import BANDS", SETUP_IMPORT])


def _text(ex: dict) -> str:
    """The exercise's text as plain Markdown (no MyST directive or role)."""
    lines = [line for line in ex["text"].splitlines() if not line.startswith((":::", ":label:", ":class:"))]
    text = "\n".join(lines).strip()
    return re.sub(r"\{(?:doc|ref)\}`([^`<]*?)\s*(?:<([^>]+)>)?`", lambda m: f"`{m.group(2) or m.group(1)}`", text)


def _cell(kind: str, source: str, grade_id: str, **nbgrader) -> nbformat.NotebookNode:
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    meta = {"grade": False, "grade_id": grade_id, "locked": True, "schema_version": 3, "solution": False,
            "task": False}
    meta.update(nbgrader)
    cell = make(source, metadata={"nbgrader": meta})
    cell["id"] = grade_id  # stable ids: the file is the same every time it is written
    return cell


def assignment_source(exercises: list[dict] | None = None) -> nbformat.NotebookNode:
    """The nbgrader source notebook of the checked exercises, with their points."""
    exercises = exercises if exercises is not None else checked_exercises()
    missing = sorted({ex["label"] for ex in exercises} ^ set(POINTS))
    if missing:
        raise GradingError(f"POINTS and the chapters' checked exercises differ: {missing}")
    total = sum(POINTS.values())
    cells = [
        _cell("markdown", "# The book's checked exercises\n\n"
              f"The coding exercises of the book, {len(exercises)} functions worth {total} points. Write each "
              "function in its cell, in place of `...  # your code here`, and run the test cell under it: it is "
              "the check of the chapter, and the autograder runs the same. A function that only calls emokd's own "
              "implementation of what it asks for is flagged and gets no points. Run the whole notebook "
              "(*Restart and Run All*) before you submit it.\n\n"
              "Written from the chapters by `book/_tools/grading.py source`; do not edit it by hand.", "intro"),
        _cell("code", _setup_source(), "setup"),
    ]
    for n, ex in enumerate(exercises, 1):
        points = POINTS[ex["label"]]
        cells += [
            _cell("markdown", f"## {n}. `{ex['function']}` ({points} points; chapter `{ex['chapter']}`, "
                  f"exercise `{ex['label']}`)\n\n{_text(ex)}", f"{ex['label']}-text"),
            _cell("code", answer_cell(ex), f"{ex['label']}-answer", locked=False, solution=True),
            _cell("code", f"# the check of chapter {ex['chapter']}: {points} points if it passes\n"
                  "with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):\n"
                  "    warnings.simplefilter(\"ignore\")  # nbgrader fails a cell that writes to stderr: the verdict decides\n"
                  f"    verdict = exercises.{ex['check']}({ex['function']}, strict=True)\n"
                  "verdict", ex["label"], grade=True, points=points),
        ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


def points_of(source: Path = SOURCE) -> dict[str, float]:
    """Exercise label -> points, as the assignment source's graded cells say (what chapter 10 reads)."""
    nb = json.loads(Path(source).read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"] for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade")}


def write_source(path: Path = SOURCE, *, check: bool = False) -> bool:
    """Write the assignment source; with ``check``, only say whether the file is current."""
    text = nbformat.writes(assignment_source()) + "\n"
    current = path.is_file() and path.read_text() == text
    if not check and not current:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return current


# ------------------------------------------------------------------------------------- nbgrader

def _nbgrader(course: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # nbgrader runs `alembic` (its database migrations) from PATH: the one beside this Python
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise GradingError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-5000:]}")
    return proc


def course_dir(course: Path = COURSE) -> Path:
    """nbgrader's course directory with this repository's configuration and assignment source."""
    course = Path(course).resolve()
    if course != COURSE.resolve():
        (course / "source" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
        shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copy2(SOURCE, course / "source" / ASSIGNMENT / SOURCE.name)
    return course


def release(course: Path = COURSE) -> Path:
    """The student version, made by ``nbgrader generate_assignment``; returns its path."""
    course = course_dir(course)
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    return course / "release" / ASSIGNMENT / SOURCE.name


def _submissions(folder: Path) -> dict[str, Path]:
    found = {}
    for p in sorted(Path(folder).iterdir()):
        if p.suffix == ".ipynb":
            found[p.stem] = p
        elif p.is_dir():
            nbs = sorted(p.glob("*.ipynb"))
            if len(nbs) != 1:
                raise GradingError(f"{p}: expected one notebook, found {len(nbs)}")
            found[p.name] = nbs[0]
    if not found:
        raise GradingError(f"no submission in {folder} (expected STUDENT.ipynb or STUDENT/NOTEBOOK.ipynb)")
    bad = [s for s in found if not re.fullmatch(r"[\w.-]+", s)]
    if bad:
        raise GradingError(f"student ids may hold letters, digits, '.', '-' and '_' only: {bad}")
    return found


def _verdicts(notebook: Path) -> dict[str, str]:
    """grade_id -> what its test cell printed or raised (the check's verdict) in an autograded notebook."""
    out = {}
    for c in nbformat.read(notebook, as_version=4).cells:
        meta = c.metadata.get("nbgrader", {})
        if not meta.get("grade") or c.cell_type != "code":
            continue
        words = []
        for o in c.get("outputs", []):
            if o.output_type == "error":
                words.append(f"{o.ename}: {o.evalue}")
            elif o.output_type == "stream":
                words.append(o.text.strip())
            elif "text/plain" in o.get("data", {}):
                words.append(o.data["text/plain"].strip())
        out[meta["grade_id"]] = " ".join(w for w in words if w)
    return out


def grade(submissions: Path, course: Path = COURSE) -> list[dict]:
    """Autograde every submission in ``submissions``; write ``grades.csv`` (nbgrader's export) and
    ``points.csv``/``points.json`` (student, exercise, points, max_points, verdict) in the course
    directory; returns the rows of points.json."""
    from nbgrader.api import Gradebook

    course = course_dir(course)
    found = _submissions(Path(submissions))
    if not (course / "release" / ASSIGNMENT / SOURCE.name).is_file() or not (course / "gradebook.db").is_file():
        release(course)
    for student, nb in found.items():
        dst = course / "submitted" / student / ASSIGNMENT
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        shutil.copy2(nb, dst / SOURCE.name)
    _nbgrader(course, "autograde", ASSIGNMENT, "--force")
    _nbgrader(course, "export", "--to", str(course / "grades.csv"))
    labels = list(points_of(course / "source" / ASSIGNMENT / SOURCE.name))
    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in found:
            said = _verdicts(course / "autograded" / student / ASSIGNMENT / SOURCE.name)
            for label in labels:
                g = gb.find_grade(label, ASSIGNMENT, ASSIGNMENT, student)
                rows.append({"student": student, "exercise": label, "points": float(g.score),
                             "max_points": float(g.max_score), "verdict": said.get(label, "")})
    with open(course / "points.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (course / "points.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("source", help="write the assignment source from the chapters")
    s.add_argument("--check", action="store_true", help="only check that the committed source is current")
    r = sub.add_parser("release", help="make the student version (nbgrader generate_assignment)")
    g = sub.add_parser("grade", help="autograde a folder of submissions and export the points")
    g.add_argument("submissions", type=Path, help="folder of STUDENT.ipynb (or STUDENT/NOTEBOOK.ipynb)")
    for q in (r, g):
        q.add_argument("--course", type=Path, default=COURSE, help="nbgrader's course directory (default grading/)")
    args = p.parse_args(argv)
    try:
        if args.command == "source":
            current = write_source(check=args.check)
            if args.check and not current:
                print(f"{SOURCE.relative_to(ROOT)} is out of date: run python book/_tools/grading.py source",
                      file=sys.stderr)
                return 1
            print(f"{SOURCE.relative_to(ROOT)}: {'current' if current else 'written'}; points {points_of()}")
        elif args.command == "release":
            print(f"student version: {release(args.course)}")
        else:
            rows = grade(args.submissions, args.course)
            for student in dict.fromkeys(r["student"] for r in rows):
                mine = [r for r in rows if r["student"] == student]
                lost = [f"{r['exercise']} ({r['verdict'][:100]})" for r in mine if r["points"] < r["max_points"]]
                print(f"{student}: {sum(r['points'] for r in mine):g} / {sum(r['max_points'] for r in mine):g}"
                      + (f"; lost: {'; '.join(lost)}" if lost else ""))
            print(f"points: {args.course / 'points.csv'}, {args.course / 'points.json'}; "
                  f"nbgrader's totals: {args.course / 'grades.csv'}")
    except GradingError as err:
        print(f"grading: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
