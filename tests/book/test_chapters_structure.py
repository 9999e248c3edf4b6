"""Every chapter opens with its objectives and a time estimate and ends with a summary, and a note
warns before every cell that trains; read from the notebooks' JSON (no execution, fast)."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_tools"))

import setup_cells  # noqa: E402

CHAPTERS = setup_cells.chapters()
#: calls that train models when nothing is cached (a note must precede the cell that makes them)
TRAINING_CALLS = ("book.experiment(", "run_fold(", "run_experiment(", "compute_run_saliency(")


def cells(path):
    return json.loads(path.read_text())["cells"]


def text(cell):
    return "".join(cell["source"])


def first_after_title(nb):
    """The first cell after the title and the Colab setup cell."""
    i = 1
    while i < len(nb) and "emokd-setup" in nb[i].get("metadata", {}).get("tags", []):
        i += 1
    return nb[i]


def exercises_heading(nb):
    hits = [i for i, c in enumerate(nb) if c["cell_type"] == "markdown" and "## Exercises" in text(c)]
    return hits[0] if hits else None


def bullets(source):
    return [line for line in source.splitlines() if line.startswith("- ")]


def test_the_chapters_are_found():
    assert len(CHAPTERS) >= 11


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_opens_with_objectives_and_time(path):
    nb = cells(path)
    cell = first_after_title(nb)
    src = text(cell)
    assert cell["cell_type"] == "markdown" and "Objectives" in src, (
        f"{path.name}: the cell after the title (and the setup cell) must state the objectives")
    assert len(bullets(src)) >= 2, f"{path.name}: at least two objectives, as a list"
    m = re.search(r"Reading: about (\d+) min", src)
    assert m and 5 <= int(m.group(1)) <= 60, f"{path.name}: a reading time 'Reading: about N min'"
    assert re.search(r"(Running[^.]*(\d+|seconds))", src), f"{path.name}: a running time"
    if path.stem != "10_for_teachers":  # chapter 10 reads files only
        assert re.search(r"cold in Colab[^:]*: (?:up to )?about [\d-]+ min", src), (
            f"{path.name}: the time of a cold run in Colab, 'cold in Colab ...: about N min'")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_ends_with_a_summary_before_its_exercises(path):
    nb = cells(path)
    ex = exercises_heading(nb)
    if ex is not None:
        assert text(nb[ex]).lstrip().startswith("## Exercises"), (
            f"{path.name}: the Exercises heading opens its own cell")
        cell = nb[ex - 1]
    else:
        cell = nb[-1]
    src = text(cell)
    assert cell["cell_type"] == "markdown" and src.startswith("## Summary"), (
        f"{path.name}: the cell {'before the Exercises heading' if ex is not None else 'at the end'} "
        "must be the summary ('## Summary')")
    assert len(bullets(src)) >= 3, f"{path.name}: a summary of at least three points"
    assert sum(text(c).startswith("## Summary") for c in nb) == 1


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_a_note_precedes_every_cell_that_trains(path):
    nb = cells(path)
    stop = exercises_heading(nb) or len(nb)
    missing = []
    for i, c in enumerate(nb[:stop]):
        if c["cell_type"] != "code" or "skip-execution" in c.get("metadata", {}).get("tags", []):
            continue
        if any(call in text(c) for call in TRAINING_CALLS):
            before = text(nb[i - 1]) if i else ""
            if not (nb[i - 1]["cell_type"] == "markdown" and "{note}" in before
                    and "next cell" in before and re.search(r"\d+ (s|min)\b", before)):
                missing.append(text(c).splitlines()[0])
    assert not missing, f"{path.name}: no timed {{note}} ('the next cell ... N min') before {missing}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_live_explorers_are_not_executed_by_the_build(path):
    """A widget needs a kernel: the build skips its cell (and shows the static explorer)."""
    for c in cells(path):
        if c["cell_type"] == "code" and re.search(r"\b\w+_widget\(", text(c)):
            assert "skip-execution" in c.get("metadata", {}).get("tags", []), text(c)
