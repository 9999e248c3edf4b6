"""The declared studies' drivers (teacher_pays.py, under_training.py): the runs they list are the ones
their declarations name, and their analysis computes the declared tests from fold records."""

import json
import shutil

import pytest


def test_teacher_pays_lists_the_declared_runs(study_script):
    out = study_script("teacher_pays.py", "--list", "--out", "/nonexistent").stdout.splitlines()
    real = [line.split()[0] for line in out if line.startswith("real_")]
    # the declaration's order: p = 0.1, calibration, p = 0.25, p = 1; seed 0 then seed 1
    assert real == [f"real_seed{s}_{k}" for s in (0, 1) for k in ("p0.1", "calibration", "p0.25", "p1")]
    assert all("--normalisation subject" in line for line in out if line.startswith("real_") and "_p" in line[:20])
    calibration = [line for line in out if "_calibration" in line.split()[0]]
    assert calibration and all("--calibration 0.5" in line and "--normalisation" not in line for line in calibration)
    assert sum(line.startswith("synth") for line in out) == 8 * 4


def test_under_training_varies_only_the_students_budget(study_script):
    out = study_script("under_training.py", "--list", "--out", "/nonexistent").stdout.splitlines()
    assert [line.split()[0] for line in out] == [f"real_seed{s}_e{e}" for s in range(5) for e in (15, 60, 240)]
    for line in out:
        e = line.split()[0].rsplit("_e", 1)[1]
        assert f"--preset paper --student-max-epochs {e} --handover shuffled" in line


@pytest.mark.slow
def test_the_analysis_reads_fold_records(study_script, tmp_path, smoke_prepared):
    """Fold records of a smoke run stand for a study's runs: the declared tests are computed from them and
    marked partial (the other runs have not finished)."""
    from emokd.core.config import experiment_config
    from emokd.evaluation.experiment import run_experiment

    prepared, _ = smoke_prepared
    run = tmp_path / "run"
    run_experiment(prepared, experiment_config("smoke", handover=("output", "shuffled", "self")), run,
                   progress=False)
    for name in ("real_seed0_p0.1", "real_seed1_p0.1", "real_seed0_p1", "real_seed1_p1"):
        shutil.copytree(run / "folds", tmp_path / "out" / "runs" / name / "raw")
        folds = tmp_path / "out" / "runs" / name / "folds"
        folds.mkdir()
        for f in (tmp_path / "out" / "runs" / name / "raw").glob("fold_*/fold.json"):
            shutil.copyfile(f, folds / f"{f.parent.name}.json")
    # one of the four finished (its results.json, with the reference models), the others still fold records
    # (the networks only): the table averages each model over the rows that have it
    shutil.copyfile(run / "results.json", tmp_path / "out" / "runs" / "real_seed0_p1" / "results.json")
    study_script("teacher_pays.py", "--analyse", "--out", tmp_path / "out")
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    results = json.loads((run / "results.json").read_text())
    p1 = analysis["real"]["table"]["p1"]["models"]
    assert p1["ref_zero"]["per_trial"] == pytest.approx(  # from the finished run's folds alone
        sum(f["metrics"]["ref_zero"]["per_trial"]["ccc"] for f in results["folds"]) / len(results["folds"]))
    assert p1["student"]["per_trial"] == pytest.approx(
        sum(f["metrics"]["student"]["per_trial"]["ccc"] for f in results["folds"]) / len(results["folds"]))
    tests = analysis["real"]["tests"]
    assert tests["H1"]["n"] == 6 and tests["H1"]["n_seeds"] == 2  # 3 subjects x 2 seeds
    assert analysis["real"]["verdicts"]["H4b"] == "not yet run"
    assert "partial" in analysis["real"]["verdicts"]["H1"]
    assert "| H1 |" in (tmp_path / "out" / "results.md").read_text()
