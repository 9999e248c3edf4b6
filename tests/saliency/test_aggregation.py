"""emokd.saliency.aggregation: per-trial maps, their means over trials, subjects, folds and states, and the
scores against a planted truth; known answers, plain loops and scipy."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from emokd.errors import EmokdError
from emokd.saliency.aggregation import (aggregate, data_reference, feature_correlation, ideal_ranking_spearman,
                                        mean_normalised_map, normalise, state_masks, to_band_channel, to_lists,
                                        mass_by_relation, trial_maps, truth_auc)

F = 192


def test_band_major_features_to_band_channel():
    v = np.arange(2 * F).reshape(2, F)
    m = to_band_channel(v)
    assert m.shape == (2, 6, 32)
    for b, c in ((0, 0), (0, 31), (1, 0), (5, 17)):
        assert m[1, b, c] == v[1, 32 * b + c]
    assert to_band_channel(np.zeros(128)).shape == (4, 32)  # the release: four bands
    with pytest.raises(EmokdError, match="not n_bands x 32"):
        to_band_channel(np.zeros(100))


def test_normalise_and_the_mean_of_maps():
    np.testing.assert_allclose(normalise([1.0, 3.0]), [0.25, 0.75])
    assert normalise(np.zeros(4)).tolist() == [0.0] * 4  # a model that ignores its input: zero, not nan
    maps = [np.array([1.0, 0.0]), None, np.array([0.0, 3.0])]
    np.testing.assert_allclose(mean_normalised_map(maps), [0.25, 0.75])  # the mean (0.5, 1.5), then sum 1
    assert mean_normalised_map([None, None]) is None
    assert to_lists(None) is None and to_lists(np.array([1 / 3, 2.0])) == [0.33333333, 2.0]


def test_trial_maps_against_a_plain_loop():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((50, 8))
    y = rng.standard_normal(50)
    med = sorted(y)[25] / 2 + sorted(y)[24] / 2
    maps = trial_maps(a, y)
    for state, keep in (("all", [True] * 50), ("high", [v > med for v in y]), ("low", [v < med for v in y])):
        rows = [r for r, k in zip(a, keep) if k]
        mean = [sum(abs(r[j]) for r in rows) / len(rows) for j in range(8)]
        np.testing.assert_allclose(maps[state], np.array(mean) / sum(mean), rtol=1e-12)
    assert state_masks([2.0, 0, 1])["high"].tolist() == [True, False, False]
    flat = trial_maps(a, np.ones(50))  # no step above or below the median
    assert flat["high"] is None and flat["low"] is None and flat["all"].sum() == pytest.approx(1.0)


def _records(rng, n_trials=6):
    out = []
    for i in range(n_trials):
        maps = {s: normalise(rng.uniform(size=F)) for s in ("all", "high", "low")}
        out.append({"fold": i % 3, "subject": 10 + i % 2, "maps": maps})
    return out


def test_aggregate_is_the_plain_mean_of_each_group():
    rng = np.random.default_rng(7)
    rec = _records(rng)
    truth = np.zeros((6, 32))
    truth[4:, :] = 1.0  # beta and gamma planted
    out = aggregate(rec, truth)

    def mean(rows, state="all"):
        m = np.mean([r["maps"][state] for r in rows], axis=0)
        return (m / m.sum()).reshape(6, 32)

    overall = mean(rec)
    np.testing.assert_allclose(out["map"], overall, atol=1e-8)
    np.testing.assert_allclose(out["band_importance"], overall.sum(axis=1), atol=1e-8)
    np.testing.assert_allclose(out["channel_importance"], overall.sum(axis=0), atol=1e-8)
    assert set(out["by_subject"]) == {"10", "11"}
    np.testing.assert_allclose(out["by_subject"]["11"], mean([r for r in rec if r["subject"] == 11]), atol=1e-8)
    np.testing.assert_allclose(out["by_state"]["low"], mean(rec, "low"), atol=1e-8)
    assert [f["fold"] for f in out["by_fold"]] == [0, 1, 2]
    assert out["by_fold"][1]["subjects"] == [10, 11]
    np.testing.assert_allclose(out["by_fold"][2]["map"], mean([r for r in rec if r["fold"] == 2]), atol=1e-8)
    assert out["truth_spearman"] == pytest.approx(spearmanr(overall.ravel(), truth.ravel()).statistic, abs=1e-6)
    assert out["truth_auc"] == pytest.approx(_auc_by_loop(overall, truth), abs=1e-6)
    bare = aggregate(rec)  # no truth: no scores
    assert bare["truth_spearman"] is None and bare["truth_auc"] is None and bare["map"] == out["map"]


def test_a_constant_map_has_an_undefined_spearman():
    one = {"all": np.full(F, 1 / F), "high": None, "low": None}
    out = aggregate([{"fold": 0, "subject": 1, "maps": one}], np.arange(F, dtype=float).reshape(6, 32))
    assert out["truth_spearman"] is None and out["truth_auc"] == 0.5
    assert out["by_state"] == {"high": None, "low": None}


def test_aggregate_means_of_per_trial_maps():
    one = np.eye(F)
    rec = [{"fold": 0, "subject": 1, "maps": {"all": one[0], "high": one[0], "low": one[1]}},
           {"fold": 1, "subject": 2, "maps": {"all": one[33], "high": None, "low": one[1]}}]
    truth = to_band_channel(one[0] + 0.5 * one[33])
    out = aggregate(rec, truth)
    m = np.array(out["map"])
    assert m[0, 0] == pytest.approx(0.5) and m[1, 1] == pytest.approx(0.5) and m.sum() == pytest.approx(1)
    assert out["band_importance"][:2] == pytest.approx([0.5, 0.5])
    assert np.array(out["by_subject"]["2"])[1, 1] == pytest.approx(1.0)
    assert np.array(out["by_state"]["high"])[0, 0] == pytest.approx(1.0)  # the trial without high steps is left out
    assert out["truth_spearman"] == pytest.approx(spearmanr(m.ravel(), truth.ravel()).statistic)
    assert [f["fold"] for f in out["by_fold"]] == [0, 1] and out["by_fold"][0]["truth_spearman"] is not None


def test_data_reference_is_the_mean_of_the_normalised_fold_maps():
    rng = np.random.default_rng(9)
    fold_maps = [(k, normalise(rng.uniform(size=(6, 32)))) for k in (0, 3)]
    truth = np.zeros((6, 32))
    truth[2, :9] = 1.0
    ref = data_reference(fold_maps, truth)
    overall = (fold_maps[0][1] + fold_maps[1][1]) / 2
    np.testing.assert_allclose(ref["map"], overall / overall.sum(), atol=1e-8)
    np.testing.assert_allclose(ref["band_importance"], overall.sum(axis=1) / overall.sum(), atol=1e-8)
    assert [f["fold"] for f in ref["by_fold"]] == [0, 3]
    assert ref["by_fold"][1]["truth_auc"] == pytest.approx(_auc_by_loop(fold_maps[1][1], truth), abs=1e-6)
    assert data_reference(fold_maps, None)["truth_spearman"] is None


def _auc_by_loop(m, truth):
    m, truth = np.ravel(m), np.ravel(truth)
    pos, neg = m[truth > 0], m[truth == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def test_truth_auc_known_answers_and_a_plain_loop():
    truth = np.zeros((6, 32))
    truth[2, :9] = np.linspace(1, 0.6, 9)  # a sparse pattern: 9 planted cells, 183 tied at 0
    rng = np.random.default_rng(5)
    perfect = np.where(truth > 0, 1 + truth, rng.uniform(size=truth.shape))
    assert truth_auc(perfect, truth) == 1.0 and truth_auc(-perfect, truth) == 0.0
    assert truth_auc(np.ones_like(truth), truth) == 0.5  # all tied: chance
    assert spearmanr(perfect.ravel(), truth.ravel()).statistic < 0.45  # what the ties do to Spearman
    noisy = perfect + rng.normal(0, 0.4, truth.shape)
    noisy[0, :5] = noisy[2, 0]  # some ties across the two groups
    assert truth_auc(noisy, truth) == pytest.approx(_auc_by_loop(noisy, truth), abs=1e-12)
    assert truth_auc(noisy, np.zeros_like(truth)) is None and truth_auc(noisy, np.ones_like(truth)) is None


def test_ideal_ranking_spearman_known_answers():
    rng = np.random.default_rng(1)
    dense = rng.uniform(0.1, 1, (6, 32))  # every feature planted: a perfect ranking is the truth's own order
    assert ideal_ranking_spearman(dense, rng, n=5) == pytest.approx(1.0)
    sparse = np.zeros((6, 32))
    sparse[2, :9] = np.linspace(1, 0.6, 9)
    cap = ideal_ranking_spearman(sparse, rng)
    assert 0.2 < cap < 0.45  # the ties at 0 cap it far below 1 (a tied map would score 1)
    assert spearmanr(np.where(sparse > 0, 1 + sparse, 0.0).ravel(), sparse.ravel()).statistic == pytest.approx(1.0)


def test_feature_correlation_against_scipy():
    rng = np.random.default_rng(3)
    y = rng.standard_normal(200)
    x = np.column_stack([y + rng.standard_normal(200), -2 * y + 5, rng.standard_normal(200), np.full(200, 7.0)])
    r = feature_correlation(x, y)
    expected = [abs(pearsonr(x[:, j], y).statistic) for j in range(3)]
    np.testing.assert_allclose(r[:3], expected, rtol=1e-12)
    assert r[1] == pytest.approx(1.0) and r[3] == 0.0  # a constant feature has no r: 0, not NaN
    assert np.all(feature_correlation(x, np.ones(200)) == 0.0)
    with pytest.raises(EmokdError, match=r"got \(200, 4\) and \(199,\)"):
        feature_correlation(x, y[:-1])


def test_a_suppressor_gets_gradient_but_no_pattern():
    """Haufe et al. 2014 on a known answer: x1 = s + n, x2 = n (noise only), the best read-out is
    x1 - x2 = s. Its gradient (the filter) weighs both features equally; its activation pattern,
    the |r| of each feature with the model's output, puts (almost) everything on x1."""
    import torch

    from emokd.saliency.attribution import gradient, model_trace

    rng = np.random.default_rng(3)
    s_, n_ = rng.standard_normal(400), 2.0 * rng.standard_normal(400)
    s_, n_ = s_ - s_.mean(), n_ - n_.mean()
    n_ -= (n_ @ s_) / (s_ @ s_) * s_  # the noise uncorrelated with the signal, exactly
    x = np.zeros((400, 192), np.float32)
    x[:, 0], x[:, 1] = s_ + n_, n_
    w = np.zeros(192, np.float32)
    w[0], w[1] = 1.0, -1.0

    class Linear(torch.nn.Module):
        def forward(self, v):
            return (v @ torch.from_numpy(w))[..., None], v

    model = Linear()
    g = np.abs(gradient(model, x)).mean(axis=0)
    assert g[0] == pytest.approx(g[1]) and g[0] > 0  # the filter: the suppressor x2 weighs as much as x1
    with torch.no_grad():
        out = model_trace(model, torch.from_numpy(x)[None])[0].double().numpy()
    np.testing.assert_allclose(out, s_, atol=1e-4)  # the read-out recovers s
    pattern = normalise(feature_correlation(x, out))
    assert pattern[0] > 0.999 and pattern[1] < 1e-3  # the pattern: x2 does not vary with the output
    # an independent computation: numpy's correlation coefficients of the features with the output
    r = [abs(np.corrcoef(x[:, j].astype(np.float64), out)[0, 1]) for j in (0, 1)]
    np.testing.assert_allclose(pattern[:2], np.array(r) / sum(r), atol=1e-6)


def test_mass_by_relation_known_answer():
    """The four shares of a map, on a hand-made truth (two bands at two electrodes)."""
    truth = np.zeros((6, 32))
    truth[[1, 2], 0] = 1.0
    truth[[1, 2], 5] = 0.5
    m = np.zeros((6, 32))
    m[1, 0] = 4.0  # planted
    m[4, 5] = 3.0  # a planted electrode, another band
    m[2, 9] = 2.0  # a planted band, another electrode
    m[5, 30] = 1.0  # the rest
    shares = mass_by_relation(m, truth)
    assert shares == pytest.approx({"planted": 0.4, "planted_electrodes_other_bands": 0.3,
                                    "planted_bands_other_electrodes": 0.2, "rest": 0.1})
    with pytest.raises(EmokdError, match="shape"):
        mass_by_relation(m, truth[:, :5])
