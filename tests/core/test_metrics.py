"""CCC, PCC and RMSE: known answers and independent implementations."""

import audmetric
import numpy as np
import pytest
from scipy import stats

from emokd.errors import EmokdError
from emokd.core.metrics import ccc, fold_metrics, pcc, rmse, score


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.normal(size=300)) * 0.01
    p = 0.6 * t + 0.02 + rng.normal(scale=0.03, size=300)
    return t, p


def test_ccc_known_answers():
    x = np.sin(np.linspace(0, 10, 500))
    assert ccc(x, x) == pytest.approx(1.0)
    x0 = x - x.mean()
    assert ccc(x0, -x0) == pytest.approx(-1.0)
    # scaled copy: 2a / (1 + a^2) when the mean is 0
    assert ccc(x0, 0.5 * x0) == pytest.approx(2 * 0.5 / (1 + 0.25))
    # shifted copy: 2 var / (2 var + c^2)
    v = x.var()
    assert ccc(x, x + 0.3) == pytest.approx(2 * v / (2 * v + 0.09))
    # a constant prediction has no covariance
    assert ccc(x, np.full_like(x, 0.2)) == 0.0


def test_ccc_matches_independent_implementations(pair):
    t, p = pair
    ours = ccc(t, p)
    # audmetric implements Lin's CCC independently (population moments, as Lin 1989)
    assert ours == pytest.approx(audmetric.concordance_cc(t, p), rel=1e-9)
    # and a plain loop over the definition
    n = len(t)
    mt, mp = sum(t) / n, sum(p) / n
    cov = sum((a - mt) * (b - mp) for a, b in zip(t, p)) / n
    vt = sum((a - mt) ** 2 for a in t) / n
    vp = sum((b - mp) ** 2 for b in p) / n
    assert ours == pytest.approx(2 * cov / (vt + vp + (mt - mp) ** 2), rel=1e-12)


def test_pcc_and_rmse_match_scipy_and_a_loop(pair):
    t, p = pair
    assert pcc(t, p) == pytest.approx(stats.pearsonr(t, p).statistic, rel=1e-12)
    assert rmse(t, p) == pytest.approx(np.sqrt(sum((a - b) ** 2 for a, b in zip(t, p)) / len(t)), rel=1e-12)
    assert np.isnan(pcc(t, np.ones_like(t)))


def test_fold_metrics_concatenated_and_per_trial(pair):
    t, p = pair
    traces = {"A": (t[:100], p[:100]), "B": (t[100:], p[100:])}
    m = fold_metrics(traces)
    assert m["concatenated"] == pytest.approx(score(t, p))
    for name in ("rmse", "pcc", "ccc"):
        expected = np.mean([score(*traces[k])[name] for k in traces])
        assert m["per_trial"][name] == pytest.approx(expected)
    assert m["per_trial"]["n_trials"] == 2


def test_per_trial_mean_oracle_rewards_concatenation():
    """Predicting each trial's mean scores well concatenated, 0 per trial."""
    rng = np.random.default_rng(1)
    traces = {}
    for k in range(6):
        y = rng.normal(scale=0.1) + 0.02 * np.sin(np.linspace(0, 6, 200) + k)
        traces[str(k)] = (y, np.full_like(y, y.mean()))
    m = fold_metrics(traces)
    assert m["concatenated"]["ccc"] > 0.9
    assert m["per_trial"]["ccc"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("t, p, match", [
    ([1, 2, 3], [1, 2], "3 values"),
    ([1.0], [1.0], "at least 2"),
    ([1, np.nan], [1, 2], "NaN"),
])
def test_bad_input(t, p, match):
    with pytest.raises(EmokdError, match=match):
        ccc(t, p)


def test_a_constant_prediction_has_no_correlation_despite_rounding():
    """A flat prediction at the trace's own mean: the mean computed again from the flat trace differs
    from its value by a rounding error, which must not leave a spurious covariance (PCC NaN, CCC
    exactly 0; it did for 18 of the 32 book trials)."""
    rng = np.random.default_rng(0)
    for n in (145, 300, 448, 1000, 4096):
        y = np.cumsum(rng.normal(size=n)) * 0.01
        flat = np.full_like(y, y.mean())
        s = score(y, flat)
        assert np.isnan(s["pcc"]) and s["ccc"] == 0.0, (n, s)


@pytest.mark.parametrize("f", [ccc, pcc, rmse])
def test_a_transposed_pair_is_refused_naming_both_shapes(f):
    """(200, 2) against (2, 200): the same 400 values in another order were flattened and paired silently."""
    rng = np.random.default_rng(0)
    t = rng.normal(size=(200, 2))
    with pytest.raises(EmokdError, match=r"y_true has shape \(200, 2\).*y_pred has shape \(2, 200\)"):
        f(t, t.T.copy())
    # one trace with a singleton axis is still the same trace; the value is numpy's
    y = t[:, 0]
    assert rmse(y[:, None], y[None, :] + 1.0) == pytest.approx(1.0)
    assert pcc(y[:, None], 2 * y) == pytest.approx(np.corrcoef(y, 2 * y)[0, 1])
