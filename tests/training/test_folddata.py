"""emokd.training.folddata: what a fold reads (trials, normalised partitions, withheld labels) and what it is
scored against untrained (reference points, the latent valence); known answers and plain-numpy recomputations."""

import numpy as np
import pytest

from emokd.core.metrics import METRICS
from emokd.errors import EmokdError
from emokd.io.prepare import load_prepared
from emokd.training.datasets import Fold
from emokd.training.folddata import (REFERENCES, UNTRAINED, fold_inputs, latent_metrics, load_trials,
                                     reference_predictions)


def _trials(n_feat=3, seed=0):
    """Six trials of three subjects, inputs with a subject-specific offset, and a facial input."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(6):
        s, n = i // 2 + 1, 20 + 5 * i
        out[f"S{s}_T{i}"] = {"key": f"S{s}_T{i}", "subject": s,
                             "x": (rng.standard_normal((n, n_feat)) * (i + 1) + 10 * s).astype(np.float32),
                             "face": rng.standard_normal((n, 2)).astype(np.float32) + i,
                             "valence": rng.standard_normal(n).astype(np.float32)}
    return out


FOLD = Fold(0, train=("S1_T0", "S1_T1", "S2_T2"), validation=("S2_T3",), test=("S3_T4", "S3_T5"))


def _z(arrays):
    """Per-feature z-scoring statistics over every step of ``arrays``, by hand."""
    x = np.concatenate(arrays).astype(np.float64)
    return x.mean(axis=0), x.std(axis=0)


def test_load_trials_gives_the_band_power_flattened_band_major(smoke_prepared):
    folder = smoke_prepared[0]
    trials = load_trials(folder, frames=False)
    raw = {t["key"]: t for t in load_prepared(folder, frames=False)}
    assert set(trials) == set(raw) and len(trials) == 6
    for k, t in trials.items():
        bp = raw[k]["eeg_bp"]  # (n_steps, n_bands, n_chans)
        assert t["x"].dtype == np.float32 and t["x"].shape == (bp.shape[0], bp.shape[1] * bp.shape[2])
        for b, c in ((0, 0), (1, 0), (2, 31), (5, 7)):  # feature 32 * b + c is band b, channel c
            np.testing.assert_array_equal(t["x"][:, 32 * b + c], bp[:, b, c].astype(np.float32))
        assert t.get("frames") is None
    with_frames = load_trials(folder)
    assert all(t["frames"] is not None and len(t["frames"]) == len(t["valence"]) for t in with_frames.values())


def test_load_trials_of_an_empty_prepared_folder_is_refused(smoke_prepared, tmp_path, monkeypatch):
    import emokd.training.folddata as folddata

    monkeypatch.setattr(folddata, "load_prepared", lambda *a, **k: [])
    with pytest.raises(EmokdError, match="no trials"):
        load_trials(tmp_path)


def test_train_normalisation_uses_the_training_pool_only():
    trials = _trials()
    inputs = fold_inputs(trials, FOLD)
    parts, norm = inputs.parts, inputs.normaliser
    assert {k: [t["key"] for t in v] for k, v in parts.items()} == {"train": list(FOLD.train),
                                                                    "validation": list(FOLD.validation),
                                                                    "test": list(FOLD.test)}
    mean, sd = _z([trials[k]["x"] for k in FOLD.train])
    np.testing.assert_allclose(norm.mean, mean)
    np.testing.assert_allclose(norm.std, sd)
    for part in parts.values():
        for t in part:
            np.testing.assert_allclose(t["x"], (trials[t["key"]]["x"] - mean) / sd, rtol=1e-5, atol=1e-5)
            fm, fs = _z([trials[k]["face"] for k in FOLD.train])
            np.testing.assert_allclose(t["face"], (trials[t["key"]]["face"] - fm) / fs, rtol=1e-5, atol=1e-5)
            assert t["x"].dtype == np.float32
    train_x = np.concatenate([t["x"] for t in parts["train"]])
    np.testing.assert_allclose(train_x.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train_x.std(axis=0), 1, atol=1e-5)
    assert abs(np.concatenate([t["x"] for t in parts["test"]]).mean()) > 1  # subject 3 sits elsewhere
    assert trials["S1_T0"]["x"].mean() > 5  # the caller's trials are not changed


def test_subject_and_no_normalisation():
    trials = _trials()
    inputs = fold_inputs(trials, FOLD, normalisation="subject", face_normalisation="none")
    parts, per = inputs.parts, inputs.normaliser
    for t in parts["test"]:  # the test subject with its own statistics: a calibration on its recordings
        mean, sd = _z([trials[k]["x"] for k in ("S3_T4", "S3_T5")])
        np.testing.assert_allclose(t["x"], (trials[t["key"]]["x"] - mean) / sd, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(t["face"], trials[t["key"]]["face"])
    assert set(per) == set(FOLD.keys)  # with "subject": one normalising function per trial
    parts = fold_inputs(trials, FOLD, normalisation="none").parts
    np.testing.assert_array_equal(parts["validation"][0]["x"], trials["S2_T3"]["x"])


def test_withheld_labels_are_nan_and_the_pool_includes_the_unlabelled_trials():
    trials = _trials()
    fold = Fold(0, train=("S1_T0",), validation=("S2_T3",), test=("S3_T4", "S3_T5"), unlabelled=("S1_T1", "S2_T2"))
    inputs = fold_inputs(trials, fold)
    parts, norm = inputs.parts, inputs.normaliser
    assert [t["key"] for t in parts["unlabelled"]] == ["S1_T1", "S2_T2"]
    for t in parts["unlabelled"]:
        assert t["labelled"] is False and len(t["valence"]) == len(trials[t["key"]]["valence"])
        assert np.isnan(t["valence"]).all()
    assert not np.isnan(trials["S1_T1"]["valence"]).any()  # withheld in the fold's copy only
    mean, _ = _z([trials[k]["x"] for k in ("S1_T0", "S1_T1", "S2_T2")])  # inputs of the whole pool
    np.testing.assert_allclose(norm.mean, mean)
    assert "labelled" not in parts["train"][0] and "calibration" not in parts


def test_calibration_trials_alone_stand_for_the_new_person():
    trials = _trials()
    fold = Fold(0, train=("S1_T0", "S1_T1", "S2_T2"), validation=("S2_T3",), test=("S3_T5",),
                calibration=("S3_T4",))
    parts = fold_inputs(trials, fold, normalisation="subject").parts
    mean, sd = _z([trials["S3_T4"]["x"]])  # not the evaluation trial's own statistics
    np.testing.assert_allclose(parts["test"][0]["x"], (trials["S3_T5"]["x"] - mean) / sd, rtol=1e-5, atol=1e-5)
    assert np.isnan(parts["calibration"][0]["valence"]).all() and parts["calibration"][0]["labelled"] is False


def test_reference_predictions_known_answers():
    trials = _trials()
    refs = reference_predictions(trials, FOLD)
    assert tuple(refs) == UNTRAINED and set(REFERENCES) >= set(UNTRAINED)
    steps = np.concatenate([trials[k]["valence"] for k in FOLD.train]).astype(np.float64)
    train_mean = steps.sum() / steps.size  # weighted by steps, not a mean of trial means
    for k in FOLD.test:
        n = len(trials[k]["valence"])
        assert set(refs["ref_zero"]) == set(FOLD.test)
        np.testing.assert_array_equal(refs["ref_zero"][k], np.zeros(n, np.float32))
        np.testing.assert_allclose(refs["ref_train_mean"][k], np.full(n, train_mean), rtol=1e-6)
        np.testing.assert_allclose(refs["ref_trial_mean_oracle"][k], trials[k]["valence"].mean(), rtol=1e-6)
        assert all(refs[r][k].dtype == np.float32 for r in UNTRAINED)
    means = [np.mean(trials[k]["valence"]) for k in FOLD.train]
    assert not np.isclose(train_mean, np.mean(means))  # the trials differ in length: the two differ


def _ccc(y, p):
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    return 2 * np.mean((y - y.mean()) * (p - p.mean())) / (y.var() + p.var() + (y.mean() - p.mean()) ** 2)


def test_latent_metrics_score_against_the_latent_on_the_label_steps():
    rng = np.random.default_rng(2)
    test = {k: {"valence": rng.standard_normal(30), "latent": rng.standard_normal(30)} for k in ("a", "b")}
    preds = {"student": {k: t["latent"] + rng.normal(0, 0.5, 30) for k, t in test.items()}}
    out = latent_metrics(test, preds)
    assert set(out) == {"student"} and set(out["student"]["concatenated"]) == set(METRICS)
    want = _ccc(np.concatenate([test[k]["latent"] for k in "ab"]), np.concatenate([preds["student"][k] for k in "ab"]))
    assert out["student"]["concatenated"]["ccc"] == pytest.approx(want)
    per_trial = np.mean([_ccc(test[k]["latent"], preds["student"][k]) for k in "ab"])
    assert out["student"]["per_trial"]["ccc"] == pytest.approx(per_trial)
    labels = _ccc(np.concatenate([test[k]["valence"] for k in "ab"]), np.concatenate([preds["student"][k] for k in "ab"]))
    assert out["student"]["concatenated"]["ccc"] != pytest.approx(labels)  # the latent, not the labels


def test_latent_metrics_none_on_real_data_and_a_mismatch_refused():
    test = {"a": {"valence": np.zeros(5), "latent": np.zeros(5)}, "b": {"valence": np.zeros(5), "latent": None}}
    assert latent_metrics(test, {"student": {"a": np.zeros(5), "b": np.zeros(5)}}) is None
    test["b"]["latent"] = np.zeros(4)
    with pytest.raises(EmokdError, match="trial b: latent valence has shape"):
        latent_metrics(test, {"student": {"a": np.zeros(5), "b": np.zeros(5)}})
