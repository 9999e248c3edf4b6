"""The book: chapters are clean notebooks whose setup agrees with _config.yml; the whole
book builds on the smoke preset with warnings as errors (the session fixture `built_book` in
conftest.py), every chapter page with its figures. tests/book/test_browser.py opens the same build
in a headless browser."""

import html.parser
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_tools"))

import setup_cells  # noqa: E402

CHAPTERS = setup_cells.chapters()


def test_toc_lists_the_chapters_as_notebooks():
    names = [p.stem for p in CHAPTERS]
    assert names == ["01_introduction", "02_data", "03_band_power", "04_teacher", "05_distillation",
                     "05b_when_teachers_help", "05c_where_teachers_pay", "06_evaluation", "07_saliency", "08_real_data", "09_your_mahnob",
                     "10_for_teachers"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_committed_clean_with_the_generated_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and setup_cells.TAG in code[0].metadata.get("tags", []), "the setup cell must be the first code cell"
    assert code[0].source == setup_cells.setup_source(), "run python book/_tools/setup_cells.py"
    assert all(not c.outputs and c.execution_count is None for c in code), "commit chapters without outputs"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert any("emokd" in c.source for c in code[1:]), "a chapter calls emokd"


def test_setup_cell_carries_the_repository_of_the_config():
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    src = setup_cells.setup_source()
    assert f'"{repo["url"]}", "{repo["branch"]}"' in src


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_page_exists_with_its_figures(built_book, path):
    page = built_book / "book" / f"{path.stem}.html"
    assert page.is_file()
    parser = _Page()
    parser.feed(page.read_text())
    figures = [src for src in parser.images if "_images/" in src or src.endswith(".png")]
    for src in figures:
        assert (page.parent / src).resolve().is_file(), f"{page.name}: missing image {src}"
    assert figures, f"{page.name} has no figure"
    assert "Traceback (most recent call last)" not in page.read_text(), f"{page.name} shows a traceback"


def test_book_has_launch_buttons_bibliography_and_exercises(built_book):
    page = (built_book / "book" / "04_teacher.html").read_text()
    assert "colab.research.google.com" in page and "mybinder.org" in page
    bib = (built_book / "book" / "bibliography.html").read_text()
    for author in ("Zhang", "Soleymani", "Bai", "Hinton", "Lin", "Welch"):
        assert author in bib
    # sphinx-exercise: numbered exercises, their solutions hidden in dropdowns until asked for
    assert page.count('class="exercise admonition"') >= 3
    assert page.count('class="solution dropdown admonition"') == page.count('class="exercise admonition"')


def test_no_page_shows_a_chapter_waiting_for_another(built_book):
    """The build executes chapters two at a time (book/_ext/execute_side_by_side.py); a chapter that waited
    long for another's hold on the book's cache would print it on its page (emokd.teaching.book)."""
    pages = sorted((built_book / "book").glob("*.html"))
    assert pages
    assert [p.name for p in pages if "another chapter (process" in p.read_text()] == []
