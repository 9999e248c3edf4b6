"""The declared studies' drivers (teacher_pays.py, under_training.py, network_controls.py): the runs they list are the ones
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


@pytest.mark.slow
def test_under_training_varies_only_the_students_budget(study_script):
    """One run per seed: the paper preset with only the students' budget raised to 240, its 15- and 60-epoch
    students read off the same training."""
    out = study_script("under_training.py", "--list", "--out", "/nonexistent").stdout.splitlines()
    assert [line.split()[0] for line in out] == [f"real_seed{s}" for s in range(8)]
    for s, line in enumerate(out):
        assert line.endswith("emokd run --preset paper --student-max-epochs 240 --student-budgets 15,60 "
                             f"--handover shuffled --seed {s}"), line


@pytest.mark.slow
def test_the_under_training_analysis_reads_each_budget_off_one_run(study_script, tmp_path):
    """Made-up fold scores with known answers: each budget's students are the run's ``<student>_e<E>`` (the
    full budget's the plain names); U1 is the gain at 15 epochs minus the gain at 240, per seed and subject."""
    import numpy as np

    rng = np.random.default_rng(1)
    gain = {15: 0.05, 60: 0.02, 240: 0.0}
    for seed in range(8):
        folds = []
        for f in range(24):
            level = 0.2 + 0.05 * rng.standard_normal()
            metrics = {"teacher": 0.6, "ref_ridge_student": 0.3}
            for b, g in gain.items():
                suffix = "" if b == 240 else f"_e{b}"
                noise = 0.002 * rng.standard_normal(3)
                metrics.update({f"student{suffix}": level + noise[0], f"student_kd{suffix}": level + g + noise[1],
                                f"student_kd_shuffled{suffix}": level + g + noise[2]})
            folds.append({"fold": f, "test": {"subjects": [f + 1]},
                          "metrics": {m: {"per_trial": {"ccc": v}, "concatenated": {"ccc": v}}
                                      for m, v in metrics.items()}})
        run = tmp_path / "runs" / f"real_seed{seed}"
        run.mkdir(parents=True)
        (run / "results.json").write_text(json.dumps({"folds": folds}))
    study_script("under_training.py", "--analyse", "--out", tmp_path)
    result = json.loads((tmp_path / "analysis.json").read_text())["real"]
    runs = [json.loads((tmp_path / "runs" / f"real_seed{s}" / "results.json").read_text())["folds"]
            for s in range(8)]

    def mean_diff(a, b):
        return np.mean([f["metrics"][a]["per_trial"]["ccc"] - f["metrics"][b]["per_trial"]["ccc"]
                        for folds in runs for f in folds])

    assert result["tests"]["U1"]["estimate"] == pytest.approx(
        mean_diff("student_kd_e15", "student_e15") - mean_diff("student_kd", "student"), abs=1e-9)
    assert result["tests"]["U1"]["n"] == 8 * 24
    assert result["table"]["e60"]["models"]["student_kd"]["per_trial"] == pytest.approx(
        np.mean([f["metrics"]["student_kd_e60"]["per_trial"]["ccc"] for folds in runs for f in folds]))
    assert "teacher" in result["table"]["e240"]["models"] and "teacher" not in result["table"]["e15"]["models"]
    assert [result["verdicts"][u] for u in ("U1", "U2", "U3", "U4")] == \
        ["supported", "not supported", "supported", "supported"]
    # a declared seed without its results.json (still running, or not started): every verdict is partial
    (tmp_path / "runs" / "real_seed7" / "results.json").unlink()
    study_script("under_training.py", "--analyse", "--out", tmp_path)
    result = json.loads((tmp_path / "analysis.json").read_text())["real"]
    assert all("partial" in v for v in result["verdicts"].values()) and result["tests"]["U1"]["n"] == 7 * 24


def test_network_controls_lists_the_declared_runs(study_script):
    """The full run, the three EMG ablations and 24 permutations on folds 0, 4, ..., 20, each the book_subject
    configuration of results/mahnob-features with only its own control added (results/network-controls)."""
    out = study_script("network_controls.py", "--list", "--out", "/nonexistent").stdout.splitlines()
    names = [line.split()[0] for line in out]
    perms = [f"real_seed0_perm{k:02d}" for k in range(1, 25)]
    assert names == ["real_seed0_full", "real_seed0_theta-alpha", "real_seed0_beta-gamma", "real_seed0_no-muscle",
                     *perms]
    book_subject = ("emokd run --preset book --max-epochs 40 --early-stop 8 --lr-patience 3 --epoch-fraction 1 "
                    "--normalisation subject --face-normalisation subject")
    own = {"real_seed0_full": "", "real_seed0_theta-alpha": " --eeg-bands theta,alpha",
           "real_seed0_beta-gamma": " --eeg-bands beta,gamma",
           "real_seed0_no-muscle": " --drop-channels Fp1,Fp2,F7,F8,T7,T8",
           **{name: f" --permute-labels {k} --seed 0 --folds 0,4,8,12,16,20" for k, name in enumerate(perms, 1)}}
    for name, line in zip(names, out):
        tail = own[name] if name in perms else own[name] + " --seed 0"
        assert line.endswith(book_subject + tail), line
        assert ("0/6 folds kept" if name in perms else "0 folds kept") in line


def test_a_run_of_some_folds_is_finished_when_each_has_its_record(study_script, tmp_path):
    """A permuted run writes no results.json: its six fold records finish it (a record of another fold does not
    count); a run of every fold is finished by its results.json alone."""
    for name, folds in (("real_seed0_perm01", (0, 4, 8, 12, 16, 20)), ("real_seed0_perm02", (0, 4, 5)),
                        ("real_seed0_full", (0, 1, 2))):
        (tmp_path / "runs" / name / "folds").mkdir(parents=True)
        for f in folds:
            (tmp_path / "runs" / name / "folds" / f"fold_{f:02d}.json").write_text("{}")
    out = study_script("network_controls.py", "--list", "--out", tmp_path).stdout.splitlines()
    state = {line.split()[0]: line.split()[1] for line in out}
    assert (state["real_seed0_perm01"], state["real_seed0_perm02"], state["real_seed0_perm03"]) == ("done", "2/6",
                                                                                                  "0/6")
    assert state["real_seed0_full"] == "3"  # "3 folds kept": no results.json yet


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


@pytest.mark.slow
def test_a_declared_run_not_yet_started_keeps_the_verdicts_partial(study_script, tmp_path):
    """Every run present has finished, but seed 1 of the declaration has not started: its kinds are
    incomplete and every verdict says partial (before, the runs present alone decided)."""
    import numpy as np

    rng = np.random.default_rng(2)
    models = ("teacher", "student", "student_kd", "student_kd_output", "student_kd_shuffled", "student_self",
              "student_calib_norm")
    for kind in ("p0.1", "p0.25", "p1", "calibration"):
        folds = [{"fold": f, "test": {"subjects": [f + 1]},
                  "metrics": {m: {"per_trial": {"ccc": v}, "concatenated": {"ccc": v}}
                              for m in models for v in [0.2 + 0.1 * rng.standard_normal()]}}
                 for f in range(24)]
        run = tmp_path / "runs" / f"real_seed0_{kind}"
        run.mkdir(parents=True)
        (run / "results.json").write_text(json.dumps({"folds": folds}))
    study_script("teacher_pays_analysis.py", "--out", tmp_path)
    real = json.loads((tmp_path / "analysis.json").read_text())["real"]
    assert all(not t["complete"] for t in real["table"].values())
    assert all(r["n_rows"] == 24 and r["seeds"] == [0] for r in real["table"].values())
    assert all("partial" in v for v in real["verdicts"].values()), real["verdicts"]
    assert "synthetic" not in json.loads((tmp_path / "analysis.json").read_text())  # no cohort has started


def test_results_list_each_runs_folds_and_seconds(study_script, tmp_path):
    """The "Runs" table: a finished run's folds, the sum of its folds' seconds (imported folds keep theirs)
    and its last invocation's wall time; an unfinished run's fold records so far, with no wall time."""
    def fold(f, seconds):
        return {"fold": f, "test": {"subjects": [f + 1]}, "seconds": seconds,
                "metrics": {m: {"per_trial": {"ccc": 0.1 * f}, "concatenated": {"ccc": 0.2}}
                            for m in ("student", "student_kd")}}

    done = tmp_path / "runs" / "real_seed0_p0.1"
    done.mkdir(parents=True)
    (done / "results.json").write_text(json.dumps({"folds": [fold(0, 10.0), fold(1, 20.5), fold(2, 30.0)],
                                                   "runtime_s": 12.4, "n_jobs": 2}))
    records = tmp_path / "runs" / "real_seed0_p1" / "folds"
    records.mkdir(parents=True)
    for f, seconds in enumerate((5.0, 7.0)):
        (records / f"fold_{f:02d}.json").write_text(json.dumps(fold(f, seconds)))
    study_script("teacher_pays_analysis.py", "--out", tmp_path)
    table = (tmp_path / "results.md").read_text().split("## Runs", 1)[1]
    assert "| real_seed0_p0.1 | 3 | yes | 60 | 12 | 2 |" in table
    assert "| real_seed0_p1 | 2 | no | 12 | – | – |" in table


def made_up_folds(seed: int):
    """``fold(f, shift)``: a made-up LOSO fold record of subject f + 1, every model scoring its subject's base
    score (drawn once per subject) plus ``shift`` and a little noise (concatenated: twice the per-trial score)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    subjects = list(range(1, 25))
    base = {s: 0.2 + 0.05 * rng.standard_normal() for s in subjects}

    def fold(f, shift, sd=0.01):
        value = base[subjects[f]] + shift + sd * rng.standard_normal()
        return {"fold": f, "test": {"subjects": [subjects[f]]},
                "metrics": {m: {"per_trial": {"ccc": value}, "concatenated": {"ccc": 2 * value}}
                            for m in ("teacher", "student", "student_kd", "ref_ridge_student")}}

    return fold, rng


@pytest.mark.slow
def test_the_network_controls_analysis_pairs_by_subject_and_ranks_the_real_score(study_script, tmp_path):
    """Made-up fold scores with known answers: each ablation against the full run subject by subject (N1 a
    loss, N2 within the margin, N3 a smaller loss), and the chance level: the full run's mean over folds
    0, 4, ..., 20 against the 24 permuted runs' (p = 1 / 25 when it is above them all)."""
    import numpy as np

    fold, rng = made_up_folds(0)

    for name, shift in (("full", 0.0), ("theta-alpha", -0.15), ("beta-gamma", 0.0), ("no-muscle", -0.03)):
        folder = tmp_path / "runs" / f"real_seed0_{name}"
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps({"folds": [fold(f, shift) for f in range(24)]}))
    chance_folds = (0, 4, 8, 12, 16, 20)
    for k in range(1, 25):
        folder = tmp_path / "runs" / f"real_seed0_perm{k:02d}" / "folds"
        folder.mkdir(parents=True)
        for f in chance_folds:
            rec = fold(f, 0.0)
            for m in rec["metrics"].values():
                m["per_trial"]["ccc"] = m["concatenated"]["ccc"] = 0.01 * rng.standard_normal()
            (folder / f"fold_{f:02d}.json").write_text(json.dumps(rec))
    # study_runner's mark of a run of some folds whose every fold has its record (the first permutation only)
    (tmp_path / "runs" / "real_seed0_perm01" / "study.json").write_text(
        json.dumps({"name": "real_seed0_perm01", "folds": list(chance_folds), "wall_s_this_invocation": 99.4}))
    study_script("network_controls.py", "--analyse", "--out", tmp_path)
    result = json.loads((tmp_path / "analysis.json").read_text())
    full = json.loads((tmp_path / "runs" / "real_seed0_full" / "results.json").read_text())["folds"]
    for kind in ("theta-alpha", "beta-gamma", "no-muscle"):
        runs = json.loads((tmp_path / "runs" / f"real_seed0_{kind}" / "results.json").read_text())["folds"]
        diff = [a["metrics"]["student"]["per_trial"]["ccc"] - b["metrics"]["student"]["per_trial"]["ccc"]
                for a, b in zip(runs, full)]
        t = result["ablations"][kind]["student/per_trial"]
        assert t["n"] == 24 and t["paired"]["mean_diff"] == pytest.approx(np.mean(diff))
        assert [t["by_subject"][str(f["test"]["subjects"][0])] for f in runs] == [
            [a["metrics"]["student"]["per_trial"]["ccc"], b["metrics"]["student"]["per_trial"]["ccc"]]
            for a, b in zip(runs, full)]
    assert [result["verdicts"][n]["verdict"] for n in ("N1", "N2", "N3")] == ["supported"] * 3
    student = result["chance"]["networks"]["student/per_trial"]
    assert student["real"] == pytest.approx(np.mean([full[f]["metrics"]["student"]["per_trial"]["ccc"]
                                                     for f in chance_folds]))
    assert student["n_permutations"] == 24 and student["p"] == pytest.approx(1 / 25)
    assert result["chance"]["C1"]["verdict"] == "supported"
    md = (tmp_path / "results.md").read_text()
    assert "| student | per_trial |" in md
    # the runs' table: a run finished by its results.json, a permuted run by its study.json, another not yet
    assert "| real_seed0_full | 24 | yes |" in md and "| real_seed0_perm01 | 6 | yes | 0 | 99 | – |" in md
    assert "| real_seed0_perm02 | 6 | no |" in md


@pytest.mark.slow
def test_a_network_control_verdict_no_unfinished_test_can_change_is_settled(study_script, tmp_path):
    """With the no-muscle run missing, Holm's adjusted p of N1 and N2 can only lie between their own p and three
    times it: N1, a large loss (3 p far below 0.05), is settled as supported; N2, whose ablation is better by
    0.05 (its TOST p above 0.05 already), settled as not supported; N3 not yet run. A run of some folds only
    keeps its own verdict partial."""
    fold, _ = made_up_folds(1)

    for name, shift in (("full", 0.0), ("theta-alpha", -0.15), ("beta-gamma", 0.05)):
        folder = tmp_path / "runs" / f"real_seed0_{name}"
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps({"folds": [fold(f, shift) for f in range(24)]}))
    study_script("network_controls.py", "--analyse", "--out", tmp_path)
    verdicts = json.loads((tmp_path / "analysis.json").read_text())["verdicts"]
    assert verdicts["N1"]["verdict"].startswith("supported (settled")
    assert 3 * verdicts["N1"]["p"] < 0.05
    assert verdicts["N2"]["verdict"].startswith("not supported (settled") and verdicts["N2"]["p"] >= 0.05
    assert verdicts["N3"]["verdict"] == "not yet run"

    # the same beta-gamma scores from a run with 12 of its 24 folds: its verdict stays partial
    bg = tmp_path / "runs" / "real_seed0_beta-gamma"
    folds = json.loads((bg / "results.json").read_text())["folds"][:12]
    (bg / "results.json").unlink()
    (bg / "folds").mkdir()
    for rec in folds:
        (bg / "folds" / f"fold_{rec['fold']:02d}.json").write_text(json.dumps(rec))
    study_script("network_controls.py", "--analyse", "--out", tmp_path)
    verdicts = json.loads((tmp_path / "analysis.json").read_text())["verdicts"]
    assert verdicts["N2"]["verdict"].startswith("not supported (partial")
    assert verdicts["N1"]["verdict"].startswith("supported (settled")
