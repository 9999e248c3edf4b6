"""studies/comparators.py, run as a script on a copy of the committed runs: it keeps the published entries as
they are and writes the committed ``ours`` rows and ``comparators.md`` again, so neither is stale or edited by
hand. (The checks of the file itself: tests/evaluation/test_comparators.py.)"""

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results" / "mahnob-features"


@pytest.mark.slow
def test_the_committed_comparators_are_what_the_script_writes(study_script, tmp_path):
    out = tmp_path / "results"
    for path in RESULTS.glob("*/results.json"):
        (out / path.parent.name).mkdir(parents=True)
        shutil.copy(path, out / path.parent.name / "results.json")
    shutil.copy(RESULTS / "comparators.json", out / "comparators.json")
    study_script("comparators.py", "--results", out)
    committed = json.loads((RESULTS / "comparators.json").read_text())
    written = json.loads((out / "comparators.json").read_text())
    assert written["published"] == committed["published"]
    assert written["ours"] == committed["ours"]
    assert (out / "comparators.md").read_text() == (RESULTS / "comparators.md").read_text()
