"""Summaries and paired tests: known answers computed by hand in the test."""

import json
import math
import warnings

import numpy as np
import pytest

from emokd.errors import EmokdError
from emokd.evaluation.stats import paired_tests, summarise


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
