"""No chapter types a result into its prose (STYLE.md, habit 15; issue 36, item 1).

A number that a cell computes is inserted from that cell with myst-nb's glue
(``{glue:text}`key:.3f```), and a claim about a result is asserted in a hidden cell, so that
the build fails the day the prose stops being true. This test reads the chapters' JSON (no
execution) and fails on any markdown cell that states a *result number* outside a glue.

What counts as a result number (``RESULT``):

- a decimal (``0.49``, ``+0.015``, ``-0.026``), unless a unit of the recipe follows it
  (``0.25 s``, ``0.3-45 Hz``) or it is a quantile chosen in advance (``99.9th percentile``:
  ``RECIPE_UNIT``);
- a percentage (``58 %``, ``19%``), unless it is a level chosen in advance (``95 % interval``,
  ``80 % power``: ``LEVEL``);
- a p-value (``p = 0.04``, ``p < 0.05``);
- a factor (``6.6 times as long``, ``3x``; not the product ``3 x 485`` of a worked sum);
- a count of wins (``19 of 24``).

Integers alone (``32 channels``, ``96 steps``) are not flagged: most are facts of the data or
the recipe, and a rule that flagged them would need an allow-list longer than the book.

Where such a number is allowed, because it is not a result of this book's computation:

- math (``$...$``, ``$$...$$``): formulas, worked examples done by hand in the text;
- code (inline spans, fenced blocks) and every MyST role's content (``{glue:text}``,
  ``{cite:p}``, ``{doc}``, ...); MyST comments (``% ...``) and directive options;
- a sentence that cites a publication (``{cite:p}`` / ``{cite:t}``): it quotes that paper's
  result, not ours;
- a version after a name (``GPL-3.0``, ``OpenFace 2.2``: ``VERSIONED`` lists the software);
- the chapter's time estimates: the ``**Time.**`` paragraph of the objectives and the timed
  ``{note}`` before a cell that trains, whose typed form ``test_chapters_structure.py``
  requires (their source is named in each chapter's ``TIME ESTIMATES`` comment);
- ``ALLOWED``: a short list of phrases, each with its reason, for constants of the method and
  givens of an exercise that the rule cannot tell from results. An entry that no longer
  occurs in its chapter fails the test, so the list cannot grow stale.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_tools"))

import setup_cells  # noqa: E402

CHAPTERS = setup_cells.chapters()

RESULT = re.compile(
    r"""
    (?<![\w.])(?<![A-Za-z]-)[+\-−]?\d*\.\d+(?:\s*%)?   # a decimal (a percentage with it)
    | (?<![\w.])\d+\s*%                                # a whole percentage
    | \bp\s*(?:=|<|>|≤|≥|\\leq|\\geq)\s*\d              # a p-value
    | (?<![\w.])\d+(?:\.\d+)?(?:x|×)(?!\w)              # a factor: 3x, 1.5x (not 3 x 485)
    | (?<![\w.])\d+(?:\.\d+)?\s+times\s+(?:as|more|less|faster|slower|longer|shorter|larger|smaller)\b
    | (?<![\w.])\d+\s+of\s+(?:the\s+|its\s+)?\d+\b      # a count of wins: 19 of 24
    """,
    re.VERBOSE,
)
#: units of the recipe: a decimal followed by one of them is a constant of the method
RECIPE_UNIT = re.compile(r"\s*(?:-\s*[\d.]+\s*)?(?:Hz|s|m)\b|th\s+percentile\b")
#: software whose version a chapter may name (``OpenFace 2.2``): a version is not a result
VERSIONED = re.compile(r"\b(?:Python|OpenFace|MNE|PyTorch|mediapipe|Jupyter Book|Sphinx|myst-nb|NumPy|SciPy)\s+v?$")
#: a level chosen in advance, not a result: a 95 % interval, 80 % power
LEVEL = re.compile(r"\s*(?:confidence\s+)?(?:interval|CI|power)\b")

#: phrases allowed in one chapter, with the reason (keep this short; a stale entry fails)
ALLOWED: dict[str, dict[str, str]] = {
    "01_introduction": {
        "more than 10 % of Cz": "the threshold an exercise asks the reader to count against",
    },
    "04_teacher": {
        "within 0.005 of": "the tolerance of the teacher's budget rule, a constant of "
                           "benchmarks/select_teacher_budget.py",
    },
    "06_evaluation": {
        '"CCC 0.4"': "a made-up score, quoted to ask what a bare number means",
    },
    "07_saliency": {
        "0.5 for a map unrelated": "the AUC of chance, a property of the measure",
    },
}

_FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.S | re.M)
_MATH_BLOCK = re.compile(r"\$\$.*?\$\$", re.S)
_MATH_INLINE = re.compile(r"(?<!\\)\$[^$\n]+?\$")
_ROLE_OR_CODE = re.compile(r"(\{[\w:-]+\})?(`+)[^`]*?\2")
_COMMENT = re.compile(r"^%.*$", re.M)
_OPTION = re.compile(r"^:[\w-]+:.*$", re.M)
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_CITATION = re.compile(r"\{cite(:\w+)?\}`")


def cells(path):
    return json.loads(path.read_text())["cells"]


def text(cell):
    return "".join(cell["source"])


def is_time_estimate(paragraph: str) -> bool:
    """The objectives' **Time.** paragraph or a timed {note} before a training cell."""
    return paragraph.lstrip().startswith("**Time.**") or (
        paragraph.lstrip().startswith(":::{note}") and "next cell" in paragraph)


def paragraphs(source: str) -> list[str]:
    """A markdown cell in blocks: a ``{note}`` admonition is kept whole, the rest split at blank lines."""
    blocks, note = [], re.compile(r":::\{note\}.*?\n:::", re.S)
    last = 0
    for m in note.finditer(source):
        blocks += re.split(r"\n\s*\n", source[last:m.start()])
        blocks.append(m.group(0))
        last = m.end()
    return blocks + re.split(r"\n\s*\n", source[last:])


def sentences(paragraph: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+(?=[A-Z(*])", paragraph)


def strip(sentence: str) -> str:
    """The prose of a sentence: no code, math, roles, comments, options or link targets."""
    for pattern in (_FENCE, _MATH_BLOCK, _MATH_INLINE, _ROLE_OR_CODE, _COMMENT, _OPTION, _LINK_TARGET):
        sentence = pattern.sub(" ", sentence)
    return sentence


def phrase_pattern(phrase: str) -> re.Pattern:
    """An allowed phrase, matched across line breaks."""
    return re.compile(r"\s+".join(re.escape(word) for word in phrase.split()))


def typed_results(source: str, allowed=()) -> list[str]:
    """The result numbers typed into the prose of one markdown cell, each with its context."""
    for phrase in allowed:
        source = phrase_pattern(phrase).sub(" ", source)
    source = _FENCE.sub(" ", source)  # before splitting: a code block may hold blank lines
    source = _MATH_BLOCK.sub(" ", source)
    hits = []
    for paragraph in paragraphs(source):
        if is_time_estimate(paragraph):
            continue
        for sentence in sentences(paragraph):
            if _CITATION.search(sentence):
                continue
            prose = strip(sentence)
            for m in RESULT.finditer(prose):
                if re.fullmatch(r"[+\-−]?\d*\.\d+", m.group(0)) and RECIPE_UNIT.match(prose, m.end()):
                    continue
                if m.group(0).endswith("%") and LEVEL.match(prose, m.end()):
                    continue
                if VERSIONED.search(prose[:m.start()]):
                    continue
                context = " ".join(prose[max(0, m.start() - 40):m.end() + 25].split())
                hits.append(f"{m.group(0)!r} in '... {context} ...'")
    return hits


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_result_is_typed_into_the_prose(path):
    allowed = ALLOWED.get(path.stem, {})
    found = []
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "markdown":
            found += [f"cell {i} ({cell.get('id', '?')}): {h}" for h in typed_results(text(cell), allowed)]
    assert not found, (
        f"{path.name} types result numbers into its prose; glue them from the cell that computes them "
        "({glue:text}`name:.3f`) or, if one is a constant of the method, add it to ALLOWED with its "
        "reason:\n  " + "\n  ".join(found))


@pytest.mark.parametrize("stem", sorted(ALLOWED))
def test_every_allowed_phrase_occurs_in_its_chapter(stem):
    source = "\n".join(text(c) for c in cells(ROOT / "book" / f"{stem}.ipynb") if c["cell_type"] == "markdown")
    stale = [phrase for phrase in ALLOWED[stem] if not phrase_pattern(phrase).search(source)]
    assert not stale, f"ALLOWED[{stem!r}] lists phrases the chapter no longer has: {stale}"


@pytest.mark.parametrize("prose, n", [
    ("The gain was +0.015 CCC [-0.006, +0.036].", 3),
    ("58 % of the variance lies between trials.", 1),
    ("a significant gain (p = 1.5e-4, 19 of 24 subjects)", 2),
    ("the experiment took 6.6 times as long, 3x slower", 2),
    ("sampled 256 times a second; 3 x 485 = 1455 segments; a 95 % interval, 80 % power", 0),
    ("windows of 2 s every 0.25 s, band-passed at 0.3-45 Hz", 0),
    ("the gain was {glue:text}`gain:+.3f` CCC, `x = 0.5` in code, $\\rho = 0.98$ in math", 0),
    ("{cite:t}`zhang2022visual` reported $p < 0.01$ and 0.73 on real data.", 0),
    ("The release is GPL-3.0 upstream; the faces were aligned with OpenFace 2.2.", 0),
    ("**Time.** Reading: about 20 min. Running: about 2.5 min.", 0),
])
def test_the_rule_on_known_cases(prose, n):
    assert len(typed_results(prose)) == n, typed_results(prose)
