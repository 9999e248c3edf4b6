"""Summaries and paired tests of per-fold scores (numpy + scipy, no I/O).

Cross-validation gives one score per fold for each model. The paper (Zhang, Tang
and Guan 2022) reports mean and standard deviation over folds; to ask whether the
KD student beats the plain student we compare the two *paired* by fold, because a
fold's test subject or trials make both models better or worse together:

- a paired t-test (:func:`scipy.stats.ttest_rel`), which assumes the fold
  differences are roughly normal;
- a Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`), which does not, and
  which with few folds can only reach coarse p-values (n = 5 folds, all better:
  p = 2 / 2**5 = 0.0625 at best, two-sided);
- Cohen's d_z = mean(diff) / sd(diff), the effect size of a paired design, and a
  95 % t-interval for the mean difference.

Every value returned is a plain Python ``float``/``int``/``str`` so the result can go
straight into JSON. Undefined quantities are ``nan`` (``json.dumps`` writes ``NaN``,
which Python reads back but strict JSON parsers reject) and ``note`` says why.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sp_stats

from ..errors import EmokdError

# Differences a - b are rounded to this many decimals (scores are O(1)): round-off
# in the subtraction would otherwise break true ties in the Wilcoxon ranks (so
# scipy would wrongly use its exact no-ties distribution) and turn "every fold
# improves by exactly 0.1" into a 1e-17 spread, i.e. a d_z of 1e15.
_DIFF_DECIMALS = 12


def _as_scores(values, name: str) -> np.ndarray:
    """1-D float array of finite scores, or raise naming ``name``."""
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise EmokdError(f"{name}: cannot convert to numbers ({err})") from None
    if x.ndim != 1:
        raise EmokdError(f"{name}: expected a 1-D sequence of per-fold scores, got shape {x.shape}")
    if x.size == 0:
        raise EmokdError(f"{name}: no values")
    return x


def summarise(values) -> dict:
    """Mean, sample standard deviation and count of per-fold scores.

    Parameters
    ----------
    values : array_like, shape (n,)
        One score per fold. NaN values propagate (a NaN in gives a NaN mean and sd).

    Returns
    -------
    summary : dict
        ``{"mean": float, "sd": float, "n": int}``. ``sd`` is the *sample* standard
        deviation (``ddof=1``, divisor n - 1), ``nan`` when n < 2.
    """
    x = _as_scores(values, "values")
    sd = float(np.std(x, ddof=1)) if x.size >= 2 else math.nan
    return {"mean": float(np.mean(x)), "sd": sd, "n": int(x.size)}


def paired_tests(a, b, *, names=("a", "b")) -> dict:
    """Two-sided paired comparison of per-fold scores ``a`` against ``b``.

    Parameters
    ----------
    a, b : array_like, shape (n_folds,)
        Scores of the two models on the same folds, e.g. the KD student's and the
        student's concatenated CCC. Must be finite and of equal length.
    names : tuple of str
        Names of ``a`` and ``b``, used in the result and the notes.

    Returns
    -------
    result : dict
        ``names``: [name_a, name_b]; ``n_folds``: int; ``n_better``: folds where
        a > b; ``mean_diff`` and ``sd_diff`` (ddof=1) of diff = a - b, rounded to
        12 decimals against round-off; ``ci95``:
        [lo, hi], the t-interval mean_diff +- t(0.975, n-1) * sd_diff / sqrt(n);
        ``t_stat``, ``t_test_p`` (:func:`scipy.stats.ttest_rel`); ``wilcoxon_stat``,
        ``wilcoxon_p`` (:func:`scipy.stats.wilcoxon`, zero differences dropped,
        exact null distribution when scipy's ``method="auto"`` chooses it: n <= 50,
        no ties or zeros); ``effect_size``: Cohen's d_z = mean_diff / sd_diff,
        ``effect_size_name``: ``"cohen_dz"``; ``note``: ``""`` or why some values
        are ``nan``. Values are ``nan`` when undefined: all with n < 2; t, its p
        and d_z when every difference is the same (sd_diff = 0); the Wilcoxon test
        when every difference is zero.
    """
    name_a, name_b = (str(n) for n in names)
    x = _as_scores(a, name_a)
    y = _as_scores(b, name_b)
    if x.shape != y.shape:
        raise EmokdError(f"paired scores differ in length: {name_a} has {x.size}, {name_b} has {y.size}")
    for arr, name in ((x, name_a), (y, name_b)):
        if not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.isfinite(arr)).tolist()
            raise EmokdError(f"{name}: non-finite score at fold index {bad}: {arr[bad].tolist()}")

    n = int(x.size)
    diff = np.round(x - y, _DIFF_DECIMALS)
    nan = math.nan
    out = {
        "names": [name_a, name_b], "n_folds": n, "n_better": int(np.sum(diff > 0)),
        "mean_diff": float(np.mean(diff)), "sd_diff": nan, "ci95": [nan, nan],
        "t_stat": nan, "t_test_p": nan, "wilcoxon_stat": nan, "wilcoxon_p": nan,
        "effect_size": nan, "effect_size_name": "cohen_dz", "note": "",
    }
    if n < 2:
        out["note"] = f"only {n} fold: no spread, tests undefined"
        return out

    notes = []
    sd = float(np.std(diff, ddof=1)) if np.ptp(diff) > 0 else 0.0
    half = float(sp_stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    out.update(sd_diff=sd, ci95=[out["mean_diff"] - half, out["mean_diff"] + half])
    if sd > 0:
        t = sp_stats.ttest_rel(x, y)
        out.update(t_stat=float(t.statistic), t_test_p=float(t.pvalue), effect_size=out["mean_diff"] / sd)
    else:  # t = mean / 0: scipy would return inf or nan with a warning
        notes.append(f"every difference {name_a} - {name_b} equals {out['mean_diff']:g}: t and d_z undefined")

    if np.all(diff == 0):
        notes.append(f"{name_a} and {name_b} are equal on every fold: Wilcoxon test undefined")
    else:
        w = sp_stats.wilcoxon(diff, alternative="two-sided")  # zero differences dropped
        out.update(wilcoxon_stat=float(w.statistic), wilcoxon_p=float(w.pvalue))
        if np.any(diff == 0):
            notes.append(f"{int(np.sum(diff == 0))} zero difference(s) dropped from the Wilcoxon test")
    out["note"] = "; ".join(notes)
    return out
