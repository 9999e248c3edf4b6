"""One fold under scarce labels and a new person's calibration: withheld labels are never read, and
each hand-over changes only the target it names."""

import dataclasses
import hashlib

import numpy as np
import pytest

from emokd.core.config import experiment_config, synth_config
from emokd.core.threads import fold_threads
from emokd.io.prepare import prepare_dataset
from emokd.synth.synthetic import generate
from emokd.training import fold as fold_module
from emokd.training import train as train_module
from emokd.training.folddata import load_trials
from emokd.training.fold import run_fold
from emokd.training.regimes import plan_folds

pytestmark = pytest.mark.slow  # three folds of six models: about 20 s

ALL = ("output", "shuffled", "self")
TAUGHT = ("student_kd", "student_kd_output", "student_kd_shuffled", "student_self")


@pytest.fixture(scope="module")
def four_trials(tmp_path_factory):
    """Smoke-sized data with 4 trials per subject (a test subject can calibrate): prepared folder."""
    root = tmp_path_factory.mktemp("four")
    generate(root / "data", synth_config("smoke", trials_per_subject={1: 4, 2: 4, 3: 4}), seed=0, progress=False)
    prepare_dataset(root / "data", root / "prep", progress=False)
    return root / "prep"


def _cfg(**kw):
    return experiment_config("smoke", "loso", 0, **{"labelled_fraction": 0.5, "calibration": 0.5, "handover": ALL,
                                                    **kw})


def _fold(prep, cfg):
    subjects = {k: t["subject"] for k, t in load_trials(prep, frames=False).items()}
    return plan_folds(subjects, cfg).folds[0]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_withheld_labels_are_never_read(four_trials, tmp_path, monkeypatch):
    """Poison every label the fold must not read (its unlabelled and calibration trials) and the test
    subject's evaluation labels: every model file and every prediction stays the same."""
    cfg = _cfg()
    fold = _fold(four_trials, cfg)
    assert fold.unlabelled and fold.calibration
    run_fold(four_trials, fold, cfg, tmp_path / "clean")
    real = fold_module.run_trials  # what run_fold reads its trials with
    poisoned = set(fold.unlabelled + fold.calibration + fold.test)

    def load_poisoned(*a, **kw):
        trials = real(*a, **kw)
        rng = np.random.default_rng(0)
        for k in poisoned:
            trials[k]["valence"] = rng.uniform(-50, 50, len(trials[k]["valence"])).astype(np.float32)
        return trials

    monkeypatch.setattr(fold_module, "run_trials", load_poisoned)
    run_fold(four_trials, fold, cfg, tmp_path / "poisoned")
    a, b = (tmp_path / d / "folds" / "fold_00" for d in ("clean", "poisoned"))
    models = ["teacher", "student", *TAUGHT]
    assert all(_digest(a / f"{m}.pt") == _digest(b / f"{m}.pt") for m in models)
    assert _digest(a / "knowledge.npz") == _digest(b / "knowledge.npz")
    pa, pb = np.load(a / "predictions.npz"), np.load(b / "predictions.npz")
    for name in pa.files:
        if not name.endswith("__true"):  # the scored labels themselves were poisoned
            assert np.array_equal(pa[name], pb[name]), name
    assert not np.array_equal(pa[f"{fold.test[0]}__true"], pb[f"{fold.test[0]}__true"])  # the poison took


def test_each_hand_over_changes_only_its_target(four_trials, tmp_path, monkeypatch):
    """What every model of the fold trains on, recorded at fit(): the same seed, initial weights and
    validation trials; the plain student and the teacher on the labelled trials; every taught student
    on the whole pool, each with its own target and nothing else."""
    calls = {}
    real_fit = train_module.fit

    def spy(model, train_set, val_set, cfg, **kw):
        name = kw["desc"].split()[-1]
        calls[name] = {"keys": [t["key"] for t in train_set.trials], "val": [t["key"] for t in val_set.trials],
                       "knowledge": train_set.knowledge, "targets": train_set.targets, "seed": kw["seed"],
                       "kd": kw["kd"], "init": {k: v.clone() for k, v in model.state_dict().items()}}
        return real_fit(model, train_set, val_set, cfg, **kw)

    monkeypatch.setattr(train_module, "fit", spy)
    cfg = _cfg()
    fold = _fold(four_trials, cfg)
    run_fold(four_trials, fold, cfg, tmp_path / "run")
    here = tmp_path / "run" / "folds" / "fold_00"
    labelled = list(fold.train)
    pool = labelled + list(fold.unlabelled) + list(fold.calibration)
    assert calls["teacher"]["keys"] == labelled and calls["student"]["keys"] == labelled
    assert calls["student"]["knowledge"] is None and calls["student"]["targets"] is None
    for name in TAUGHT:
        c = calls[name]
        assert c["keys"] == pool and c["val"] == list(fold.validation) and c["seed"] == calls["student"]["seed"]
        assert c["kd"] == cfg.kd
        assert all(np.array_equal(v, calls["student"]["init"][k]) for k, v in c["init"].items())
        assert (c["knowledge"] is None) != (c["targets"] is None)  # one target each
    knowledge = dict(np.load(here / "knowledge.npz"))
    assert all(np.array_equal(calls["student_kd"]["knowledge"][k], knowledge[k]) for k in pool)
    # the shuffled teacher: the same windows, none with its own trial
    shuffled = calls["student_kd_shuffled"]["knowledge"]
    owner = {knowledge[k][i].tobytes(): k for k in pool for i in range(len(knowledge[k]))}
    assert all(owner[w.tobytes()] != k for k in pool for w in shuffled[k])
    # output distillation: the teacher's predicted windows; self-training: the plain student's own
    sets = {}
    with fold_threads():  # as the fold computes: the same sums, to the last digit
        _predict_windows(sets, four_trials, fold, cfg, here)
    for name, source in (("student_kd_output", "teacher"), ("student_self", "student")):
        got = calls[name]["targets"]
        # to float rounding: the fold's teacher is the trained object, here its reloaded file (1e-7 apart)
        assert all(np.allclose(got[k], sets[source][k], rtol=0, atol=1e-6) for k in pool), name
    assert not np.allclose(calls["student_kd_output"]["targets"][pool[0]], calls["student_self"]["targets"][pool[0]])


def _predict_windows(sets, prep, fold, cfg, here):
    w = cfg.student_train
    trials = fold_module._pool(fold_module._setup(prep, fold, cfg, here, True, False, None))
    for name, field in (("teacher", "emb" if cfg.teacher_reads_embeddings else cfg.teacher_input), ("student", "x")):
        model = train_module.load_model(here / f"{name}.pt").model
        sets[name] = train_module.window_predictions(
            model, fold_module.WindowSet(trials, field, window_steps=w.window_steps, hop_steps=w.hop_steps,
                                         crop=cfg.teacher.frame_size, augment=cfg.teacher.frame_augment))


def test_p1_and_no_calibration_leave_the_run_as_it_was(four_trials, tmp_path):
    """With every label and no calibration the hand-overs add students and change nothing else: the
    teacher, student and KD student (files and predictions) are those of the run without them."""
    plain = experiment_config("smoke", "loso", 0)
    assert dataclasses.replace(plain, labelled_fraction=1.0).to_json() == plain.to_json()
    fold = _fold(four_trials, plain)
    run_fold(four_trials, fold, plain, tmp_path / "plain")
    run_fold(four_trials, fold, dataclasses.replace(plain, handover=ALL), tmp_path / "all")
    a, b = (tmp_path / d / "folds" / "fold_00" for d in ("plain", "all"))
    assert all(_digest(a / f"{m}.pt") == _digest(b / f"{m}.pt") for m in ("teacher", "student", "student_kd"))
    pa, pb = np.load(a / "predictions.npz"), np.load(b / "predictions.npz")
    assert set(pa.files) < set(pb.files)
    assert all(np.array_equal(pa[n], pb[n]) for n in pa.files)


def test_shorter_student_budgets_are_the_runs_with_those_budgets(four_trials, tmp_path):
    """``student_budgets``: every student read at a shorter budget E (``<student>_e<E>``) has the weights,
    predictions and scores of the run with ``max_epochs = E``; the teacher and the full-budget students are
    those of the run without the option."""
    from emokd.training.train import load_model

    base = experiment_config("smoke", "loso", 0, labelled_fraction=0.5, handover=("output", "shuffled"))
    long = dataclasses.replace(base, student_train=dataclasses.replace(base.student_train, max_epochs=5,
                                                                       early_stop=5))
    fold = _fold(four_trials, base)
    with_budgets = run_fold(four_trials, fold, dataclasses.replace(long, student_budgets=(2,)), tmp_path / "one")
    without = run_fold(four_trials, fold, long, tmp_path / "plain")
    short = run_fold(four_trials, fold, dataclasses.replace(
        long, student_train=dataclasses.replace(long.student_train, max_epochs=2)), tmp_path / "short")
    one, plain, two = (tmp_path / d / "folds" / "fold_00" for d in ("one", "plain", "short"))
    students = ("student", "student_kd", "student_kd_output", "student_kd_shuffled")
    assert all(_digest(one / f"{m}.pt") == _digest(plain / f"{m}.pt") for m in ("teacher", *students))
    p_one, p_plain, p_two = (np.load(d / "predictions.npz") for d in (one, plain, two))
    assert set(p_one.files) == set(p_plain.files) | {n + "_e2"
                                      for n in p_plain.files if "__student" in n}
    for m in students:
        for k in (n for n in p_two.files if n.endswith(f"__{m}")):
            np.testing.assert_array_equal(p_one[f"{k}_e2"], p_two[k])
            np.testing.assert_array_equal(p_one[k], p_plain[k])
        a, b = load_model(one / f"{m}_e2.pt").model.state_dict(), load_model(two / f"{m}.pt").model.state_dict()
        assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in b), m
        assert with_budgets["metrics"][f"{m}_e2"] == short["metrics"][m]
        assert with_budgets["best_epoch"][f"{m}_e2"] == short["best_epoch"][m]
        assert with_budgets["epochs_run"][f"{m}_e2"] == short["epochs_run"][m] == 2
        assert with_budgets["metrics"][m] == without["metrics"][m]
    assert any(with_budgets["metrics"][f"{m}_e2"] != with_budgets["metrics"][m] for m in students)
