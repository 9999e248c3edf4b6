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

Beyond the paired comparison of one run, the questions a study asks of several:

- is a difference *absent*, not merely undetected? the two one-sided tests for
  equivalence within a declared margin (:func:`tost_paired`);
- what do several seeds say when the seed is a random draw, not a fixed replicate?
  the spread of the seed-level means (:func:`seed_means_t`) and a linear mixed model
  with crossed random effects of seed and unit (:func:`crossed_mixed_model`);
- how significant is a difference over cross-validation folds that share most of their
  training data? the corrected resampled t (:func:`corrected_resampled_t`);
- what does a score reach by chance? labels permuted among each subject's trials
  (:func:`permutation_null`; one draw of it, also what a run with ``permute_labels`` trains on:
  :func:`permute_within_subjects`);
- and the shared pieces: a t-interval (:func:`t_interval`), Holm's adjustment
  (:func:`holm`) and Spearman's rank correlation (:func:`spearman`).

Every value returned is a plain Python ``float``/``int``/``str`` so the result can go
straight into JSON (the dataclasses through their ``to_json()``). Undefined quantities
are ``nan`` (``json.dumps`` writes ``NaN``, which Python reads back but strict JSON
parsers reject) and ``note`` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import stats as sp_stats
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize

from ..core.config import check_choice
from ..core.permutation import label_traces, permute_within_subjects
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


def _finite(x: np.ndarray, name: str, what: str = "score at fold index") -> np.ndarray:
    """``x`` unchanged, or raise naming the positions and values that are not finite."""
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(x)).tolist()
        raise EmokdError(f"{name}: non-finite {what} {bad}: {x[bad].tolist()}")
    return x


def _paired(a, b, name_a: str, name_b: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finite 1-D ``a`` and ``b`` of equal length and their difference a - b rounded to 12 decimals."""
    x = _finite(_as_scores(a, name_a), name_a)
    y = _finite(_as_scores(b, name_b), name_b)
    if x.shape != y.shape:
        raise EmokdError(f"paired scores differ in length: {name_a} has {x.size}, {name_b} has {y.size}")
    return x, y, np.round(x - y, _DIFF_DECIMALS)


def _level(level: float, name: str = "level") -> float:
    """A confidence level strictly between 0 and 1, or raise naming it."""
    if not (isinstance(level, (int, float, np.floating)) and 0 < float(level) < 1):
        raise EmokdError(f"{name}={level!r}: expected a number strictly between 0 and 1")
    return float(level)


def t_interval(mean: float, sd: float, n: int, *, level: float = 0.95, df: float | None = None) -> list[float]:
    """The t-interval ``mean +- t(0.5 + level / 2, df) * sd / sqrt(n)`` for a mean.

    Parameters
    ----------
    mean, sd : float
        The sample mean and the sample standard deviation (``ddof=1``) of ``n`` values, or
        any estimate and its scale: an estimate with standard error ``se`` is
        ``t_interval(estimate, se, 1, df=df)``.
    n : int
        The number of values; the interval's half-width is ``t * sd / sqrt(n)`` (in this
        order, so the result is bit for bit what :func:`paired_tests` always gave).
    level : float
        The coverage, e.g. 0.95; a one-sided test at alpha has the two-sided interval of
        level ``1 - 2 alpha`` (:func:`tost_paired`).
    df : float, optional
        The degrees of freedom of the t distribution; ``n - 1`` when not given (may be
        fractional, e.g. a Satterthwaite approximation).

    Returns
    -------
    ci : list of float, [lo, hi]
        ``[nan, nan]`` when ``df`` is not positive (a single value) or ``sd`` is nan.
    """
    level = _level(level)
    df = n - 1 if df is None else df
    if not df > 0 or not np.isfinite(sd):
        return [math.nan, math.nan]
    half = float(sp_stats.t.ppf(0.5 + level / 2, df)) * sd / math.sqrt(n)
    return [float(mean) - half, float(mean) + half]


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
    x, y, diff = _paired(a, b, name_a, name_b)
    n = int(x.size)
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
    out.update(sd_diff=sd, ci95=t_interval(out["mean_diff"], sd, n))
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


# ----------------------------------------------------------------------------------------
# shared pieces: Holm, Spearman


def holm(pvalues) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (Holm 1979), in the order given.

    The i-th smallest of m p-values is multiplied by m - i + 1 (i from 1), the products made
    non-decreasing in that order (a running maximum) and capped at 1. Rejecting where the
    adjusted p < alpha controls the family-wise error rate at alpha.

    Parameters
    ----------
    pvalues : array_like, shape (m,)
        p-values in [0, 1]; ``nan`` (a test that could not be computed) stays ``nan`` in the
        output and still counts in m (the conservative choice: it was a test of the family).

    Returns
    -------
    adjusted : list of float, shape (m,)
        In the order of ``pvalues``.
    """
    p = _as_scores(pvalues, "pvalues")
    known = ~np.isnan(p)
    if np.any((p[known] < 0) | (p[known] > 1)):
        bad = np.flatnonzero(known & ((p < 0) | (p > 1))).tolist()
        raise EmokdError(f"pvalues: outside [0, 1] at index {bad}: {p[bad].tolist()}")
    m = p.size
    adjusted = np.full(m, math.nan)
    running = 0.0
    for rank, i in enumerate(np.flatnonzero(known)[np.argsort(p[known], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * float(p[i])))
        adjusted[i] = running
    return [float(v) for v in adjusted]


def spearman(a, b, *, nan_policy: str = "omit", undefined=math.nan):
    """Spearman's rank correlation of paired values (:func:`scipy.stats.spearmanr`).

    Parameters
    ----------
    a, b : array_like, the same number of values
        Any shape; both are flattened (C order), so two (n_bands, n_chans) maps correlate
        cell by cell.
    nan_policy : {"omit", "propagate"}
        ``"omit"``: pairs where either value is not finite are dropped first.
        ``"propagate"``: a ``nan`` anywhere makes the correlation undefined (``inf`` ranks
        as the largest value, as in scipy).
    undefined : object
        What is returned when the correlation is undefined: fewer than 3 pairs, or either
        side constant (its ranks all tied). ``nan`` by default; ``None`` where the result
        goes to JSON as ``null`` (the saliency maps' ``truth_spearman``).

    Returns
    -------
    rho : float, or ``undefined``
    """
    check_choice("nan_policy", nan_policy, ("omit", "propagate"))
    try:
        x, y = np.ravel(np.asarray(a, dtype=float)), np.ravel(np.asarray(b, dtype=float))
    except (TypeError, ValueError) as err:
        raise EmokdError(f"spearman: cannot convert to numbers ({err})") from None
    if x.size != y.size:
        raise EmokdError(f"spearman: {x.size} values against {y.size}: expected pairs")
    if nan_policy == "omit":
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
    elif np.isnan(x).any() or np.isnan(y).any():
        return undefined
    # constant input: scipy would return nan with a ConstantInputWarning
    if x.size < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return undefined
    rho = float(sp_stats.spearmanr(x, y).statistic)
    return rho if np.isfinite(rho) else undefined


# ----------------------------------------------------------------------------------------
# equivalence and resampling


def _json(value):
    """Numpy scalars and tuples as plain Python values, recursively (lists and dicts kept)."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


class _JsonResult:
    """``to_json()``: the dataclass's fields as a dict of plain floats, ints, strings and lists."""

    def to_json(self) -> dict:
        return {f.name: _json(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Tost(_JsonResult):
    """The two one-sided tests of a paired difference for equivalence within +-margin.

    ``mean_diff``, ``sd_diff``: of diff = a - b (``ddof=1``); ``t_lower``, ``p_lower``: the
    test of H0 mean <= -margin (against mean > -margin); ``t_upper``, ``p_upper``: of H0
    mean >= +margin (against mean < +margin); ``p``: max of the two, the TOST p-value;
    ``ci``: the (1 - 2 alpha) t-interval of the mean difference (``ci_level``);
    ``equivalent``: p < alpha, which is the same as ``ci`` lying inside (-margin, +margin).
    """

    names: list
    n: int
    margin: float
    alpha: float
    mean_diff: float
    sd_diff: float
    df: int
    t_lower: float
    p_lower: float
    t_upper: float
    p_upper: float
    p: float
    ci: list
    ci_level: float
    equivalent: bool
    note: str


def tost_paired(a, b, margin: float, *, alpha: float = 0.05, names=("a", "b")) -> Tost:
    """Paired equivalence test: is the mean of a - b within +-``margin``? (Schuirmann 1987.)

    Two one-sided paired t-tests on diff = a - b, each at level ``alpha``:
    t_lower = (mean + margin) / se against H0 mean <= -margin, and
    t_upper = (mean - margin) / se against H0 mean >= +margin, with se = sd / sqrt(n) and
    n - 1 degrees of freedom. Equivalence is shown when both reject, i.e. when
    p = max(p_lower, p_upper) < alpha, i.e. when the (1 - 2 alpha) t-interval lies inside
    (-margin, +margin). A non-significant t-test is not this: it may only lack power.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        Paired scores (e.g. per subject), finite, n >= 2.
    margin : float
        The equivalence margin, > 0, in the scores' unit (declared before the data are seen).
    alpha : float
        Level of each one-sided test, in (0, 0.5).
    names : tuple of str
        Names of ``a`` and ``b`` (for the result and error messages).

    Returns
    -------
    Tost
        When every difference is the same (sd = 0), the t statistics are infinite and each
        one-sided p is 0 or 1 (0.5 exactly on the margin), with a note.
    """
    name_a, name_b = (str(n) for n in names)
    if not (isinstance(margin, (int, float, np.floating)) and np.isfinite(margin) and margin > 0):
        raise EmokdError(f"margin={margin!r}: expected a finite number > 0")
    if not (isinstance(alpha, (int, float, np.floating)) and 0 < alpha < 0.5):
        raise EmokdError(f"alpha={alpha!r}: expected a number strictly between 0 and 0.5")
    _, _, diff = _paired(a, b, name_a, name_b)
    n = int(diff.size)
    if n < 2:
        raise EmokdError(f"tost_paired: {n} pair: at least 2 needed for a spread")
    mean = float(np.mean(diff))
    sd = float(np.std(diff, ddof=1)) if np.ptp(diff) > 0 else 0.0
    note = ""
    if sd > 0:
        se = sd / math.sqrt(n)
        t_lo, t_hi = (mean + margin) / se, (mean - margin) / se
        p_lo, p_hi = float(sp_stats.t.sf(t_lo, n - 1)), float(sp_stats.t.cdf(t_hi, n - 1))
    else:  # the limits of the t statistics as sd -> 0
        sign = lambda v: math.copysign(math.inf, v) if v != 0 else 0.0  # noqa: E731
        t_lo, t_hi = sign(mean + margin), sign(mean - margin)
        p_lo = 0.0 if t_lo > 0 else (1.0 if t_lo < 0 else 0.5)
        p_hi = 0.0 if t_hi < 0 else (1.0 if t_hi > 0 else 0.5)
        note = f"every difference {name_a} - {name_b} equals {mean:g}: t statistics infinite, p-values their limits"
    p = max(p_lo, p_hi)
    return Tost(names=[name_a, name_b], n=n, margin=float(margin), alpha=float(alpha), mean_diff=mean, sd_diff=sd,
                df=n - 1, t_lower=float(t_lo), p_lower=p_lo, t_upper=float(t_hi), p_upper=p_hi, p=p,
                ci=t_interval(mean, sd, n, level=1 - 2 * alpha), ci_level=1 - 2 * alpha, equivalent=bool(p < alpha),
                note=note)


@dataclass(frozen=True)
class ResampledT(_JsonResult):
    """The corrected resampled t of per-fold differences, beside the uncorrected one.

    ``inflation``: 1/K + mean(n_test / n_train), the factor that replaces 1/K in the
    variance of the mean; ``t``, ``p`` (two-sided, df = K - 1), ``ci`` (``level``): corrected;
    ``t_uncorrected``, ``p_uncorrected``: the paired t-test as if folds were independent.
    """

    names: list
    n_folds: int
    mean_diff: float
    sd_diff: float
    test_train_ratio: float
    inflation: float
    df: int
    t: float
    p: float
    ci: list
    level: float
    t_uncorrected: float
    p_uncorrected: float
    note: str


def corrected_resampled_t(a, b, *, n_train, n_test, level: float = 0.95, names=("a", "b")) -> ResampledT:
    """Nadeau and Bengio's (2003) corrected resampled t-test of two models over K folds.

    Folds of cross-validation share most of their training data, so their differences are
    positively correlated and the ordinary paired t (variance of the mean sd^2 / K) is
    anti-conservative. Nadeau and Bengio replace 1/K by 1/K + n_test / n_train::

        t = mean(d) / sqrt((1/K + n_test/n_train) * var(d)),   df = K - 1

    (derived for K random train/test splits; Bouckaert and Frank 2004 use it for K-fold CV).

    Parameters
    ----------
    a, b : array_like, shape (K,)
        The two models' scores per fold, finite; K >= 2.
    n_train, n_test : int or array_like of shape (K,)
        Training and test size (trials, or windows: the same unit for both) of every fold or of
        each fold; with per-fold sizes the mean of n_test / n_train is used.
    level : float
        Coverage of the corrected t-interval.
    names : tuple of str

    Returns
    -------
    ResampledT
        ``t`` and ``p`` are nan (with a note) when every difference is the same.
    """
    name_a, name_b = (str(n) for n in names)
    level = _level(level)
    _, _, diff = _paired(a, b, name_a, name_b)
    k = int(diff.size)
    if k < 2:
        raise EmokdError(f"corrected_resampled_t: {k} fold: at least 2 needed")
    sizes = {}
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        arr = np.broadcast_to(np.asarray(value, dtype=float), (k,)) if np.ndim(value) == 0 else \
            np.asarray(value, dtype=float)
        if arr.shape != (k,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise EmokdError(f"{name}={value!r}: expected a positive size, or one per fold ({k})")
        sizes[name] = arr
    ratio = float(np.mean(sizes["n_test"] / sizes["n_train"]))
    inflation = 1 / k + ratio
    mean = float(np.mean(diff))
    sd = float(np.std(diff, ddof=1)) if np.ptp(diff) > 0 else 0.0
    nan, note = math.nan, ""
    t = p = t0 = p0 = nan
    if sd > 0:
        t = mean / math.sqrt(inflation * sd ** 2)
        p = float(2 * sp_stats.t.sf(abs(t), k - 1))
        t0 = mean / (sd / math.sqrt(k))
        p0 = float(2 * sp_stats.t.sf(abs(t0), k - 1))
    else:
        note = f"every difference {name_a} - {name_b} equals {mean:g}: t undefined"
    # the corrected se, sqrt(inflation) * sd, written as an sd over sqrt(K) for t_interval
    ci = t_interval(mean, sd * math.sqrt(k * inflation), k, level=level)
    return ResampledT(names=[name_a, name_b], n_folds=k, mean_diff=mean, sd_diff=sd, test_train_ratio=ratio,
                      inflation=inflation, df=k - 1, t=float(t), p=p, ci=ci, level=level, t_uncorrected=float(t0),
                      p_uncorrected=p0, note=note)


@dataclass(frozen=True)
class PermutationNull(_JsonResult):
    """A score's distribution under labels permuted among each subject's trials.

    ``null``: the score of every permutation, in order; ``mean`` and ``p95`` (95th
    percentile, linear interpolation) of it; ``observed`` and ``p`` (one-sided,
    (1 + #(null >= observed)) / (1 + n_permutations)) when an observed score was given.
    """

    null: list
    mean: float
    p95: float
    n_permutations: int
    observed: float
    p: float


def permutation_null(labels, scorer, *, n_permutations: int = 1000, rng=None, observed: float | None = None,
                     align: str = "interp") -> PermutationNull:
    """The distribution of ``scorer`` when each subject's label traces are shuffled among its trials.

    Within each subject, trial i receives the label trace of trial pi(i) for a uniformly
    random permutation pi (the identity included, so a subject with 3 trials keeps its own
    labels in 1 of 6 draws); a trace never moves to another subject. What stays is every
    subject's label distribution (its level and spread, which a subject-biased model can
    still match); what goes is the link between a trial's signal and its labels.

    Parameters
    ----------
    labels : mapping of subject -> sequence of array_like, each shape (n_times_i,)
        The label trace of every trial of every subject (lengths may differ).
    scorer : callable
        ``scorer(permuted) -> float``, where ``permuted`` has the structure of ``labels``
        (a dict of lists of 1-D float arrays). It may score fixed predictions against the
        permuted labels, or refit a model on them first.
    n_permutations : int
        Number of draws, >= 1.
    rng : numpy.random.Generator or int or None
        The random source (an int seeds ``numpy.random.default_rng``).
    observed : float, optional
        The score with the true labels; gives the permutation p-value.
    align : {"interp", "none"}
        What a trace does in a trial of another length: ``"interp"`` resamples it linearly
        onto the receiving trial's length (a no-op for equal lengths); ``"none"`` passes it as
        it is, for a scorer that handles lengths itself.

    Returns
    -------
    PermutationNull
    """
    check_choice("align", align, ("interp", "none"))
    if not (isinstance(n_permutations, (int, np.integer)) and n_permutations >= 1):
        raise EmokdError(f"n_permutations={n_permutations!r}: expected an integer >= 1")
    traces = label_traces(labels)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    null = np.empty(n_permutations)
    for k in range(n_permutations):  # one permutation per subject and draw, from the one generator
        null[k] = float(scorer(permute_within_subjects(traces, gen, align=align)))
    p = math.nan
    if observed is not None:
        p = float((1 + np.sum(null >= observed)) / (1 + n_permutations))
    return PermutationNull(null=null.tolist(), mean=float(np.mean(null)), p95=float(np.percentile(null, 95)),
                           n_permutations=int(n_permutations),
                           observed=math.nan if observed is None else float(observed), p=p)


# ----------------------------------------------------------------------------------------
# seeds as a random effect


def _by_seed_and_unit(a, b, seeds, units, *, need_units: bool):
    """(y, seed codes, unit codes or None, seed labels, unit labels) from either input form.

    Matrix form (``seeds`` and ``units`` both None): ``a`` (and ``b``) of shape
    (n_seeds, n_units), rows seeds and columns units, nan for a missing cell. Long form: ``a``,
    ``b``, ``seeds`` (and ``units``) of shape (n_obs,), every value finite.
    """
    if seeds is None and units is None:
        y = np.asarray(a, dtype=float)
        if b is not None:
            yb = np.asarray(b, dtype=float)
            if yb.shape != y.shape:
                raise EmokdError(f"a has shape {y.shape}, b has shape {yb.shape}: expected the same")
            y = np.round(y - yb, _DIFF_DECIMALS)
        if y.ndim != 2:
            raise EmokdError(f"expected an (n_seeds, n_units) array, or seeds= and units= with 1-D values; "
                             f"got shape {y.shape}")
        if np.isinf(y).any():
            raise EmokdError("non-finite value (inf) in the (n_seeds, n_units) array: use nan for a missing cell")
        s_codes, u_codes = np.nonzero(~np.isnan(y))
        return (y[s_codes, u_codes], s_codes, u_codes, list(range(y.shape[0])), list(range(y.shape[1])))
    if seeds is None or (need_units and units is None):
        raise EmokdError("give seeds= and units= with 1-D values, or neither with an (n_seeds, n_units) array")
    y = _as_scores(a, "a")
    if b is not None:
        _, _, y = _paired(a, b, "a", "b")
    _finite(y, "a" if b is None else "a - b", "value at index")
    coded = []
    for name, labels in (("seeds", seeds), ("units", units)):
        if labels is None:
            coded.append((None, []))
            continue
        labels = np.asarray(labels)
        if labels.shape != y.shape:
            raise EmokdError(f"{name} has shape {labels.shape}, the values {y.shape}: expected one label per value")
        levels, codes = np.unique(labels, return_inverse=True)
        coded.append((codes, levels.tolist()))
    (s_codes, s_levels), (u_codes, u_levels) = coded
    return y, s_codes, u_codes, s_levels, u_levels


@dataclass(frozen=True)
class SeedMeansT(_JsonResult):
    """A mean difference tested over seeds: one value per seed (the mean over its units).

    ``seed_means``: per seed, in the order of ``seeds``; ``estimate``: their mean; ``sd``:
    their sample SD; ``se`` = sd / sqrt(n_seeds); ``t``, ``p`` (two-sided), ``ci``
    (``level``) with df = n_seeds - 1.
    """

    seeds: list
    seed_means: list
    n_seeds: int
    estimate: float
    sd: float
    se: float
    df: int
    t: float
    p: float
    ci: list
    level: float
    note: str


def seed_means_t(a, b=None, *, seeds=None, level: float = 0.95) -> SeedMeansT:
    """Seed as a random effect, the simple way: a one-sample t over the seed-level means.

    Each seed's values (e.g. KD student - student per subject) are averaged to one number;
    the n_seeds means are the sample, so the test asks whether another seed would give a
    gain, and a unit's (subject's) repeated appearance across seeds is not counted as new
    evidence. With 3 seeds it has 2 degrees of freedom and little power; that is what three
    seeds can say. :func:`crossed_mixed_model` uses the units' spread as well.

    Parameters
    ----------
    a, b : array_like
        The values, or two scores whose difference a - b is taken: shape (n_seeds, n_units)
        (nan where a unit is missing in a seed) with ``seeds`` None, or shape (n_obs,) with
        ``seeds`` giving each value's seed.
    seeds : array_like, shape (n_obs,), optional
    level : float

    Returns
    -------
    SeedMeansT
        t, p and the interval are nan (with a note) with one seed or equal seed means.
    """
    level = _level(level)
    y, s_codes, _, s_levels, _ = _by_seed_and_unit(a, b, seeds, None, need_units=False)
    present = sorted(set(s_codes.tolist()))
    means = np.array([y[s_codes == s].mean() for s in present])
    n = int(means.size)
    est = float(means.mean())
    sd = float(np.std(means, ddof=1)) if n >= 2 else math.nan
    nan, note = math.nan, ""
    se = sd / math.sqrt(n) if n >= 2 else nan
    t = p = nan
    if n < 2:
        note = "one seed: no spread over seeds, the test is undefined"
    elif sd == 0:
        note = "every seed has the same mean: t undefined"
    else:
        res = sp_stats.ttest_1samp(means, 0.0)
        t, p = float(res.statistic), float(res.pvalue)
    return SeedMeansT(seeds=[s_levels[s] for s in present], seed_means=means.tolist(), n_seeds=n, estimate=est,
                      sd=sd, se=se, df=n - 1, t=t, p=p, ci=t_interval(est, sd, n, level=level), level=level,
                      note=note)


@dataclass(frozen=True)
class MixedModel(_JsonResult):
    """The intercept of y = mu + seed_s + unit_u + e, seed and unit crossed random effects.

    ``estimate``: mu (GLS); ``se``: its standard error; ``z``, ``p_z`` and ``ci_z``: the
    normal (Wald) test and interval, as statsmodels reports them; ``df``: Satterthwaite's
    degrees of freedom for mu, with ``p_t`` and ``ci_t`` from the t distribution (use these
    with few seeds); ``variance_components``: {"seed", "unit", "residual"} variances (0 for a
    component not fitted); ``fitted``: the random components estimated; ``method``: "reml" or
    "ml"; ``converged``: the optimiser's verdict.
    """

    method: str
    n_obs: int
    n_seeds: int
    n_units: int
    estimate: float
    se: float
    z: float
    p_z: float
    ci_z: list
    df: float
    p_t: float
    ci_t: list
    level: float
    variance_components: dict
    fitted: list
    converged: bool
    note: str


def _one_hot(codes: np.ndarray, n_levels: int) -> np.ndarray:
    """(n_obs,) level codes -> (n_obs, n_levels) indicator matrix."""
    z = np.zeros((codes.size, n_levels))
    z[np.arange(codes.size), codes] = 1.0
    return z


def _profiled_criterion(y0, z, blocks, reml: bool):
    """The profiled -2 log-likelihood (REML or ML, up to a constant) of variance ratios gamma and its gradient.

    V = sigma2 * H, H = I + sum_k gamma_k Z_k Z_k'; sigma2 and the intercept are profiled out.
    With Lambda = diag(sqrt(gamma) per column) and M = Lambda Z'Z Lambda + I (q x q), Woodbury
    gives H^-1 = I - Z Lambda M^-1 Lambda Z' and log|H| = log|M| (as in lme4), so nothing is
    n x n.
    """
    n = y0.size
    ztz, zt1, zty = z.T @ z, z.sum(axis=0), z.T @ y0
    eye = np.eye(z.shape[1])

    def f(gamma):
        lam = np.concatenate([np.full(sl.stop - sl.start, math.sqrt(max(g, 0.0))) for g, sl in zip(gamma, blocks)])
        cf = cho_factor(lam[:, None] * ztz * lam[None, :] + eye)
        logdet = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        u1, uy = lam * zt1, lam * zty
        w1, wy = cho_solve(cf, u1), cho_solve(cf, uy)
        s11 = n - u1 @ w1
        s1y = y0.sum() - u1 @ wy
        rss = y0 @ y0 - uy @ wy - s1y ** 2 / s11
        beta = s1y / s11
        grad = np.empty(len(blocks))
        for k, sl in enumerate(blocks):
            zkz_lam = ztz[sl, :] * lam[None, :]  # Z_k' Z Lambda
            zk_h1 = zt1[sl] - zkz_lam @ w1  # Z_k' H^-1 1
            zk_py = zty[sl] - zkz_lam @ wy - zk_h1 * beta  # Z_k' P_H y
            tr = np.trace(ztz[sl, sl]) - np.sum(zkz_lam * cho_solve(cf, zkz_lam.T).T)  # tr(Z_k' H^-1 Z_k)
            dof = n - 1 if reml else n
            grad[k] = -dof * (zk_py @ zk_py) / rss + tr - (zk_h1 @ zk_h1 / s11 if reml else 0.0)
        value = ((n - 1) * math.log(rss) + logdet + math.log(s11)) if reml else n * math.log(rss) + logdet
        return value, grad, (rss, s11, beta)

    return f


def _satterthwaite(n, zs, var_comps, sigma2, reml: bool) -> float:
    """Satterthwaite's df for the intercept's GLS estimate (as lmerTest does).

    Var(mu) = (1' V^-1 1)^-1 as a function of the variance parameters theta (the fitted
    components and the residual): df = 2 Var^2 / (g' A g), g = dVar/dtheta, A = the inverse of
    the expected (REML or ML) information 1/2 tr(P V_k P V_l), V_k = Z_k Z_k' (I for the residual).
    """
    v = sigma2 * np.eye(n)
    for zk, s2 in zip(zs, var_comps):
        v += s2 * (zk @ zk.T)
    vinv = np.linalg.inv(v)
    v1 = vinv.sum(axis=1)
    var_mu = 1.0 / v1.sum()
    p = vinv - np.outer(v1, v1) * var_mu if reml else vinv
    mats = [*zs, None]  # None: the residual's identity
    pz = [p if m is None else p @ m for m in mats]
    info = np.empty((len(mats), len(mats)))
    for k, mk in enumerate(mats):
        for j in range(k, len(mats)):
            prod = pz[j] if mk is None else mk.T @ pz[j]  # Z_k' P Z_j
            info[k, j] = info[j, k] = 0.5 * float(np.sum(prod * prod))
    g = np.array([var_mu ** 2 * float(np.sum((v1 if m is None else m.T @ v1) ** 2)) for m in mats])
    try:
        denom = float(g @ np.linalg.solve(info, g))
    except np.linalg.LinAlgError:
        return math.nan
    return 2.0 * var_mu ** 2 / denom if denom > 0 else math.nan


def crossed_mixed_model(a, b=None, *, seeds=None, units=None, method: str = "reml",
                        level: float = 0.95) -> MixedModel:
    """Seed and unit (e.g. subject) as crossed random effects: the mean difference with its honest SE.

    The model, for value y (e.g. a per-subject KD gain) of seed s and unit u::

        y_su = mu + a_s + b_u + e_su,   a_s ~ N(0, sigma_seed^2), b_u ~ N(0, sigma_unit^2),
                                         e_su ~ N(0, sigma_e^2), all independent

    so a seed that happens to favour distillation shifts every unit's value, and mu's SE
    contains sigma_seed^2 / n_seeds: in a balanced design
    Var(mu_hat) = sigma_seed^2/n_seeds + sigma_unit^2/n_units + sigma_e^2/(n_seeds n_units).
    Treating seeds as fixed replicates drops the first term.

    Fitted here (numpy/scipy, no statsmodels) by maximising the profiled restricted
    likelihood over the variance ratios (L-BFGS-B, bounded at 0), as statsmodels' MixedLM and
    lme4 do. **REML by default**: ML estimates the variance components as if mu were known,
    which shrinks them by about (n_levels - 1)/n_levels; with 3 seeds that makes
    sigma_seed^2 about a third too small and the SE too optimistic. In a balanced design the
    REML estimates equal the ANOVA (method of moments) estimates whenever those are >= 0.

    A component is not fitted (and reported as 0, with a note) when it has a single level
    (confounded with mu: with one seed the model is the paired t over units) or when each of
    its levels holds one value (confounded with the residual).

    Parameters
    ----------
    a, b : array_like
        The values, or two scores whose difference a - b is taken: shape (n_seeds, n_units)
        with nan for a missing cell (``seeds``, ``units`` None), or shape (n_obs,) with the
        labels in ``seeds`` and ``units`` (several values per cell allowed).
    seeds, units : array_like, shape (n_obs,), optional
    method : {"reml", "ml"}
    level : float
        Coverage of ``ci_z`` and ``ci_t``.

    Returns
    -------
    MixedModel
        The z-test is what MixedLM prints; with few seeds it is anti-conservative, and the
        Satterthwaite t (``df``, ``p_t``, ``ci_t``) is the one to read: with one seed, or with
        seed means that are all equal (sigma_seed^2 = 0), it is the paired t over units.
    """
    check_choice("method", method, ("reml", "ml"))
    level = _level(level)
    reml = method == "reml"
    y, s_codes, u_codes, s_levels, u_levels = _by_seed_and_unit(a, b, seeds, units, need_units=True)
    n = int(y.size)
    if n < 3:
        raise EmokdError(f"crossed_mixed_model: {n} value(s): at least 3 needed")
    notes, zs, names = [], [], []
    for name, codes in (("seed", s_codes), ("unit", u_codes)):
        present, counts = np.unique(codes, return_counts=True)
        if present.size < 2:
            notes.append(f"one {name}: its variance is not estimable (confounded with the mean), set to 0")
        elif np.all(counts == 1):
            notes.append(f"every {name} holds one value: its variance is not separable from the residual, set to 0")
        else:
            _, recoded = np.unique(codes, return_inverse=True)
            zs.append(_one_hot(recoded, present.size))
            names.append(name)
    if np.ptp(y) == 0:
        raise EmokdError(f"crossed_mixed_model: every value equals {y[0]:g}: no variance to model")
    y0 = y - y.mean()  # the criterion is invariant to a shift of y (the intercept absorbs it)
    gamma, converged = np.zeros(0), True
    if zs:
        z = np.hstack(zs)
        stops = np.cumsum([m.shape[1] for m in zs])
        blocks = [slice(int(e - m.shape[1]), int(e)) for m, e in zip(zs, stops)]
        crit = _profiled_criterion(y0, z, blocks, reml)
        best = None
        for start in (0.1, 1.0, 10.0):  # a few starts: the criterion need not be convex in gamma
            res = minimize(lambda g: crit(g)[:2], np.full(len(zs), start), jac=True, method="L-BFGS-B",
                           bounds=[(0.0, None)] * len(zs), options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000})
            if best is None or res.fun < best.fun:
                best = res
        gamma, converged = np.maximum(best.x, 0.0), bool(best.success)
        _, _, (rss, s11, beta) = crit(gamma)
    else:
        rss, s11, beta = float(y0 @ y0), float(n), 0.0
    sigma2 = rss / (n - 1 if reml else n)
    comps = {"seed": 0.0, "unit": 0.0, "residual": float(sigma2)}
    for name, g in zip(names, gamma):
        comps[name] = float(g * sigma2)
    estimate = float(y.mean() + beta)
    se = math.sqrt(sigma2 / s11)
    z_stat = estimate / se if se > 0 else math.nan
    p_z = float(2 * sp_stats.norm.sf(abs(z_stat)))
    half = float(sp_stats.norm.ppf(0.5 + level / 2)) * se
    # a component estimated at the boundary is held at 0 in the df computation
    active = [(m, comps[name]) for m, name in zip(zs, names) if comps[name] > 1e-10 * sigma2]
    df = _satterthwaite(n, [m for m, _ in active], [c for _, c in active], sigma2, reml)
    p_t = float(2 * sp_stats.t.sf(abs(z_stat), df)) if df > 0 else math.nan
    if not converged:
        notes.append("the optimiser did not report convergence")
    return MixedModel(method=method, n_obs=n, n_seeds=int(np.unique(s_codes).size),
                      n_units=int(np.unique(u_codes).size), estimate=estimate, se=se, z=float(z_stat), p_z=p_z,
                      ci_z=[estimate - half, estimate + half], df=float(df), p_t=p_t,
                      ci_t=t_interval(estimate, se, 1, level=level, df=df), level=level,
                      variance_components=comps, fitted=names, converged=converged, note="; ".join(notes))
