"""Chapter 08's comparison with published numbers reads every cell from results/mahnob-features/comparators.json
(through emokd.evaluation.comparators) and types none of its numbers: read from the notebook's JSON, no
execution."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = ROOT / "book" / "08_real_data.ipynb"
DATA = json.loads((ROOT / "results" / "mahnob-features" / "comparators.json").read_text())


def sources(kind=None):
    cells = json.loads(CHAPTER.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if kind is None or c["cell_type"] == kind)


def test_the_chapter_tabulates_the_file():
    code = sources("code")
    assert re.search(r"comparators\.load\(\s*RESULTS\s*/\s*\"comparators\.json\"\s*\)", code)
    assert "comparators.table(" in code
    assert "comparators.our_rows(" in code, "the chapter no longer checks the rows of ours against the runs"


def test_no_number_of_the_file_is_typed_into_the_chapter():
    numbers = {v for e in DATA["published"] for v in e["numbers"].values() if v is not None}
    numbers |= {r[m] for r in DATA["ours"] for m in ("ccc", "pcc", "rmse", "ccc_per_trial")}
    assert numbers
    text = sources()
    typed = sorted(f"{v:.3f}" for v in numbers if re.search(rf"(?<![\d.]){re.escape(f'{v:.3f}')}(?!\d)", text))
    assert not typed, f"chapter 08 types numbers of comparators.json instead of reading them: {typed}"
