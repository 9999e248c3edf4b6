"""Ridge references: the closed form against scikit-learn called directly, alpha chosen on validation."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from emokd.training.datasets import make_folds
from emokd.errors import EmokdError
from emokd.training.folddata import fold_inputs
from emokd.evaluation.linear import ALPHAS, RidgePath, frame_features, ridge_fit_predict, ridge_references
from emokd.core.metrics import ccc


def test_ridge_path_equals_sklearn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12)) * rng.uniform(0.1, 20, 12) + rng.normal(size=12) * 5
    x[:, 5] = x[:, 4] * 2  # collinear columns: the penalty keeps it well posed
    y = x @ rng.normal(size=12) + rng.normal(size=400) + 3
    path = RidgePath(x, y)
    x_new = rng.normal(size=(50, 12))
    for alpha in (1e-2, 1.0, 1e3, 1e6):
        ref = Ridge(alpha=alpha).fit(x, y)
        w, b = path.coef(alpha)
        np.testing.assert_allclose(w, ref.coef_, rtol=1e-7, atol=1e-9)
        assert b == pytest.approx(ref.intercept_, rel=1e-7, abs=1e-9)
        np.testing.assert_allclose(path.predict(x_new, alpha), ref.predict(x_new), rtol=1e-7, atol=1e-8)


def _trials(seed=0, n_subjects=4, per=3, n_feat=5):
    rng = np.random.default_rng(seed)
    out = {}
    for s in range(1, n_subjects + 1):
        for t in range(1, per + 1):
            k = f"P{s:02d}_T{t:02d}"
            x = rng.normal(size=(40 + 7 * t, n_feat)) + s
            face = rng.normal(size=(len(x), 3))
            out[k] = {"key": k, "subject": s, "x": x.astype(np.float32), "face": face.astype(np.float32),
                      "valence": (0.3 * x[:, 0] - 0.2 * face[:, 1] + rng.normal(size=len(x))).astype(np.float32)}
    return out


@pytest.mark.parametrize("how", ["none", "train", "subject"])
def test_ridge_references_against_sklearn_by_hand(how):
    """Stack the steps by hand, fit scikit-learn's Ridge per alpha, pick by validation CCC: same predictions."""
    trials = _trials()
    fold = make_folds({k: t["subject"] for k, t in trials.items()}, "loso", seed=0)[1]
    alphas = (0.1, 10.0, 1e3, 1e5)
    fit = ridge_references(trials, fold, normalisation=how, face_normalisation=how, alphas=alphas)
    preds, info = fit.predictions, fit.info
    parts = fold_inputs(trials, fold, normalisation=how, face_normalisation=how).parts
    for name, field in (("ref_ridge_student", "x"), ("ref_ridge_teacher", "face")):
        xs = {p: np.concatenate([t[field] for t in parts[p]]).astype(np.float64) for p in parts}
        ys = {p: np.concatenate([t["valence"] for t in parts[p]]).astype(np.float64) for p in parts}
        scores = [ccc(ys["validation"], Ridge(alpha=a).fit(xs["train"], ys["train"]).predict(xs["validation"]))
                  for a in alphas]
        best = alphas[int(np.argmax(scores))]
        assert info[name]["alpha"] == best
        assert info[name]["val_ccc"] == pytest.approx(max(scores), rel=1e-6)
        model = Ridge(alpha=best).fit(xs["train"], ys["train"])
        assert sorted(preds[name]) == sorted(fold.test)
        for t in parts["test"]:
            np.testing.assert_allclose(preds[name][t["key"]], model.predict(t[field].astype(np.float64)),
                                       rtol=1e-5, atol=1e-5)


def test_ridge_never_reads_test_labels():
    trials = _trials()
    fold = make_folds({k: t["subject"] for k, t in trials.items()}, "loso", seed=0)[0]
    a = ridge_references(trials, fold).predictions
    relabelled = {k: dict(t, valence=t["valence"] * 0 + 5) if k in fold.test else t for k, t in trials.items()}
    b = ridge_references(relabelled, fold).predictions
    for name in a:
        for k in fold.test:
            np.testing.assert_array_equal(a[name][k], b[name][k])


@pytest.mark.slow
def test_frame_features_and_a_frame_teacher_reference():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(7, 4, 48, 48), dtype=np.uint8)
    px = frame_features(frames, crop=40, pool=2)
    assert px.shape == (7, 400)
    # by a plain loop: middle frame (k // 2 = 2), rows/cols 4..43, 2x2 means of the scaled pixels
    step, i, j = 3, 5, 11
    block = frames[step, 2, 4 + 2 * i:4 + 2 * i + 2, 4 + 2 * j:4 + 2 * j + 2].astype(np.float64)
    assert px[step, 20 * i + j] == pytest.approx(((block / 255 - 0.5) / 0.5).mean(), abs=1e-6)
    trials = _trials()
    for t in trials.values():
        del t["face"]
        t["frames"] = rng.integers(0, 256, size=(len(t["valence"]), 2, 48, 48), dtype=np.uint8)
    fold = make_folds({k: t["subject"] for k, t in trials.items()}, "loso", seed=0)[0]
    fit = ridge_references(trials, fold)
    preds, info = fit.predictions, fit.info
    assert set(preds) == {"ref_ridge_student", "ref_ridge_teacher"} and info["ref_ridge_teacher"]["alpha"] in ALPHAS
    # a pixel cache shared by the folds: each trial's features computed once, the same references
    cache, folds = {}, make_folds({k: t["subject"] for k, t in trials.items()}, "loso", seed=0)
    for f in folds:
        c, p = ridge_references(trials, f, pixels=cache), ridge_references(trials, f)
        cached, cinfo, plain, pinfo = c.predictions, c.info, p.predictions, p.info
        assert cinfo == pinfo
        for name in plain:
            for k in f.test:
                np.testing.assert_array_equal(cached[name][k], plain[name][k])
    assert sorted(cache) == sorted(trials)
    for k, t in trials.items():
        np.testing.assert_array_equal(cache[k], frame_features(t["frames"]))
    with pytest.raises(EmokdError, match="alphas"):
        ridge_fit_predict({}, "x", alphas=())
