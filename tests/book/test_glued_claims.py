"""Glued numbers and asserted claims: the chapters' mechanism, and proof that it fails the build.

A chapter inserts the numbers it computes with ``emokd.teaching.book.glue`` and
``{glue:text}`name:fmt```, and asserts its claims about them in a hidden cell
(STYLE.md, habit 15). Two parts:

- static checks on the chapters' JSON (no execution): every glue a page reads is written by a
  code cell of the same notebook, never only by a solution cell when the prose that reads it
  is not a solution (the student edition drops solution cells), and the benchmark files that
  chapter 10 reads exist;
- the mechanism itself, on a notebook of three cells executed as the build executes chapters
  (nbclient, errors not allowed: ``execute.allow_errors: false`` in ``_config.yml``): with the
  claim true the glued value is stored for the page, with the claim false the execution fails
  with the assert's message. A slow test builds the same notebook with ``jupyter-book build
  -W``, as the book is built, and shows the build fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_tools"))

import setup_cells  # noqa: E402

CHAPTERS = setup_cells.chapters()
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")
GLUE_CALL = re.compile(r"""\bbook\.glue\(\s*["']([^"']+)["']""")


def cells(path):
    return json.loads(path.read_text())["cells"]


def text(cell):
    return "".join(cell["source"])


def is_solution(cell):
    return "solution" in cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_glue_the_prose_reads_is_written_by_a_cell(path):
    nb = cells(path)
    written = {name: is_solution(c) for c in nb if c["cell_type"] == "code" for name in GLUE_CALL.findall(text(c))}
    problems = []
    for c in nb:
        if c["cell_type"] != "markdown":
            continue
        for name in GLUE_ROLE.findall(text(c)):
            if name not in written:
                problems.append(f"{name!r} is read in cell {c.get('id')} but no cell calls book.glue({name!r}, ...)")
            elif written[name] and not is_solution(c):
                problems.append(f"{name!r} is read in cell {c.get('id')} (not a solution) but glued only in a "
                                "solution cell: the student edition would lose it")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_the_build_does_not_allow_errors():
    """The guarantee the asserts rely on: a failing cell fails the build."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["execute"]["allow_errors"] is False


def test_the_benchmark_files_chapter_10_reads_exist():
    source = "\n".join(text(c) for c in cells(ROOT / "book" / "10_for_teachers.ipynb") if c["cell_type"] == "code")
    names = set(re.findall(r"""measured\(\s*["'](\w+)["']""", source))
    names |= set(re.findall(r"""CHAPTERS_BENCH\s*=\s*["'](\w+)["']""", source))
    assert names, "chapter 10 reads no benchmark file any more: update this test"
    missing = sorted(n for n in names if not (ROOT / "benchmarks" / "results" / f"{n}.json").is_file())
    assert not missing, f"chapter 10 reads benchmarks/results/{{{', '.join(missing)}}}.json, which do not exist"


def claim_notebook(value: float) -> nbformat.NotebookNode:
    """A page in the chapters' form: a cell computes and glues, a hidden cell asserts, the prose reads."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A claim"),
        nbformat.v4.new_code_cell(f"from emokd.teaching import book\n\ngain = {value!r}\nbook.glue('gain', gain)"),
        nbformat.v4.new_code_cell('assert gain > 0, f"the text says the gain is positive; it is {gain:+.3f}"',
                                  metadata={"tags": ["remove-input"]}),
        nbformat.v4.new_markdown_cell("The gain is positive: {glue:text}`gain:+.3f`."),
    ]
    return nb


def execute(nb):
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


@pytest.mark.slow
def test_a_true_claim_executes_and_glues_its_number():
    nb = execute(claim_notebook(0.031))
    glued = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if o.get("metadata", {}).get("scrapbook", {}).get("name") == "gain"]
    assert len(glued) == 1
    assert glued[0]["data"]["application/papermill.record/text/plain"] == "0.031"
    assert not nb.cells[2].outputs  # the hidden assert shows nothing when it holds


@pytest.mark.slow
def test_a_false_claim_fails_the_execution_with_the_asserts_message():
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match=r"the text says the gain is positive; it is -0\.020"):
        execute(claim_notebook(-0.02))


@pytest.mark.slow
@pytest.mark.parametrize("value, builds", [(0.031, True), (-0.02, False)])
def test_jupyter_book_build_fails_when_a_glued_claim_stops_holding(tmp_path, value, builds):
    """The same page built as the book is built (execution as in _config.yml, warnings as errors)."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    (tmp_path / "_config.yml").write_text(yaml.safe_dump({
        "title": "claims", "execute": cfg["execute"], "only_build_toc_files": True,
        "sphinx": {"config": {"suppress_warnings": ["mystnb.unknown_mime_type"]}}}))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: claim\n")
    nbformat.write(claim_notebook(value), tmp_path / "claim.ipynb")
    jb = shutil.which("jupyter-book")
    assert jb, "jupyter-book is not installed (requirements.txt)"
    proc = subprocess.run([jb, "build", str(tmp_path), "-W", "-n", "--keep-going"], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    page = tmp_path / "_build" / "html" / "claim.html"
    if builds:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "The gain is positive: +0.031." in re.sub(r"<[^>]+>", "", page.read_text())
    else:
        assert proc.returncode != 0, "the build passed although the page's claim is false"
        assert "the text says the gain is positive" in proc.stdout + proc.stderr + "".join(
            p.read_text() for p in (tmp_path / "_build" / "html" / "reports").rglob("*.log"))
