"""The scarce-labels playground's linear model: a weighted ridge as scikit-learn fits it, and the
regime's bookkeeping (nested labelled sets, no test trial labelled, every label = no teacher)."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from emokd.teaching import scarce_labels as sl


def _data(seed=0, subjects=4, trials=3, n=20, k_eeg=3, k_face=4):
    rng = np.random.default_rng(seed)
    out = {"trials": {}, "alpha": sl.ALPHA, "weights": list(sl.WEIGHTS), "order": {}, "k_max": trials}
    for s in range(1, subjects + 1):
        keys = [f"P{s}_T{t}" for t in range(trials)]
        out["order"][str(s)] = [keys[i] for i in rng.permutation(trials)]
        for k in keys:
            latent = rng.normal(size=n)
            out["trials"][k] = {"subject": s, "y": latent.tolist(),
                                "eeg": (np.outer(latent, rng.normal(size=k_eeg)) + rng.normal(size=(n, k_eeg))).tolist(),
                                "face": (np.outer(latent, rng.normal(size=k_face)) + 0.3 * rng.normal(size=(n, k_face))).tolist()}
    keys = sorted(out["trials"])
    out["folds"] = [{"test_subject": s, "test": [k for k in keys if out["trials"][k]["subject"] == s],
                     "train": [k for k in keys if out["trials"][k]["subject"] != s]} for s in range(1, subjects + 1)]
    return out


def test_the_weighted_ridge_is_scikit_learns():
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(30, 4)), rng.normal(size=(25, 4))
    y1, y2 = rng.normal(size=30), rng.normal(size=25)
    b = sl._ridge([(x1, y1, 1.0), (x2, y2, 2.5)], alpha=3.0)
    ref = Ridge(alpha=3.0).fit(np.vstack([x1, x2]), np.concatenate([y1, y2]),
                               sample_weight=np.concatenate([np.ones(30), np.full(25, 2.5)]))
    assert np.allclose(b[:-1], ref.coef_) and np.isclose(b[-1], ref.intercept_)


def test_labelled_trials_are_nested_and_never_the_test_subjects():
    d = _data()
    for fold in d["folds"]:
        prev = set()
        for k in range(1, d["k_max"] + 1):
            lab = set(sl.labelled_keys(d, fold, k))
            assert prev <= lab and lab <= set(fold["train"])
            assert all(sum(d["trials"][key]["subject"] == s for key in lab) == k
                       for s in {d["trials"][key]["subject"] for key in fold["train"]})
            prev = lab


def test_with_every_label_or_no_weight_the_teacher_changes_nothing():
    d = _data()
    full = sl.linear_distillation(d, d["k_max"], 4.0)
    assert full["taught"] == full["student"]
    none = sl.linear_distillation(d, 1, 0.0)
    assert none["taught"] == none["student"]
    some = sl.linear_distillation(d, 1, 1.0)
    assert some["taught"] != some["student"] and some["teacher"] == none["teacher"]


def test_the_fragment_keeps_the_playgrounds_contract():
    d = _data()
    h = sl.scarce_labels_html(d, k=2, w=0.5, uid="t")
    assert 'data-playground="scarcelabels"' in h and 'data-selection="2|0.5"' in h
    assert h.count('<select data-control="') == 2 and "__ROOT_ID__" not in h
    shown = sl.linear_distillation(d, 2, 0.5)
    assert f'data-metric="taught-per_trial">{shown["taught"]["per_trial"]:.3f}<' in h
    with pytest.raises(Exception, match="w one of"):
        sl.scarce_labels_html(d, k=2, w=0.3)
