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


# ------------------------------------------------------------------ a run's controls (issue 34)


def _release_like(seed=0, subjects=(1, 2, 3), per_subject=(3, 1, 4)):
    """Trials shaped like the feature release's (128 EEG columns, labels of several lengths), and one
    session without labels."""
    rng = np.random.default_rng(seed)
    out = []
    for s, n in zip(subjects, per_subject):
        for i in range(n):
            steps = int(rng.integers(20, 60))
            out.append({"key": f"P{s:02d}_T{i}", "subject": s, "trial_no": i, "eeg": rng.standard_normal(
                (steps, 128)).astype(np.float32), "face": rng.standard_normal((steps, 5)).astype(np.float32),
                "valence": rng.standard_normal(steps).astype(np.float32)})
    return out


def _config(**fields):
    from emokd.core.config import experiment_config, on_feature_release

    return on_feature_release(experiment_config("smoke", **fields))


def test_a_selection_gives_the_student_exactly_those_columns_of_prepared_data(smoke_prepared):
    """Prepared data (6 bands x 32 channels, band-major): the student's input is the plain numpy selection
    of the loaded trials' columns, bands and channels in the data's order; nothing else of a trial changes."""
    from emokd.core.config import experiment_config
    from emokd.core.constants import EEG_CHANNELS
    from emokd.training.folddata import run_trials

    folder = smoke_prepared[0]
    raw = load_trials(folder, frames=False, unlabelled=True)
    cfg = experiment_config("smoke", eeg_bands=("gamma", "theta"), drop_channels=("T8", "Fp1"))
    assert cfg.eeg_bands == ("theta", "gamma") and cfg.drop_channels == ("Fp1", "T8")  # the data's order
    trials = run_trials(folder, cfg, frames=False)
    keep = np.array([c not in ("Fp1", "T8") for c in EEG_CHANNELS])
    for k, t in trials.items():
        bp = raw[k]["x"].reshape(len(raw[k]["x"]), 6, 32)  # band-major: (steps, band, channel)
        np.testing.assert_array_equal(t["x"], bp[:, [1, 5]][:, :, keep].reshape(len(bp), -1))
        assert t["x"].shape[1] == cfg.student.n_inputs == 2 * 30
        np.testing.assert_array_equal(t["valence"], raw[k]["valence"])
        assert set(t) == set(raw[k])
    default = experiment_config("smoke")
    plain = run_trials(folder, default, frames=False)  # no control: load_trials' trials as they are
    assert all(np.array_equal(plain[k]["x"], raw[k]["x"]) and np.array_equal(plain[k]["valence"], raw[k]["valence"])
               for k in raw)


def test_a_selection_on_the_feature_release_and_data_of_another_width(monkeypatch, tmp_path):
    """The release (4 bands x 32 channels): the selection picks its columns; inputs of another width than the
    data format's are refused in one line naming the selection."""
    from emokd.training import folddata

    release = _release_like()
    monkeypatch.setattr(folddata, "load_feature_release", lambda d: [dict(t) for t in release])
    cfg = _config(eeg_bands=("beta", "gamma"), drop_channels=("Fp1", "Fp2", "F7", "F8", "T7", "T8"))
    assert cfg.data_format == "features" and cfg.student.n_inputs == 2 * 26
    trials = folddata.run_trials(tmp_path, cfg)
    from emokd.core.constants import EEG_CHANNELS

    keep = np.array([c not in ("Fp1", "Fp2", "F7", "F8", "T7", "T8") for c in EEG_CHANNELS])
    for t in release:
        want = t["eeg"].reshape(len(t["eeg"]), 4, 32)[:, 2:][:, :, keep].reshape(len(t["eeg"]), -1)
        np.testing.assert_array_equal(trials[t["key"]]["x"], want)
    assert _config().student.n_inputs == 128  # every column: what the release ran with before
    narrow = [dict(t, eeg=t["eeg"][:, :64]) for t in release]
    monkeypatch.setattr(folddata, "load_feature_release", lambda d: narrow)
    with pytest.raises(EmokdError, match=r"have \[64\] columns, not the 128 .*eeg_bands=\('beta', 'gamma'\)"):
        folddata.run_trials(tmp_path, cfg)


def _plain_permutation(trials, seed):
    """The permutation by a plain loop, written again here: per subject (ascending), its labelled trials by
    key, one permutation from default_rng([seed, 34]); trial i gets trial order[i]'s trace on its own length."""
    rng = np.random.default_rng([seed, 34])
    out = {}
    for s in sorted({t["subject"] for t in trials.values()}):
        keys = sorted(k for k, t in trials.items() if t["subject"] == s and t.get("labelled", True))
        order = rng.permutation(len(keys))
        for i, k in enumerate(keys):
            donor = np.asarray(trials[keys[order[i]]]["valence"], float)
            n = len(trials[k]["valence"])
            out[k] = np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(donor)), donor).astype(np.float32)
    return out


def test_permuted_labels_stay_within_each_subject():
    """Every subject keeps the multiset of its traces (each receiving trial gets one donor's trace resampled onto
    its length, each donor once); no trace crosses subjects; the seed decides, another seed differs; the result
    is the plain loop's; inputs, latent traces and trials without labels are untouched."""
    from emokd.training.folddata import permute_trial_labels

    trials = {t["key"]: t for t in _release_like(1, subjects=(4, 2, 9, 5), per_subject=(5, 1, 4, 3))}
    trials["P02_U"] = {"key": "P02_U", "subject": 2, "valence": np.full(30, np.nan, np.float32), "labelled": False,
                       "x": np.zeros((30, 3), np.float32)}
    for t in trials.values():
        t["latent"] = np.arange(len(t["valence"]), dtype=np.float32)
    before = {k: np.array(t["valence"]) for k, t in trials.items()}
    moved = permute_trial_labels(trials, 7)
    assert set(moved) == set(trials)
    for k, t in trials.items():  # the caller's trials are not changed
        np.testing.assert_array_equal(t["valence"], before[k])
    for s in {t["subject"] for t in trials.values()}:
        keys = [k for k, t in trials.items() if t["subject"] == s and t.get("labelled", True)]
        donors = []
        for k in keys:
            n = len(trials[k]["valence"])
            got = moved[k]["valence"]
            assert got.dtype == np.float32 and got.shape == (n,)
            match = [d for d in keys if np.array_equal(got, np.interp(
                np.linspace(0, 1, n), np.linspace(0, 1, len(before[d])), before[d].astype(float)).astype(np.float32))]
            assert match, f"{k} received no trace of subject {s}"
            donors.append(match[0])
        assert sorted(donors) == sorted(keys)  # each of the subject's traces once
    for k, t in moved.items():  # inputs, faces, latent traces: the very same arrays
        assert set(t) == set(trials[k]) and all(t[f] is trials[k][f] for f in t if f != "valence")
    assert np.isnan(moved["P02_U"]["valence"]).all() and moved["P02_U"]["labelled"] is False
    plain = _plain_permutation(trials, 7)
    assert all(np.array_equal(moved[k]["valence"], plain[k]) for k in plain)
    again = permute_trial_labels(trials, 7)
    assert all(np.array_equal(again[k]["valence"], moved[k]["valence"]) for k in plain)
    other = permute_trial_labels(trials, 8)
    assert any(not np.array_equal(other[k]["valence"], moved[k]["valence"]) for k in plain)
    assert any(not np.array_equal(moved[k]["valence"], before[k]) for k in plain)  # labels did move


def test_permuted_labels_through_run_trials_and_where_nothing_can_move(monkeypatch, tmp_path):
    from emokd.training import folddata

    release = _release_like(2)
    monkeypatch.setattr(folddata, "load_feature_release", lambda d: [dict(t) for t in release])
    trials = folddata.run_trials(tmp_path, _config(permute_labels=3))
    plain = _plain_permutation({t["key"]: t for t in release}, 3)
    assert all(np.array_equal(trials[k]["valence"], plain[k]) for k in plain)
    single = [t for t in release if t["subject"] == 2] + [dict(t, subject=10 + i) for i, t in enumerate(release)
                                                          if t["subject"] != 2]
    monkeypatch.setattr(folddata, "load_feature_release", lambda d: single)  # one labelled trial per subject
    with pytest.raises(EmokdError, match="permute_labels=3: no subject has two labelled trials"):
        folddata.run_trials(tmp_path, _config(permute_labels=3))
