"""Trials without a label in the data (issue 33 item 1 (a)): in folds, only the training subjects'
``unlabelled`` (or a new person's ``calibration``); never train, validation or test; a run's taught
students use them and nothing reads their latent valence."""

import dataclasses
import json

import numpy as np
import pytest

from emokd.core.config import experiment_config
from emokd.core.fileio import sha256
from emokd.errors import EmokdError
from emokd.evaluation.report import regime_line
from emokd.training.folddata import fold_inputs
from emokd.training.regimes import add_unlabelled_data, plan_folds

#: labelled trials: 5 subjects with 3..6 trials
LABELLED = {f"P{s:02d}_T{2 * t + 2:02d}": s for s, n in {1: 6, 2: 5, 3: 4, 4: 4, 5: 3}.items() for t in range(n)}
#: trials without labels: 2 of each of those subjects, and 3 of subject 7, who has no labelled trial
DATA_UNLABELLED = {f"P{s:02d}_T{t:02d}": s for s in (1, 2, 3, 4, 5) for t in (30, 32)} | \
                  {f"P07_T{t:02d}": 7 for t in (4, 6, 8)}
SUBJECT_OF = LABELLED | DATA_UNLABELLED


def _plans(**kw):
    cfg = experiment_config("book", seed=2, **kw)
    return plan_folds(LABELLED, cfg), plan_folds(SUBJECT_OF, cfg, unlabelled_data=list(DATA_UNLABELLED))


@pytest.mark.parametrize("kw", [{}, {"labelled_fraction": 0.5}, {"calibration": 0.5},
                                {"labelled_fraction": 0.25, "calibration": 0.5}])
def test_loso_gives_them_to_the_training_subjects_only(kw):
    before, after = _plans(**kw)
    assert before.left_out == after.left_out and len(before.folds) == len(after.folds)
    for old, new in zip(before.folds, after.folds, strict=True):
        # the labelled partitions, the withheld labels and the calibration draw are the same as without them
        assert (new.fold, new.train, new.validation, new.test) == (old.fold, old.train, old.validation, old.test)
        assert set(new.unlabelled) - set(DATA_UNLABELLED) == set(old.unlabelled)
        assert set(new.calibration) - set(DATA_UNLABELLED) == set(old.calibration)
        tested = SUBJECT_OF[new.test[0]]
        mine = {k for k, s in DATA_UNLABELLED.items() if s == tested}
        assert set(new.unlabelled) & set(DATA_UNLABELLED) == set(DATA_UNLABELLED) - mine  # subject 7's too
        assert set(new.calibration) & set(DATA_UNLABELLED) == (mine if kw.get("calibration") else set())
        assert set(new.unlabelled_data) == set(new.keys) & set(DATA_UNLABELLED)
        assert not set(new.train + new.validation + new.test) & set(DATA_UNLABELLED)
        assert list(new.unlabelled) == sorted(new.unlabelled) and list(new.calibration) == sorted(new.calibration)
        described = new.describe(SUBJECT_OF)["unlabelled_data"]
        assert described["n_trials"] == len(new.unlabelled_data) == len(described["trials"])
        assert tested not in described["subjects"] or kw.get("calibration")


def test_trs_gives_every_one_to_every_fold():
    before, after = _plans(protocol="trs", n_folds=4)
    for old, new in zip(before.folds, after.folds, strict=True):
        assert (new.train, new.validation, new.test) == (old.train, old.validation, old.test)
        assert set(new.unlabelled) == set(DATA_UNLABELLED) and new.unlabelled_data == tuple(sorted(DATA_UNLABELLED))


def test_a_trs_subject_all_tested_is_held_out():
    fold = plan_folds(LABELLED, experiment_config("book", protocol="trs", n_folds=4)).folds[0]
    one = dataclasses.replace(fold, test=("P09_T02",))  # a subject whose only labelled trial is tested
    given = add_unlabelled_data(one, SUBJECT_OF | {"P09_T02": 9, "P09_T10": 9}, ("P09_T10", "P01_T30"),
                                calibrating=False)
    assert given.unlabelled_data == ("P01_T30",) and "P09_T10" not in given.keys


def test_none_and_unknown():
    cfg = experiment_config("book", seed=2)
    assert plan_folds(LABELLED, cfg, unlabelled_data=()) == plan_folds(LABELLED, cfg)
    assert "unlabelled_data" not in plan_folds(LABELLED, cfg).folds[0].describe(LABELLED)
    with pytest.raises(EmokdError, match="P99_T02"):
        plan_folds(LABELLED, cfg, unlabelled_data=["P99_T02"])


def test_fold_inputs_never_give_them_to_the_labelled_partitions():
    rng = np.random.default_rng(0)
    trials = {k: {"key": k, "subject": s, "x": rng.normal(size=(20, 3)).astype(np.float32),
                  "valence": (np.full(20, np.nan, np.float32) if k in DATA_UNLABELLED
                              else rng.uniform(-1, 1, 20).astype(np.float32)),
                  **({"labelled": False} if k in DATA_UNLABELLED else {})} for k, s in SUBJECT_OF.items()}
    fold = plan_folds(SUBJECT_OF, experiment_config("book"), unlabelled_data=list(DATA_UNLABELLED)).folds[0]
    parts = fold_inputs(trials, fold).parts
    for name in ("train", "validation", "test"):  # what the teacher and the plain student read
        assert not {t["key"] for t in parts[name]} & set(DATA_UNLABELLED)
        assert all(np.isfinite(t["valence"]).all() for t in parts[name])
    assert all(t["labelled"] is False and np.isnan(t["valence"]).all() for t in parts["unlabelled"])


# ------------------------------------------------------------------ a run on a smoke data set with them


def _cfg():
    cfg = experiment_config("smoke", "loso", seed=0, handover=("output",))
    fast = dataclasses.replace(cfg.student_train, max_epochs=1)
    return dataclasses.replace(cfg, teacher_train=fast, student_train=fast)


@pytest.fixture(scope="module")
def unlabelled_run(smoke_unlabelled_prepared, tmp_path_factory, monkeypatch_module):
    """A smoke LOSO run with output distillation on the data with sessions without labels, recording the
    trials each model of each fold trained on."""
    from emokd.training import train

    seen, fit = {}, train.fit

    def recording_fit(model, train_set, *args, desc=None, **kw):
        seen[desc] = [t["key"] for t in train_set.trials]
        return fit(model, train_set, *args, desc=desc, **kw)

    monkeypatch_module.setattr(train, "fit", recording_fit)
    from emokd.evaluation.experiment import run_experiment

    out = tmp_path_factory.mktemp("unlabelled_run")
    return out, run_experiment(smoke_unlabelled_prepared[0], _cfg(), out, n_jobs=1, progress=False), seen


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.mark.slow
def test_the_taught_students_use_them_the_teacher_never(unlabelled_run, smoke_unlabelled_prepared, n_unlabelled):
    out, res, seen = unlabelled_run
    manifest = smoke_unlabelled_prepared[1]
    without = {k for k, e in manifest["trials"].items() if e.get("labelled", True) is False}
    assert len(without) == 3 * n_unlabelled and len(res["folds"]) == 3
    for f in res["folds"]:
        tested = f["test"]["subjects"][0]
        given = {k for k in without if manifest["trials"][k]["subject"] != tested}
        assert f["unlabelled_data"]["n_trials"] == len(given) == 2 * n_unlabelled
        assert set(f["unlabelled_data"]["trials"]) == given == set(f["unlabelled"]["trials"])
        n = f["fold"]
        for name in ("teacher", "student"):
            assert not set(seen[f"fold {n} {name}"]) & without
        for name in ("student_kd", "student_kd_output"):  # the taught students' pool
            assert set(seen[f"fold {n} {name}"]) & without == given
        knowledge = json.loads((out / "folds" / f"fold_{n:02d}" / "knowledge.json").read_text())
        assert given <= set(knowledge["trials"]) and not (without - given) & set(knowledge["trials"])
    assert "sessions without labels in the data given to the taught students: 4-4 per fold" in regime_line(res)


@pytest.mark.slow
def test_their_latent_is_never_read(unlabelled_run, smoke_unlabelled_dir, smoke_unlabelled_prepared, tmp_path):
    """Poisoned: the latent valence of the sessions without labels replaced by other traces, prepared
    again; fold 0's models and predictions are the same bytes (only the trial files that hold the
    latent, and so the data's fingerprint, differ)."""
    import shutil

    from emokd.evaluation.experiment import run_experiment
    from emokd.io.mahnob import UNLABELLED_LATENT_FILE
    from emokd.io.prepare import prepare_dataset
    from emokd.training.runfolder import data_fingerprint

    out, _, _ = unlabelled_run
    root = tmp_path / "data"
    shutil.copytree(smoke_unlabelled_dir, root)
    with np.load(root / UNLABELLED_LATENT_FILE) as npz:
        poisoned = {k: -0.9 * np.sign(npz[k] - npz[k].mean()) for k in npz.files}
    np.savez(root / UNLABELLED_LATENT_FILE, **poisoned)
    prepared = tmp_path / "prepared"
    prepare_dataset(root, prepared, progress=False, unlabelled=True)
    clean, dirty = data_fingerprint(smoke_unlabelled_prepared[0])["trials"], data_fingerprint(prepared)["trials"]
    assert {k for k in clean if clean[k] != dirty[k]} == {k for k, e in smoke_unlabelled_prepared[1]["trials"].items()
                                                          if e.get("labelled", True) is False}
    again = run_experiment(prepared, _cfg(), tmp_path / "run", n_jobs=1, progress=False, folds=[0])
    assert again.get("partial") and again["done"] == [0]
    here, there = out / "folds" / "fold_00", tmp_path / "run" / "folds" / "fold_00"
    files = sorted(p.name for p in here.iterdir() if p.suffix in (".pt", ".npz"))
    assert {"teacher.pt", "student.pt", "student_kd.pt", "student_kd_output.pt", "predictions.npz",
            "knowledge.npz"} <= set(files)
    assert {f: sha256(here / f) for f in files} == {f: sha256(there / f) for f in files}


def test_a_finished_run_reads_its_folds_back_with_the_pool(tmp_path):
    """``load_run(...).folds`` has the partitions whose inputs entered the fold's normalisation (the
    saliency of a run rebuilds its students' inputs from them)."""
    from emokd.training.runs import FORMAT, load_run

    fold = plan_folds(SUBJECT_OF, experiment_config("book", calibration=0.5),
                      unlabelled_data=list(DATA_UNLABELLED)).folds[0]
    (tmp_path / "results.json").write_text(json.dumps(
        {"format": FORMAT, "models": ["student"], "references": [], "data": "/nowhere",
         "folds": [{"fold": fold.fold, **fold.describe(SUBJECT_OF),
                    "metrics": {"student": {s: {m: 0.5 for m in ("rmse", "pcc", "ccc")}
                                            for s in ("concatenated", "per_trial")}}}]}))
    assert load_run(tmp_path).folds == [fold]
