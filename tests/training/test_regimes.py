"""Scarce labels and a new person's calibration: which trials a fold may read the labels of."""

import dataclasses

import numpy as np
import pytest

from emokd.core.config import MIN_CALIBRATION_TRIALS, experiment_config
from emokd.errors import EmokdError
from emokd.training.datasets import make_folds
from emokd.training.folddata import fold_inputs
from emokd.training.regimes import hide_labels, plan_folds, split_calibration

#: 6 subjects with 1..12 trials, as unbalanced as the real release
SUBJECT_OF = {f"P{s:02d}_T{t:02d}": s for s, n in {1: 12, 2: 9, 3: 5, 4: 4, 5: 3, 6: 1}.items() for t in range(n)}


def _trials(seed=0):
    rng = np.random.default_rng(seed)
    return {k: {"key": k, "subject": s, "x": rng.normal(size=(30, 3)).astype(np.float32),
                "valence": rng.uniform(-1, 1, 30).astype(np.float32)} for k, s in SUBJECT_OF.items()}


def test_without_a_regime_the_folds_are_make_folds():
    cfg = experiment_config("book", "loso", 3)
    assert plan_folds(SUBJECT_OF, cfg).folds == tuple(make_folds(SUBJECT_OF, "loso", seed=3))
    assert plan_folds(SUBJECT_OF, dataclasses.replace(cfg, labelled_fraction=1.0)).folds == \
        tuple(make_folds(SUBJECT_OF, "loso", seed=3))


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.9])
def test_hidden_labels_are_a_share_of_each_subjects_training_trials(p):
    for fold in make_folds(SUBJECT_OF, "loso", seed=1):
        hidden = hide_labels(fold, SUBJECT_OF, p, seed=1)
        assert set(hidden.train) | set(hidden.unlabelled) == set(fold.train)  # a split of the training trials
        assert not set(hidden.train) & set(hidden.unlabelled)
        assert (hidden.validation, hidden.test) == (fold.validation, fold.test)  # validation stays labelled
        for s in {SUBJECT_OF[k] for k in fold.train}:
            n = sum(SUBJECT_OF[k] == s for k in fold.train)
            kept = sum(SUBJECT_OF[k] == s for k in hidden.train)
            assert kept == max(1, int(np.floor(p * n + 0.5))), (s, n, kept)  # a plain count, per subject
        assert hidden == hide_labels(fold, SUBJECT_OF, p, seed=1)  # drawn from the seed
    assert any(hide_labels(f, SUBJECT_OF, 0.5, seed=1) != hide_labels(f, SUBJECT_OF, 0.5, seed=2)
               for f in make_folds(SUBJECT_OF, "loso", seed=1))


def test_calibration_and_evaluation_trials_split_the_test_subject():
    cfg = experiment_config("book", "loso", 0, calibration=0.5)
    plan = plan_folds(SUBJECT_OF, cfg)
    n_trials = {s: list(SUBJECT_OF.values()).count(s) for s in set(SUBJECT_OF.values())}
    assert {SUBJECT_OF[make_folds(SUBJECT_OF, "loso", seed=0)[f].test[0]] for f in plan.left_out} == \
        {s for s, n in n_trials.items() if n < MIN_CALIBRATION_TRIALS}
    for fold in plan.folds:
        subject = SUBJECT_OF[fold.test[0]]
        assert not set(fold.calibration) & set(fold.test)
        assert {SUBJECT_OF[k] for k in fold.calibration + fold.test} == {subject}
        assert len(fold.calibration) + len(fold.test) == n_trials[subject]
        assert len(fold.calibration) == n_trials[subject] // 2 and len(fold.test) >= 2
        assert subject not in {SUBJECT_OF[k] for k in fold.train + fold.validation}


def test_withheld_labels_are_nan_and_never_enter_the_statistics():
    trials = _trials()
    cfg = experiment_config("book", "loso", 0, labelled_fraction=0.25, calibration=0.5)
    fold = plan_folds(SUBJECT_OF, cfg).folds[0]
    parts = fold_inputs(trials, fold, normalisation="subject").parts
    for name in ("unlabelled", "calibration"):
        assert parts[name] and all(np.isnan(t["valence"]).all() and t["labelled"] is False for t in parts[name])
    for name in ("train", "validation", "test"):
        assert all(np.isfinite(t["valence"]).all() and "labelled" not in t for t in parts[name])
    # `subject` statistics of the new person: its calibration trials only, never the evaluation trials
    cal = np.concatenate([trials[k]["x"] for k in fold.calibration]).astype(np.float64)
    got = {t["key"]: t["x"] for t in parts["test"]}
    for k in fold.test:
        assert np.allclose(got[k], (trials[k]["x"] - cal.mean(0)) / cal.std(0), atol=1e-5)
    # `train` statistics: the training pool (labelled and not), whatever share is labelled
    pool = np.concatenate([trials[k]["x"] for k in sorted(fold.train + fold.unlabelled)]).astype(np.float64)
    inputs = fold_inputs(trials, fold, normalisation="train")
    parts, norm = inputs.parts, inputs.normaliser
    assert np.allclose(norm.mean, pool.mean(0)) and np.allclose(norm.std, pool.std(0))


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), True])
def test_a_bad_labelled_fraction_is_named(bad):
    with pytest.raises(EmokdError, match="labelled_fraction"):
        experiment_config("book", labelled_fraction=bad)


@pytest.mark.parametrize("kw, match", [({"calibration": 1.0}, "calibration"), ({"calibration": -0.5}, "calibration"),
                                       ({"calibration": 0.5, "protocol": "trs"}, "needs LOSO"),
                                       ({"handover": ("output", "output")}, "once"),
                                       ({"handover": ("teacher",)}, "choose any of output, shuffled, self")])
def test_bad_regime_options_are_named(kw, match):
    with pytest.raises(EmokdError, match=match):
        experiment_config("book", **kw)


def test_a_calibration_run_needs_a_subject_with_enough_trials():
    few = {f"P{s}_T{t}": s for s in (1, 2, 3) for t in range(MIN_CALIBRATION_TRIALS - 1)}
    with pytest.raises(EmokdError, match="no subject has 4 trials"):
        plan_folds(few, experiment_config("book", calibration=0.5))
    assert split_calibration(make_folds(few, "loso", seed=0)[0], 0.5, seed=0) is None


def test_the_regime_is_stored_only_when_it_is_on():
    assert "labelled_fraction" not in experiment_config("book").to_json()  # older runs stay the same config
    cfg = experiment_config("book", labelled_fraction=0.25, handover=["output", "self"], calibration=0.5)
    assert cfg.handover == ("output", "self")
    d = cfg.to_json()
    assert (d["labelled_fraction"], d["handover"], d["calibration"]) == (0.25, ("output", "self"), 0.5)
    assert type(cfg).from_json(d) == cfg
    assert cfg.students == ("student_kd_output", "student_self", "student_calib_norm")
