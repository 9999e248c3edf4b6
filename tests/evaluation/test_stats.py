"""emokd.evaluation.stats: known answers computed by hand in the test, and independent implementations
(scipy, statsmodels' ttost_paired, multipletests and MixedLM, pandas, ANOVA mean squares, plain loops)."""

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emokd.core.metrics import ccc
from emokd.errors import EmokdError
from emokd.evaluation.stats import (corrected_resampled_t, crossed_mixed_model, holm, paired_tests,
                                    permutation_null, seed_means_t, spearman, summarise, t_interval, tost_paired)


def test_summarise_uses_sample_sd():
    s = summarise([1.0, 2.0, 3.0, 4.0])
    assert s["mean"] == 2.5 and s["n"] == 4
    # sum of squared deviations 5, divided by n - 1 = 3
    assert s["sd"] == pytest.approx(math.sqrt(5 / 3), rel=1e-12)
    assert type(s["mean"]) is float and type(s["n"]) is int


def test_summarise_one_value_has_nan_sd():
    s = summarise([0.4])
    assert s["mean"] == 0.4 and s["n"] == 1 and math.isnan(s["sd"])


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], ["x"]])
def test_summarise_rejects_bad_input(bad):
    with pytest.raises(EmokdError):
        summarise(bad)


def test_t_and_dz_match_hand_formulas():
    a = [0.50, 0.42, 0.61, 0.38, 0.55, 0.47]
    b = [0.45, 0.40, 0.52, 0.39, 0.47, 0.41]
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    r = paired_tests(a, b, names=("student_kd", "student"))
    assert r["t_stat"] == pytest.approx(mean / (sd / math.sqrt(n)), rel=1e-10)
    assert r["effect_size"] == pytest.approx(mean / sd, rel=1e-10)
    assert r["effect_size_name"] == "cohen_dz"
    assert r["mean_diff"] == pytest.approx(mean, rel=1e-12)
    assert r["sd_diff"] == pytest.approx(sd, rel=1e-12)
    assert r["n_folds"] == 6 and r["n_better"] == 5
    assert r["names"] == ["student_kd", "student"]
    assert 0 < r["t_test_p"] < 1 and r["note"] == ""
    # the CI is mean +- t * se; t(0.975, 5) = 2.5706 from tables
    lo, hi = r["ci95"]
    assert lo < mean < hi
    assert (hi - lo) / 2 == pytest.approx(2.570582 * sd / math.sqrt(n), rel=1e-5)


def test_wilcoxon_exact_p_for_five_positive_differences():
    # all 5 differences positive and distinct: of the 2**5 equally likely sign
    # patterns, only all-positive and all-negative are as extreme -> p = 2/32
    a = [1.1, 2.2, 3.3, 4.4, 5.5]
    b = [1.0, 2.0, 3.0, 4.0, 5.0]
    r = paired_tests(a, b)
    assert r["wilcoxon_p"] == pytest.approx(2 / 32, abs=1e-12)
    assert r["wilcoxon_stat"] == 0.0  # sum of negative ranks
    assert r["n_better"] == 5


def test_identical_inputs_give_nan_with_note():
    a = [0.3, 0.5, 0.4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no scipy warnings leak out either
        r = paired_tests(a, list(a))
    for key in ("t_test_p", "t_stat", "wilcoxon_p", "wilcoxon_stat", "effect_size"):
        assert math.isnan(r[key]), key
    assert r["mean_diff"] == 0.0 and r["sd_diff"] == 0.0 and r["n_better"] == 0
    assert "Wilcoxon" in r["note"] and "undefined" in r["note"]


def test_one_fold_gives_nan_with_note():
    r = paired_tests([0.5], [0.4])
    assert math.isnan(r["t_test_p"]) and math.isnan(r["wilcoxon_p"]) and math.isnan(r["ci95"][0])
    assert r["n_folds"] == 1 and r["n_better"] == 1 and "1 fold" in r["note"]


def test_ci_contains_mean_and_result_is_json_safe():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.2, 0.5, size=8)
    a = b + rng.normal(0.03, 0.02, size=8)
    r = paired_tests(a, b)
    lo, hi = r["ci95"]
    assert lo < r["mean_diff"] < hi
    back = json.loads(json.dumps(r))
    assert back == r
    for key, value in r.items():
        assert type(value) in (float, int, str, list), key


def test_constant_differences_are_not_a_huge_effect():
    # 1.1 - 1.0, 1.2 - 1.1, 1.3 - 1.2 differ only by round-off: sd is 0, not 1e-16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = paired_tests([1.1, 1.2, 1.3], [1.0, 1.1, 1.2])
    assert r["sd_diff"] == 0.0 and math.isnan(r["effect_size"]) and math.isnan(r["t_test_p"])
    assert r["mean_diff"] == pytest.approx(0.1) and "undefined" in r["note"]
    assert r["wilcoxon_p"] == pytest.approx(2 / 8)  # 3 tied positive differences


def test_zero_differences_are_noted():
    r = paired_tests([0.5, 0.6, 0.7, 0.8], [0.5, 0.5, 0.5, 0.5])
    assert "zero difference" in r["note"] and not math.isnan(r["wilcoxon_p"])


def test_errors_for_mismatched_lengths_and_nan():
    with pytest.raises(EmokdError, match="length"):
        paired_tests([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(EmokdError, match="student_kd.*non-finite"):
        paired_tests([0.1, float("nan"), 0.3], [0.1, 0.2, 0.3], names=("student_kd", "student"))
    with pytest.raises(EmokdError):
        paired_tests([0.1, 0.2], [0.1, float("inf")])
    with pytest.raises(ValueError):  # EmokdError is a ValueError
        paired_tests([], [])


# ---------------------------------------------------------------------------------------
# the shared pieces: t-interval, Holm, Spearman


def test_t_interval_known_answer_and_df():
    # t(0.975, 4) = 2.776445 from tables
    lo, hi = t_interval(1.0, 2.0, 5)
    assert (hi - lo) / 2 == pytest.approx(2.776445 * 2.0 / math.sqrt(5), rel=1e-6) and lo + hi == pytest.approx(2.0)
    # an estimate with its SE and a fractional df, against scipy's interval of the t distribution
    lo, hi = t_interval(0.3, 0.1, 1, level=0.9, df=7.5)
    assert [lo, hi] == pytest.approx(list(stats.t.interval(0.9, 7.5, loc=0.3, scale=0.1)), rel=1e-12)
    assert all(math.isnan(v) for v in t_interval(0.3, math.nan, 1, df=0))
    with pytest.raises(EmokdError, match="level=1.5"):
        t_interval(0.0, 1.0, 3, level=1.5)


def test_holm_known_answer():
    # p = (0.01, 0.04, 0.03): sorted 0.01 x 3, 0.03 x 2, 0.04 x 1 -> 0.03, 0.06, 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.slow
def test_holm_matches_statsmodels(seed):
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=rng.integers(1, 12)) ** 2
    p[rng.integers(p.size)] = p[0]  # a tie
    adjusted = holm(p)
    assert adjusted == pytest.approx(multipletests(p, method="holm")[1].tolist(), rel=1e-12)
    assert all(type(v) is float for v in adjusted)


def test_holm_nan_stays_nan_and_counts_in_the_family():
    out = holm([0.01, math.nan, 0.02])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.03) and out[2] == pytest.approx(0.04)
    with pytest.raises(EmokdError, match=r"outside \[0, 1\] at index \[1\]"):
        holm([0.2, 1.5])


def test_spearman_matches_pandas_and_flattens_maps():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    b[0] = a[0] * 2  # some rank agreement
    expected = pd.Series(a.ravel()).corr(pd.Series(b.ravel()), method="spearman")
    assert spearman(a, b) == pytest.approx(expected, rel=1e-12)


def test_spearman_undefined_values_and_nan_policy():
    assert math.isnan(spearman([1, 2], [2, 1]))  # fewer than 3 pairs
    assert spearman([1, 1, 1, 1], [1, 2, 3, 4], undefined=None) is None  # constant input
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConstantInputWarning from scipy
        assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))
    a, b = [1, 2, math.nan, 4, 5], [2, 1, 3, 5, 4]
    assert spearman(a, b) == pytest.approx(stats.spearmanr([1, 2, 4, 5], [2, 1, 5, 4]).statistic)  # omitted
    assert spearman(a, b, nan_policy="propagate", undefined=None) is None
    assert math.isnan(spearman([1, math.nan, 3, 4], [1, 2, 3, math.nan]))  # 2 finite pairs left
    with pytest.raises(EmokdError, match="3 values against 2"):
        spearman([1, 2, 3], [1, 2])


# ---------------------------------------------------------------------------------------
# equivalence: TOST


@pytest.mark.parametrize("shift, margin", [(0.0, 0.02), (0.015, 0.02), (0.03, 0.02), (-0.01, 0.05)])
def test_tost_matches_statsmodels(shift, margin):
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(int(abs(shift) * 1000 + 100 * margin))
    b = rng.uniform(0.1, 0.5, size=24)
    a = b + shift + rng.normal(0, 0.028, size=24)
    r = tost_paired(a, b, margin)
    p, (t1, p1, df1), (t2, p2, df2) = ttost_paired(a, b, -margin, margin)
    assert r.p == pytest.approx(p, rel=1e-9)
    assert (r.t_lower, r.p_lower, r.t_upper, r.p_upper) == pytest.approx((t1, p1, t2, p2), rel=1e-9)
    assert r.df == df1 == df2 == 23
    # equivalence <=> the 90 % interval inside (-margin, margin)
    lo, hi = r.ci
    assert r.equivalent == (p < 0.05) == (-margin < lo and hi < margin)
    lo_sm, hi_sm = stats.t.interval(0.90, 23, loc=np.mean(a - b), scale=stats.sem(a - b))
    assert (lo, hi) == pytest.approx((lo_sm, hi_sm), rel=1e-9)
    json.dumps(r.to_json())


def test_tost_shows_equivalence_only_with_power():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, size=200)
    small = noise[:6]
    a_small = 0.5 + 0.05 * (small - small.mean()) / small.std(ddof=1)  # a mean difference of 0, n = 6, sd 0.05
    r_small = tost_paired(a_small, np.full(6, 0.5), 0.02)
    assert not r_small.equivalent and r_small.p > 0.05  # non-significant and not shown equivalent
    a_big = 0.5 + 0.05 * (noise - noise.mean())  # n = 200: se 0.0035
    assert tost_paired(a_big, np.full(200, 0.5), 0.02).equivalent


def test_tost_constant_differences_and_bad_margin():
    r = tost_paired([0.5, 0.6, 0.7], [0.49, 0.59, 0.69], 0.02)
    assert r.sd_diff == 0 and r.equivalent and r.p == 0.0 and "limits" in r.note
    assert not tost_paired([0.5, 0.6, 0.7], [0.45, 0.55, 0.65], 0.02).equivalent
    for bad in (0.0, -0.1, math.nan):
        with pytest.raises(EmokdError, match="margin"):
            tost_paired([0.1, 0.2], [0.1, 0.3], bad)
    with pytest.raises(EmokdError, match="alpha"):
        tost_paired([0.1, 0.2], [0.1, 0.3], 0.1, alpha=0.6)


# ---------------------------------------------------------------------------------------
# the corrected resampled t


def test_corrected_resampled_t_hand_formula():
    a = [0.31, 0.29, 0.35, 0.30, 0.33, 0.28, 0.36, 0.32, 0.30, 0.34]
    b = [0.29, 0.30, 0.31, 0.27, 0.30, 0.28, 0.31, 0.30, 0.29, 0.30]
    n_train, n_test = 216, 24  # 10 folds of 240 trials
    d = [x - y for x, y in zip(a, b)]
    k = len(d)
    mean = sum(d) / k
    var = sum((x - mean) ** 2 for x in d) / (k - 1)
    t = mean / math.sqrt((1 / k + n_test / n_train) * var)
    p = 2 * stats.t.sf(abs(t), k - 1)
    r = corrected_resampled_t(a, b, n_train=n_train, n_test=n_test)
    assert r.t == pytest.approx(t, rel=1e-9) and r.p == pytest.approx(p, rel=1e-9) and r.df == 9
    assert r.inflation == pytest.approx(0.1 + 24 / 216)
    assert r.p > r.p_uncorrected  # the correction widens
    half = stats.t.ppf(0.975, 9) * math.sqrt((1 / k + n_test / n_train) * var)
    assert r.ci == pytest.approx([mean - half, mean + half], rel=1e-9)
    # per-fold sizes: the mean ratio
    per_fold = corrected_resampled_t(a, b, n_train=[216] * 5 + [108] * 5, n_test=24)
    assert per_fold.test_train_ratio == pytest.approx((24 / 216 + 24 / 108) / 2)


def test_corrected_resampled_t_without_the_correction_is_scipys_t():
    rng = np.random.default_rng(5)
    b = rng.uniform(0.2, 0.4, size=8)
    a = b + rng.normal(0.01, 0.02, size=8)
    r = corrected_resampled_t(a, b, n_train=1e15, n_test=1)  # n_test / n_train -> 0: the variance sd^2 / K
    t = stats.ttest_1samp(np.round(a - b, 12), 0.0)
    assert r.t == pytest.approx(t.statistic, rel=1e-9) and r.p == pytest.approx(t.pvalue, rel=1e-9)
    assert r.t_uncorrected == pytest.approx(t.statistic, rel=1e-9)
    with pytest.raises(EmokdError, match="n_test"):
        corrected_resampled_t(a, b, n_train=100, n_test=[1, 2])


# ---------------------------------------------------------------------------------------
# chance by permutation


def _label_traces(rng, n_subjects=4, n_trials=3, n_times=50):
    """Per subject a few smooth traces around a subject-specific level."""
    t = np.linspace(0, 1, n_times)
    return {f"s{s}": [s + np.sin(2 * np.pi * (rng.uniform(0.5, 2) * t + rng.uniform())) for _ in range(n_trials)]
            for s in range(n_subjects)}


def _mean_ccc(permuted, reference):
    return float(np.mean([ccc(reference[s][i], permuted[s][i]) for s in reference for i in range(len(reference[s]))]))


def test_permutation_null_of_a_label_copier_is_the_mean_permuted_label_ccc():
    rng = np.random.default_rng(0)
    labels = _label_traces(rng)
    # a predictor that copies the labels; under permutation trial i of subject s is scored against
    # trial pi(i), pi(i) uniform over the subject's trials: the expectation by a plain loop
    expected = np.mean([np.mean([ccc(labels[s][i], labels[s][j]) for j in range(3)])
                        for s in labels for i in range(3)])
    null = permutation_null(labels, lambda p: _mean_ccc(p, labels), n_permutations=1000, rng=1)
    assert null.mean == pytest.approx(expected, abs=3 * np.std(null.null) / math.sqrt(1000))  # 3 Monte Carlo SEs
    assert null.p95 == pytest.approx(np.percentile(null.null, 95)) and len(null.null) == 1000
    # had the traces moved across subjects (other levels), the mean would sit far lower
    across = np.mean([ccc(labels[s][i], labels[r][j]) for s in labels for r in labels for i in range(3)
                      for j in range(3)])
    assert expected - across > 0.1
    # the same seed, the same null; the true labels score 1, above every permutation but the identity
    again = permutation_null(labels, lambda p: _mean_ccc(p, labels), n_permutations=100, rng=1, observed=1.0)
    assert again.null == null.null[:100]
    assert again.p == pytest.approx((1 + np.sum(np.isclose(null.null[:100], 1.0))) / 101)


def test_permutation_never_moves_a_trial_to_another_subject():
    rng = np.random.default_rng(2)
    labels = {s: [np.full(n, 10 * s + i, dtype=float) for i, n in enumerate((20, 30, 25, 40))] for s in range(3)}
    donors = {s: set() for s in labels}  # what the first trial of each subject received

    def record(permuted):
        assert list(permuted) == list(labels)
        for s, trials in permuted.items():
            assert len(trials) == 4
            for i, trace in enumerate(trials):
                assert trace.size == labels[s][i].size  # resampled onto the receiving trial's length
                assert np.all(trace == trace[0]) and 10 * s <= trace[0] < 10 * s + 4  # a trace of subject s
            assert sorted(int(tr[0]) for tr in trials) == [10 * s + i for i in range(4)]  # each trace once
            donors[s].add(int(trials[0][0]))
        return 0.0

    null = permutation_null(labels, record, n_permutations=200, rng=rng)
    assert null.mean == 0.0 and all(donors[s] == {10 * s + i for i in range(4)} for s in labels)


def test_permutation_null_rejects_bad_input():
    with pytest.raises(EmokdError, match="align"):
        permutation_null({"a": [[1.0, 2.0]]}, lambda p: 0.0, align="crop")
    with pytest.raises(EmokdError, match=r"labels\['a'\]\[1\]"):
        permutation_null({"a": [[1.0, 2.0], [[1.0]]]}, lambda p: 0.0)
    with pytest.raises(EmokdError, match="n_permutations"):
        permutation_null({"a": [[1.0, 2.0]]}, lambda p: 0.0, n_permutations=0)


# ---------------------------------------------------------------------------------------
# seeds as a random effect


def test_seed_means_t_known_answer():
    # the `paper` KD gains of three seeds (issue 34): the test across seeds gives p ~ 0.09
    r = seed_means_t([[0.093], [0.060], [0.026]])
    t = stats.ttest_1samp([0.093, 0.060, 0.026], 0.0)
    assert r.t == pytest.approx(t.statistic, rel=1e-12) and r.p == pytest.approx(t.pvalue, rel=1e-12)
    assert r.p == pytest.approx(0.091, abs=0.001) and r.df == 2 and r.n_seeds == 3


def test_seed_means_t_long_form_with_missing_units():
    seeds = [0, 0, 0, 1, 1, 2, 2, 2]
    a = [0.1, 0.2, 0.3, 0.0, 0.1, 0.2, 0.2, 0.5]
    b = [0.0] * 8
    r = seed_means_t(a, b, seeds=seeds)
    assert r.seed_means == pytest.approx([0.2, 0.05, 0.3]) and r.seeds == [0, 1, 2]
    t = stats.ttest_1samp([0.2, 0.05, 0.3], 0.0)
    assert r.p == pytest.approx(t.pvalue) and r.ci == pytest.approx(list(t.confidence_interval(0.95)))
    one = seed_means_t([[0.1, 0.2, 0.3]])
    assert math.isnan(one.p) and "one seed" in one.note


def _crossed(rng, n_seeds, n_units, sd_seed, sd_unit, sd_e, mean=0.05):
    """Values mean + seed + unit + residual, shape (n_seeds, n_units)."""
    return (mean + rng.normal(0, sd_seed, (n_seeds, 1)) + rng.normal(0, sd_unit, (1, n_units))
            + rng.normal(0, sd_e, (n_seeds, n_units)))


def _anova(y):
    """Mean squares of a balanced two-way layout with one value per cell: seed (rows), unit (columns), residual."""
    ns, nu = y.shape
    gm = y.mean()
    ms_s = nu * np.sum((y.mean(axis=1) - gm) ** 2) / (ns - 1)
    ms_u = ns * np.sum((y.mean(axis=0) - gm) ** 2) / (nu - 1)
    res = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + gm
    ms_e = np.sum(res ** 2) / ((ns - 1) * (nu - 1))
    return ms_s, ms_u, ms_e


@pytest.mark.parametrize("seed, n_seeds", [(0, 3), (1, 6), (2, 10)])
def test_mixed_model_equals_the_anova_estimates_in_a_balanced_design(seed, n_seeds):
    rng = np.random.default_rng(seed)
    n_units = 24
    y = _crossed(rng, n_seeds, n_units, 0.03, 0.05, 0.02)
    ms_s, ms_u, ms_e = _anova(y)
    assert ms_s > ms_e and ms_u > ms_e  # the moment estimates are positive: REML must agree with them
    r = crossed_mixed_model(y)
    vc = r.variance_components
    assert vc["seed"] == pytest.approx((ms_s - ms_e) / n_units, rel=1e-5)
    assert vc["unit"] == pytest.approx((ms_u - ms_e) / n_seeds, rel=1e-5)
    assert vc["residual"] == pytest.approx(ms_e, rel=1e-5)
    assert r.estimate == pytest.approx(y.mean(), rel=1e-9)
    # Var(grand mean) = s_seed^2/n_seeds + s_unit^2/n_units + s_e^2/(n_seeds n_units) = (MS_s + MS_u - MS_e)/(n n)
    var = vc["seed"] / n_seeds + vc["unit"] / n_units + vc["residual"] / (n_seeds * n_units)
    assert r.se ** 2 == pytest.approx(var, rel=1e-9)
    assert r.se ** 2 == pytest.approx((ms_s + ms_u - ms_e) / (n_seeds * n_units), rel=1e-5)
    # Satterthwaite's df of that linear combination of mean squares
    df = (ms_s + ms_u - ms_e) ** 2 / (ms_s ** 2 / (n_seeds - 1) + ms_u ** 2 / (n_units - 1)
                                      + ms_e ** 2 / ((n_seeds - 1) * (n_units - 1)))
    assert r.df == pytest.approx(df, rel=1e-4)
    assert r.p_t == pytest.approx(2 * stats.t.sf(abs(r.estimate / r.se), df), rel=1e-3)
    assert r.p_z == pytest.approx(2 * stats.norm.sf(abs(r.estimate / r.se)), rel=1e-9)
    assert r.converged and r.fitted == ["seed", "unit"] and r.note == ""
    json.dumps(r.to_json())


@pytest.mark.slow
def test_mixed_model_recovers_known_components():
    rng = np.random.default_rng(4)
    y = _crossed(rng, 40, 40, 0.03, 0.05, 0.02)  # many seeds and units: estimates near the truth
    vc = crossed_mixed_model(y).variance_components
    assert vc["seed"] == pytest.approx(0.03 ** 2, rel=0.5)
    assert vc["unit"] == pytest.approx(0.05 ** 2, rel=0.5)
    assert vc["residual"] == pytest.approx(0.02 ** 2, rel=0.1)


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_mixed_model_matches_statsmodels_mixedlm_unbalanced(method):
    import statsmodels.api as sm

    rng = np.random.default_rng(2)
    n_seeds, n_units = 4, 20
    y = _crossed(rng, n_seeds, n_units, 0.03, 0.05, 0.02)
    s, u = np.meshgrid(np.arange(n_seeds), np.arange(n_units), indexing="ij")
    keep = rng.uniform(size=y.shape) > 0.2  # a fifth of the cells missing
    df = pd.DataFrame({"y": y[keep], "seed": s[keep], "unit": u[keep], "group": 1})
    model = sm.MixedLM.from_formula("y ~ 1", groups="group", re_formula="0", data=df,
                                    vc_formula={"seed": "0 + C(seed)", "unit": "0 + C(unit)"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(reml=method == "reml", method=["lbfgs"])
    r = crossed_mixed_model(df["y"], seeds=df["seed"], units=df["unit"], method=method)
    assert r.estimate == pytest.approx(fit.fe_params.iloc[0], rel=1e-4)
    assert r.se == pytest.approx(fit.bse_fe.iloc[0], rel=1e-4)
    assert r.p_z == pytest.approx(fit.pvalues.iloc[0], rel=1e-3)
    vc = dict(zip(model.exog_vc.names, fit.vcomp))
    assert r.variance_components["seed"] == pytest.approx(vc["seed"], rel=1e-3)
    assert r.variance_components["unit"] == pytest.approx(vc["unit"], rel=1e-3)
    assert r.variance_components["residual"] == pytest.approx(fit.scale, rel=1e-4)
    assert r.n_obs == int(keep.sum()) and r.n_seeds == 4 and r.n_units == 20


def test_mixed_model_with_one_seed_is_the_paired_t_over_units():
    rng = np.random.default_rng(6)
    b = rng.uniform(0.2, 0.4, size=24)
    a = b + rng.normal(0.01, 0.03, size=24)
    r = crossed_mixed_model(a[None, :], b[None, :])
    t = stats.ttest_rel(a, b)
    assert r.estimate == pytest.approx(np.mean(a - b), rel=1e-9)
    assert r.z == pytest.approx(t.statistic, rel=1e-6)
    assert r.df == pytest.approx(23, rel=1e-6) and r.p_t == pytest.approx(t.pvalue, rel=1e-5)
    assert r.ci_t == pytest.approx(list(t.confidence_interval(0.95)), rel=1e-5)
    assert r.variance_components["seed"] == 0.0 and "one seed" in r.note


def test_mixed_model_with_zero_seed_variance_is_the_t_over_unit_means():
    rng = np.random.default_rng(7)
    y = _crossed(rng, 5, 24, 0.03, 0.05, 0.02)
    y = y - y.mean(axis=1, keepdims=True) + y.mean()  # every seed has the same mean
    r = crossed_mixed_model(y)
    t = stats.ttest_1samp(y.mean(axis=0), 0.0)  # the paired t over units, each averaged over seeds
    assert r.variance_components["seed"] == pytest.approx(0.0, abs=1e-12)
    assert r.estimate == pytest.approx(y.mean(), rel=1e-9)
    assert r.z == pytest.approx(t.statistic, rel=1e-5)
    assert r.df == pytest.approx(23, rel=1e-4) and r.p_t == pytest.approx(t.pvalue, rel=1e-4)


def test_seeds_as_fixed_replicates_are_too_confident():
    # a large seed effect: pooling seeds as if they were independent replicates (the paired t over all
    # seed x unit values) claims far more than the mixed model or the t over seed means
    rng = np.random.default_rng(8)
    y = _crossed(rng, 3, 24, 0.03, 0.03, 0.02, mean=0.06)
    pooled = stats.ttest_1samp(y.ravel(), 0.0).pvalue
    mixed = crossed_mixed_model(y)
    over_seeds = seed_means_t(y)
    assert pooled < 0.001 and mixed.p_t > 0.05 and over_seeds.p > 0.05  # 1.4e-4 against 0.11 and 0.13
    assert mixed.p_z < mixed.p_t  # the normal reference is the optimistic one with 3 seeds


def test_mixed_model_input_errors():
    with pytest.raises(EmokdError, match="method='bayes'"):
        crossed_mixed_model(np.ones((2, 3)), method="bayes")
    with pytest.raises(EmokdError, match="seeds= and units="):
        crossed_mixed_model([0.1, 0.2, 0.3], seeds=[0, 1, 1])
    with pytest.raises(EmokdError, match="units has shape"):
        crossed_mixed_model([0.1, 0.2, 0.3], seeds=[0, 1, 1], units=[0, 1])
    with pytest.raises(EmokdError, match="no variance"):
        crossed_mixed_model(np.full((2, 3), 0.1))
    with pytest.raises(EmokdError, match="inf"):
        crossed_mixed_model([[0.1, np.inf], [0.2, 0.3]])


def test_permutation_null_draws_what_permute_within_subjects_draws():
    """One permutation logic: each draw of the null is emokd.core.permutation's, from the same generator."""
    from emokd.core.permutation import permute_within_subjects

    labels = {s: [np.arange(n, dtype=float) + 100 * s for n in (5, 8, 6)] for s in range(3)}
    seen = []
    permutation_null(labels, lambda p: seen.append(p) or 0.0, n_permutations=4, rng=5)
    gen = np.random.default_rng(5)
    for p in seen:
        q = permute_within_subjects(labels, gen)
        assert all(np.array_equal(a, b) for s in labels for a, b in zip(p[s], q[s]))
