"""studies/saliency_check.py (issue 34, item 6) on the smoke preset: the script runs end to end, its
known-answer stage recovers the planted read-out exactly, and its mass shares are a partition (their own
known answer: tests/saliency/test_aggregation.py)."""

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_saliency_check_on_smoke(study_script, tmp_path):
    study_script("saliency_check.py", "--preset", "smoke", "--work", tmp_path / "work", "--out", tmp_path / "out")
    r = json.loads((tmp_path / "out" / "check.json").read_text())
    assert r["preset"] == "smoke" and r["truth_features"] == 2 * 9  # theta and alpha at nine electrodes
    # stage 1: a read-out of exactly the planted map is recovered by every method
    assert all(v["auc"] == pytest.approx(1.0) for v in r["stage1_pipeline"].values())
    assert r["stage1_pipeline"]["gradient"]["spearman"] == pytest.approx(1.0)
    for entry in [r["stage2_ridge"]["filter"], r["stage2_ridge"]["pattern"],
                  *(e for name in ("student", "student_kd") for e in r["stage3_students"][name].values())]:
        assert 0.0 <= entry["auc"] <= 1.0
        assert sum(entry["mass"].values()) == pytest.approx(1.0, abs=2e-4)
    md = (tmp_path / "out" / "check.md").read_text()
    assert "Stage 1" in md and "Verdict" in md
    lines = md.splitlines()
    row = lines[lines.index("## Stage 3: the trained students") + 4]  # the first row of the students' table
    data = next(line for line in lines if line.startswith("| data, no model"))
    assert data.replace("\\|", "").count("|") == row.count("|")  # |r| escaped: the row keeps its columns

